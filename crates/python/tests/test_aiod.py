"""Seeds 000 and 001 (AI-on-Demand): the documented examples run as written with `import keyport as aiod`,
against the real server, and every error path raises the documented exception with a message saying what to
do."""

from __future__ import annotations

import io
import os
import re
import signal
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest
import requests

import device_pages
import keyport
from conftest import ALICE, BOT_ID, BOT_SECRET, Server, approve_from_output, example_env, free_port, start_example

INSTRUCTIONS = re.compile(
    r"Please authenticate using one of two methods:\n\n"
    r"  1\. Navigate to (?P<base>http://\S+/realms/aiod/device)\?user_code=(?P<code>[A-Z]{4}-[A-Z]{4})\n"
    r"  2\. Navigate to (?P=base) and enter code (?P=code)\n\n"
    r"This workflow will automatically abort after (?P<seconds>\d+) seconds\.\n"
)


@pytest.fixture()
def configured(server: Server, tmp_path: Path) -> Iterator[None]:
    """The in-process package pointed at the test server's `aiod` realm, with a token file of its own."""
    keyport.config.reload()
    keyport.config.server_url = server.url
    keyport.config.realm = "aiod"
    keyport.config.client_id = "aiod-sdk"
    keyport.config.token_file = tmp_path / "token.toml"
    yield
    keyport.config.reload()


class Approver(io.StringIO):
    """A stdout that approves (or denies) the device login whose instructions are printed to it, in a thread,
    like a person reading the instructions."""

    def __init__(self, decision: str = "approve", user: tuple[str, str] = ALICE) -> None:
        super().__init__()
        self.decision, self.user = decision, user
        self.threads: List[threading.Thread] = []
        self.failures: List[BaseException] = []

    def write(self, s: str) -> int:
        m = re.search(r"1\. Navigate to (\S+\?user_code=(\S+))", s)
        if m and self.decision != "never":
            def approve() -> None:
                try:
                    device_pages.walk(m.group(1), user_code=m.group(2), username=self.user[0],
                                      password=self.user[1], decision=self.decision)
                except BaseException as e:  # reported by the test
                    self.failures.append(e)
            t = threading.Thread(target=approve)
            t.start()
            self.threads.append(t)
        return super().write(s)


def login_in_process(monkeypatch: pytest.MonkeyPatch, decision: str = "approve", **kwargs: object) -> tuple[Optional[keyport.Token], Optional[BaseException], Approver]:
    out = Approver(decision)
    saved, sys.stdout = sys.stdout, out
    token, error = None, None
    try:
        token = keyport.create_token(**kwargs)  # type: ignore[arg-type]
    except BaseException as e:
        error = e
    finally:
        sys.stdout = saved
    for t in out.threads:
        t.join(30)
    assert not out.failures, out.failures
    return token, error, out


def test_seed000_login_writes_a_0600_token_file_that_a_new_process_uses(server: Server, home: Path) -> None:
    env = example_env(server, home)
    run = start_example("seed000_login.py", env)
    approve_from_output(run)
    code, out = run.finish()
    assert code == 0, out
    m = INSTRUCTIONS.search(out)
    assert m, f"the instructions differ from the seed's:\n{out}"
    assert m.group("seconds") == "300"
    assert re.search(r"^User\(name='alice', roles=\((?=.*'admin')(?=.*'user')[^)]*\)\)$", out, re.M), out

    token_file = home / ".keyport" / "tokens" / "default.toml"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert "refresh_token" in token_file.read_text()

    # A new Python session: the token comes from the file; the seed's requests.post with token.headers works.
    run = start_example("seed000_session.py", env, None, server.userinfo_url())
    code, out = run.finish()
    assert code == 0, out
    assert "status 200" in out and "User(name='alice'" in out and "invalidated" in out, out
    assert not token_file.exists(), "invalidate_token deletes the token file"

    # A third session: nothing to authenticate with.
    run = start_example("seed000_session.py", env, None, server.userinfo_url())
    code, out = run.finish()
    assert code == 1 and "keyport._errors.NotAuthenticatedError" in out, out
    assert "run `keyport login` (or call `create_token` / `set_token`)" in out, out


def test_token_refreshes_when_expired_and_invalidate_ends_the_session(
    server: Server, configured: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token, error, out = login_in_process(monkeypatch, write_to_file=True, use_in_requests=True)
    assert error is None and token is not None, error
    assert not token.has_expired  # first: the realm's access tokens count as fresh for 2 s only
    first = token.headers["authorization"]
    assert first.startswith("Bearer ")
    assert INSTRUCTIONS.search(out.getvalue()), out.getvalue()
    assert keyport.get_token().username == "alice"
    time.sleep(2.2)  # the realm's 12 s access tokens count as expired 10 s early
    assert token.has_expired
    second = token.headers["authorization"]
    assert second != first and not token.has_expired
    assert requests.get(server.userinfo_url(), headers=token.headers, timeout=30).status_code == 200
    # The rotated refresh token went back to the file: a token read from it still works.
    again = keyport.Token.from_file(tmp_path / "token.toml")
    assert requests.get(server.userinfo_url(), headers=again.headers, timeout=30).status_code == 200

    keyport.invalidate_token()
    with pytest.raises(keyport.NotAuthenticatedError):
        keyport.get_token()
    with pytest.raises(keyport.TokenRefreshError) as refused:
        again.refresh()
    assert isinstance(refused.value, keyport.AuthenticationError)
    assert refused.value.error == "invalid_grant" and refused.value.status == 400
    assert "log in" in str(refused.value)
    keyport.invalidate_token(again, ignore_errors=True)  # nothing left to end: no error


def test_two_threads_sharing_an_expired_token_refresh_it_once(
    server: Server, configured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, error, _ = login_in_process(monkeypatch)
    assert token is not None, error
    time.sleep(2.2)
    assert token.has_expired
    results: List[str] = []
    errors: List[BaseException] = []
    start = threading.Barrier(2)

    def use() -> None:
        try:
            start.wait()
            results.append(token.headers["authorization"])
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=use) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # The client rotates refresh tokens strictly: a second refresh with the same refresh token would be a
    # replay, ending the session. Both threads got the same fresh token: one refresh served both.
    assert not errors, errors
    assert len(results) == 2 and results[0] == results[1]
    assert requests.get(server.userinfo_url(), headers=token.headers, timeout=30).status_code == 200


def test_seed001_bot_flow_from_secret_toml(server: Server, home: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.toml").write_text(f'client_secret = "{BOT_SECRET}"\n')
    run = start_example("seed001_bot.py", example_env(server, home), tmp_path)
    code, out = run.finish()
    assert code == 0, out
    assert f"User(name='service-account-{BOT_ID}'" in out, out
    assert BOT_SECRET not in out


def test_bot_token_from_a_client_secret(server: Server, configured: None) -> None:
    keyport.config.client_id = BOT_ID
    token = keyport.Token(client_secret=BOT_SECRET)
    assert BOT_SECRET not in repr(token) and "client_secret" in repr(token)
    keyport.set_token(token)
    assert keyport.get_current_user().name == f"service-account-{BOT_ID}"
    with pytest.raises(keyport.TokenFetchError) as refused:
        keyport.Token(client_secret="wrong-secret").refresh()
    assert refused.value.error == "invalid_client" and refused.value.status == 401
    assert "check the client id, the client secret" in str(refused.value)


def test_denied_login_raises_access_denied(server: Server, configured: None, monkeypatch: pytest.MonkeyPatch) -> None:
    token, error, _ = login_in_process(monkeypatch, decision="deny", timeout_seconds=60)
    assert token is None
    assert isinstance(error, keyport.AccessDeniedError) and isinstance(error, keyport.AuthenticationError)
    assert error.error == "access_denied"
    assert "start the login again and choose Approve" in str(error)


def test_expired_device_code_raises(server: Server, configured: None, monkeypatch: pytest.MonkeyPatch) -> None:
    keyport.config.realm = "short"  # device codes live 2 s there
    token, error, out = login_in_process(monkeypatch, decision="never", timeout_seconds=60)
    assert token is None
    assert isinstance(error, keyport.AuthenticationError), error
    assert isinstance(error, (keyport.DeviceCodeExpiredError, keyport.LoginTimeoutError)), repr(error)
    assert "start the login again" in str(error)
    assert "abort after 2 seconds" in out.getvalue()


def test_timeout_raises_login_timeout(server: Server, configured: None, monkeypatch: pytest.MonkeyPatch) -> None:
    started = time.monotonic()
    token, error, out = login_in_process(monkeypatch, decision="never", timeout_seconds=1)
    assert token is None and time.monotonic() - started < 15
    assert isinstance(error, keyport.LoginTimeoutError) and isinstance(error, TimeoutError), repr(error)
    assert isinstance(error, keyport.AuthenticationError)
    assert "within 1 seconds: start the login again" in str(error)
    with pytest.raises(keyport.ConfigurationError) as zero:
        keyport.create_token(timeout_seconds=0)
    assert isinstance(zero.value, ValueError) and "positive" in str(zero.value)


def test_server_down_and_wrong_server(server: Server, configured: None) -> None:
    keyport.config.server_url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(keyport.ServerUnreachableError) as down:
        keyport.create_token(timeout_seconds=5)
    assert isinstance(down.value, ConnectionError) and isinstance(down.value, keyport.AuthenticationError)
    assert "check the server URL and your network" in str(down.value)

    keyport.config.server_url = server.url
    keyport.config.realm = "no-such-realm"
    with pytest.raises(keyport.ServerError) as wrong:
        keyport.create_token(timeout_seconds=5)
    assert "check the server URL and realm" in str(wrong.value)

    keyport.config.server_url = None
    with pytest.raises(keyport.ConfigurationError) as none:
        keyport.create_token(timeout_seconds=5)
    assert "KEYPORT_SERVER_URL" in str(none.value)


def test_bad_and_missing_token_files(server: Server, configured: None, tmp_path: Path) -> None:
    bad = tmp_path / "token.toml"  # the configured token file
    bad.write_text("this is not = = toml\n")
    with pytest.raises(keyport.BadFileError) as e:
        keyport.get_token()
    assert str(bad) in str(e.value) and "fix or delete it" in str(e.value)
    bad.write_text('username = "alice"\n')
    with pytest.raises(keyport.BadFileError) as e:
        keyport.Token.from_file(bad)
    assert "neither `refresh_token` nor `client_secret`" in str(e.value)
    with pytest.raises(keyport.FileError) as missing:
        keyport.Token.from_file(tmp_path / "missing.toml")
    assert isinstance(missing.value, OSError) and "missing.toml" in str(missing.value)


def test_set_token_with_a_refresh_token_string_and_repr_hides_secrets(
    server: Server, configured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, _, _ = login_in_process(monkeypatch, use_in_requests=False)
    assert token is not None
    with pytest.raises(keyport.NotAuthenticatedError):
        keyport.get_token()  # use_in_requests=False
    path = keyport.config.token_file
    token.to_file(path)
    secret = re.search(r'refresh_token = "([^"]+)"', Path(path).read_text())
    assert secret
    keyport.set_token(secret.group(1))
    assert keyport.get_current_user().name == "alice"
    for text in (repr(keyport.get_token()), repr(token), repr(keyport.config), str(token)):
        assert secret.group(1) not in text, text
    assert "Token(grant='refresh_token', username='alice'" in repr(token)
    with pytest.raises(ValueError):
        keyport.Token()


def test_ctrl_c_interrupts_a_waiting_login(server: Server, home: Path) -> None:
    run = start_example("interrupt.py", example_env(server, home))
    run.wait_for(r"abort after 120 seconds")
    time.sleep(0.5)
    run.process.send_signal(signal.SIGINT)
    code, out = run.finish(timeout=20)
    assert code != 0 and "KeyboardInterrupt" in out, out
    m = re.search(r"interrupted after ([\d.]+)s", out)
    assert m and float(m.group(1)) < 10, out


def test_config_comes_from_the_environment_and_dotenv(server: Server, home: Path, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"KEYPORT_SERVER_URL={server.url}\nKEYPORT_REALM=aiod\nKEYPORT_CLIENT_ID=from-dotenv\n")
    env = example_env(server, home)
    for k in ("KEYPORT_SERVER_URL", "KEYPORT_REALM", "KEYPORT_CLIENT_ID"):
        del env[k]
    env["KEYPORT_SCOPE"] = "openid"
    code = "import keyport; c = keyport.config; print(c.server_url, c.realm, c.client_id, c.scope)"
    import subprocess
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [server.url, "aiod", "from-dotenv", "openid"]
