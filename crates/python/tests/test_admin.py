"""Seed 002 (integrate.ai): the admin walk-through as written (imports changed), and its error paths."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Iterator

import pytest

import keyport
from keyport.admin import Scope, connect_to_auth_client
from conftest import BOB, Server, example_env, start_example


@pytest.fixture(scope="module")
def iai_token(server: Server) -> str:
    """An administrator's personal (unscoped) API token: alice (role admin) signs in and makes one."""
    keyport.config.reload()
    access = server.password_login()["access_token"]
    created = connect_to_auth_client(token=access, server_url=server.url, realm="aiod").create_personal_token("laptop")
    assert created["unscoped"] is True and created["token"].startswith("kp_")
    token: str = created["token"]
    return token


@pytest.fixture()
def admin(server: Server, iai_token: str) -> Iterator[keyport.admin.AuthClient]:
    keyport.config.reload()
    keyport.config.server_url = server.url
    keyport.config.realm = "aiod"
    yield connect_to_auth_client(token=iai_token)
    keyport.config.reload()


def test_seed002_walkthrough_as_written(server: Server, home: Path, iai_token: str) -> None:
    run = start_example("seed002_admin.py", example_env(server, home, IAI_TOKEN=iai_token))
    code, out = run.finish()
    assert code == 0, out
    assert re.search(
        r"^\d\d/\d\d/\d{4} \d\d:\d\d:\d\d:INFO:Machine user demo-user\(\S+@\S+\) created by alice@example\.org\.$",
        out, re.M,
    ), out
    assert re.search(r"^\d\d/\d\d/\d{4} \d\d:\d\d:\d\d:INFO:User activated\.$", out, re.M), out
    lines = out.splitlines()
    created = ast.literal_eval(next(l for l in lines if l.startswith("{'token'")))
    assert created["token"].startswith("kp_") and created["username"] == "demo-user"
    assert created["scopes"] == ["create_session", "read_user_session"] and created["unscoped"] is False
    assert {"token_id", "user_id", "email", "expires_at"} <= created.keys()
    info = ast.literal_eval(next(l for l in lines if l.startswith("{") and "'active': True" in l))
    assert info["user_id"] == "demo-user" and info["token_id"] == created["token_id"]
    assert info["scope"] == "create_session read_user_session" and info["user_type"] == "generated"
    assert "after revoke: {'active': False}" in out, out
    assert lines[-1] == "deleted"
    assert iai_token not in out


def test_lists_audit_scopes_and_lifespan(admin: keyport.admin.AuthClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="keyport.admin")
    user = admin.create_user("list-user")
    assert any("Machine user list-user(" in r.getMessage() for r in caplog.records)
    token = admin.create_token(user_id="list-user", scopes=[Scope.cli, "model_download"], lifespan_days=7)
    assert token["expires_at"] - token["created_at"] == 7 * 86400
    assert "list-user" in [u["username"] for u in admin.list_users(max=1000)]
    listed = [t for t in admin.list_tokens(max=1000) if t["token_id"] == token["token_id"]]
    assert listed and "token" not in listed[0]
    assert {s["name"] for s in admin.scopes()} >= {s.value for s in Scope}
    created = admin.audit(action="token.create")
    assert any(e["target"] == token["token_id"] for e in created), created
    assert any(e["target"] == user["id"] for e in admin.audit(action="user.create"))
    admin.delete_user("list-user")
    assert admin.token_info(token["token"]) == {"active": False}


def test_admin_refusals_carry_the_servers_error(server: Server, admin: keyport.admin.AuthClient) -> None:
    with pytest.raises(keyport.ServerError) as bad_scope:
        admin.create_token(user_id="alice", scopes=["no_such_scope"])
    assert bad_scope.value.status == 400 and bad_scope.value.error == "invalid_scope"
    assert bad_scope.value.error_description

    with pytest.raises(keyport.ServerError) as missing:
        admin.delete_user("nobody-here")
    assert missing.value.status == 404

    bob = connect_to_auth_client(token=server.password_login(BOB)["access_token"])
    with pytest.raises(keyport.ServerError) as forbidden:
        bob.create_user("bobs-user")
    assert forbidden.value.status == 403 and forbidden.value.error == "access_denied"
    assert isinstance(forbidden.value, keyport.AuthError)

    with pytest.raises(keyport.ServerError) as unauthorized:
        connect_to_auth_client(token="kp_not_a_real_token").list_users()
    assert unauthorized.value.status == 401

    assert "kp_" not in repr(admin)


def test_connect_without_a_token_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEYPORT_TOKEN", raising=False)
    with pytest.raises(keyport.NotAuthenticatedError) as e:
        connect_to_auth_client()
    assert "KEYPORT_TOKEN" in str(e.value)
