"""Seed 003 (Bitfount): the three authentication handlers against the real server."""

from __future__ import annotations

import datetime
import stat
from pathlib import Path
from typing import List, Tuple

import pytest
import requests

import keyport
from keyport.handlers import APIKeysHandler, DeviceCodeFlowHandler, ExternallyManagedJWTHandler
from conftest import BOB, Server, approve_from_output, example_env, free_port, start_example


def test_seed003_device_flow_handler_logs_in_once_and_reuses_the_token_file(server: Server, home: Path) -> None:
    env = example_env(server, home)
    run = start_example("seed003_handler.py", env, None, server.userinfo_url())
    approve_from_output(run)
    code, out = run.finish()
    assert code == 0, out
    assert "status 200" in out and "authenticated True alice" in out and "metadata ['authorization']" in out, out
    token_file = home / ".keyport" / "handlers" / "alice.toml"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    # A new process: the stored token is used, no login (no instructions printed).
    code, out = start_example("seed003_handler.py", env, None, server.userinfo_url()).finish()
    assert code == 0 and "status 200" in out and "Navigate to" not in out, out


def test_a_stored_token_of_another_user_is_refused(server: Server, home: Path, tmp_path: Path) -> None:
    # bob logs in for the handler of "_default" (whoever logs in) into a directory, then a handler for alice
    # finds a file named alice.toml holding bob's token.
    env = example_env(server, home)
    code_ = (
        "import sys; from keyport.handlers import DeviceCodeFlowHandler; "
        "h = DeviceCodeFlowHandler(username='alice', token_dir=sys.argv[1]); h.authenticate()"
    )
    import subprocess, sys

    run_bob = subprocess.Popen(
        [sys.executable, "-c", code_, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    from conftest import Run

    run = Run(run_bob, [])
    approve_from_output(run, user=BOB)
    code, out = run.finish()
    assert code == 1 and "keyport._errors.UsernameMismatchError" in out, out
    assert "log in as \"alice\"" in out, out

    keyport.config.reload()
    keyport.config.server_url = server.url
    keyport.config.realm = "aiod"
    keyport.config.client_id = "aiod-sdk"
    (tmp_path / "alice.toml").write_text('refresh_token = "x"\nusername = "bob"\n')
    handler = DeviceCodeFlowHandler(username="alice", token_dir=tmp_path)
    with pytest.raises(keyport.UsernameMismatchError) as e:
        handler.authenticate()
    assert isinstance(e.value, AssertionError)
    keyport.config.reload()


def test_device_flow_handler_server_down_is_a_connection_error(tmp_path: Path) -> None:
    handler = DeviceCodeFlowHandler(f"http://127.0.0.1:{free_port()}/realms/aiod", "aiod-sdk", token_dir=tmp_path)
    assert not handler.authenticated
    with pytest.raises(ConnectionError) as e:
        handler.authenticate()
    assert isinstance(e.value, keyport.ServerUnreachableError)


def test_api_keys_handler_headers_per_service() -> None:
    handler = APIKeysHandler("kid-1", "key-very-secret", "alice")
    handler.authenticate()
    assert handler.authenticated and handler.username == "alice"
    assert handler.hub_request_headers == {"x-api-key-id": "kid-1", "x-api-key": "key-very-secret"}
    assert handler.am_request_headers == {"authorization": "APIKey kid-1:key-very-secret"}
    assert ("x-api-key-id", "kid-1") in handler.message_service_request_metadata
    assert "very-secret" not in repr(handler)


def test_externally_managed_jwt_calls_the_hook_when_expired(server: Server) -> None:
    calls: List[int] = []
    now = datetime.datetime.now(datetime.timezone.utc)

    def get_token() -> Tuple[str, datetime.datetime]:
        calls.append(1)
        return server.password_login()["access_token"], now + datetime.timedelta(minutes=5)

    handler = ExternallyManagedJWTHandler("expired-jwt", now - datetime.timedelta(seconds=1), get_token, "alice")
    assert not handler.authenticated
    headers = handler.hub_request_headers
    assert calls == [1] and handler.authenticated
    assert requests.get(server.userinfo_url(), headers=headers, timeout=30).status_code == 200
    assert handler.am_request_headers == headers and calls == [1]
    assert handler.message_service_request_metadata == [("authorization", headers["authorization"])]

    def broken() -> Tuple[str, datetime.datetime]:
        raise RuntimeError("the token service is down")

    failing = ExternallyManagedJWTHandler("x", now - datetime.timedelta(seconds=1), broken, "alice")
    with pytest.raises(RuntimeError, match="the token service is down"):
        failing.hub_request_headers
