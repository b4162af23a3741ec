"""Seed 004 (Wallaroo): auth types, create(), the fetchers and logout() against the real server."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import requests

import keyport
from keyport import auth as wallaroo_auth
from keyport.auth import AuthType
from conftest import ALICE, Server, approve_from_output, example_env, start_example


@pytest.fixture()
def password_client(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    keyport.config.reload()
    keyport.config.realm = "aiod"
    keyport.config.client_id = "password-cli"
    monkeypatch.setenv("KEYPORT_USERNAME", ALICE[0])
    monkeypatch.setenv("KEYPORT_PASSWORD", ALICE[1])
    yield tmp_path / "cache"
    keyport.config.reload()


def test_auth_types_parse_like_wallaroo() -> None:
    assert [t.value for t in AuthType] == ["none", "sso", "user_password", "test_auth", "token", "orch"]
    assert AuthType("SSO") is AuthType.SSO and AuthType("user-password") is AuthType.USER_PASSWORD
    with pytest.raises(NotImplementedError, match="use one of none, sso"):
        wallaroo_auth.create("http://127.0.0.1:9", "kerberos")
    none = wallaroo_auth.create("http://127.0.0.1:9", None)
    assert isinstance(none, wallaroo_auth.NoAuth) and none.headers == {} and none.token() is None


def test_seed004_sso_logs_in_once_and_caches(server: Server, home: Path) -> None:
    env = example_env(server, home)
    run = start_example("seed004_sso.py", env, None, server.url, server.userinfo_url())
    approve_from_output(run)
    code, out = run.finish()
    assert code == 0 and "status 200" in out, out
    cached = list((home / "cache").glob("auth-sso-*.json"))
    assert len(cached) == 1 and stat.S_IMODE(cached[0].stat().st_mode) == 0o600
    code, out = start_example("seed004_sso.py", env, None, server.url, server.userinfo_url()).finish()
    assert code == 0 and "status 200" in out and "Navigate to" not in out, out
    # logout() forgets the cache: the next create() would log in again.
    import subprocess, sys

    subprocess.run([sys.executable, "-c", "import keyport; keyport.auth.logout()"], env=env, check=True, timeout=60)
    assert not list((home / "cache").glob("auth-*.json"))


def test_user_password_with_requests_and_httpx(server: Server, password_client: Path) -> None:
    auth = wallaroo_auth.create(server.url, "user_password", cache_dir=password_client)
    assert isinstance(auth, wallaroo_auth.PlatformAuth)
    assert requests.get(server.userinfo_url(), auth=auth, timeout=30).json()["preferred_username"] == "alice"
    assert httpx.get(server.userinfo_url(), auth=auth, timeout=30).status_code == 200
    data = auth.token()
    assert data is not None and data.user_email == "alice@example.org" and data.user_id
    assert data.token not in repr(data) and data.to_dict()["token"] == data.token
    assert list(password_client.glob("auth-user_password-*.json"))
    wallaroo_auth.logout(cache_dir=password_client)
    assert not list(password_client.glob("auth-*.json"))


def test_wrong_password_is_a_token_fetch_error(server: Server, password_client: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYPORT_PASSWORD", "wrong")
    auth = wallaroo_auth.create(server.url, AuthType.TEST_AUTH)
    with pytest.raises(wallaroo_auth.TokenFetchError) as e:
        auth.headers
    assert isinstance(e.value, wallaroo_auth.AuthError) and e.value.error == "invalid_grant" and e.value.code == 400
    monkeypatch.delenv("KEYPORT_USERNAME")
    monkeypatch.delenv("KEYPORT_PASSWORD")
    with pytest.raises(keyport.ConfigurationError, match="KEYPORT_USERNAME"):
        wallaroo_auth.create(server.url, "user_password")


def test_orch_and_token_file_fetchers(server: Server, password_client: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    login = server.password_login()
    monkeypatch.setenv("KEYPORT_OFFLINE_TOKEN", login["refresh_token"])
    orch = wallaroo_auth.create(server.url, "orch")
    assert requests.get(server.userinfo_url(), auth=orch, timeout=30).status_code == 200

    monkeypatch.setenv("KEYPORT_OFFLINE_TOKEN", "not-a-refresh-token")
    with pytest.raises(wallaroo_auth.TokenRefreshError) as refused:
        wallaroo_auth.create(server.url, "orch").headers
    assert refused.value.error == "invalid_grant"

    token_json = tmp_path / "token.json"
    token_json.write_text(json.dumps({"token": login["access_token"], "user_email": "alice@example.org", "user_id": "u1"}))
    monkeypatch.setenv("KEYPORT_TOKEN_FILE", str(token_json))
    by_file = wallaroo_auth.create(server.url, "token")
    assert requests.get(server.userinfo_url(), auth=by_file, timeout=30).status_code == 200

    fetched = wallaroo_auth.TokenFileFetcher(token_json).fetch()
    assert fetched.user_id == "u1"
    cached = wallaroo_auth.CachedTokenFetcher(wallaroo_auth.PasswordTokenFetcher(*ALICE, server.url), tmp_path / "c.json")
    assert cached.fetch().user_email == "alice@example.org" and (tmp_path / "c.json").exists()
    # (the first login's refresh token was rotated by the `orch` auth above: a new one)
    fresh = server.password_login()["refresh_token"]
    via = wallaroo_auth.from_fetcher(wallaroo_auth.OfflineTokenFetcher(fresh, server.url))
    assert requests.get(server.userinfo_url(), auth=via, timeout=30).status_code == 200
    token_json.write_text("{")
    with pytest.raises(keyport.BadFileError):
        wallaroo_auth.TokenFileFetcher(token_json).fetch()
