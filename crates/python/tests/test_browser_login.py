"""`create_token(method="browser")`: the browser login (authorization code + PKCE through a loopback redirect)
against the real server. The "browser" is `device_pages.browser_sign_in` driving the server's real sign-in and
consent pages with `requests`, started from the `open_browser` hook (or from the printed URL)."""

from __future__ import annotations

import _thread
import io
import re
import signal
import socket
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, List, Optional
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import device_pages
import keyport
from conftest import ALICE, BOB, CONSENT_ID, Server, example_env, start_example

INSTRUCTIONS = re.compile(
    r"Open this URL in your browser to sign in:\n\n"
    r"  (?P<url>http://\S+/realms/aiod/protocol/openid-connect/auth\?\S+)\n\n"
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


class Browser:
    """The `open_browser` hook of the tests: records the URL and signs in (or denies) in a thread, as a browser
    the person then uses would; `pages` gets the loopback's final page."""

    def __init__(self, user: tuple[str, str] = ALICE, decision: Optional[str] = "allow") -> None:
        self.user, self.decision = user, decision
        self.urls: List[str] = []
        self.pages: List[requests.Response] = []
        self.failures: List[BaseException] = []
        self.threads: List[threading.Thread] = []

    def __call__(self, url: str) -> None:
        self.urls.append(url)
        if self.decision is None:
            return  # nobody comes back: the login times out

        def sign_in() -> None:
            try:
                self.pages.append(device_pages.browser_sign_in(
                    url, username=self.user[0], password=self.user[1], decision=self.decision or "allow"))
            except BaseException as e:  # reported by the test
                self.failures.append(e)

        t = threading.Thread(target=sign_in)
        t.start()
        self.threads.append(t)

    def join(self) -> None:
        for t in self.threads:
            t.join(30)
        assert not self.failures, self.failures


def browser_login(browser: Browser, **kwargs: object) -> tuple[Optional[keyport.Token], Optional[BaseException], str]:
    """`keyport.create_token(method="browser", open_browser=browser, **kwargs)` with stdout captured."""
    out = io.StringIO()
    saved, sys.stdout = sys.stdout, out
    token, error = None, None
    try:
        token = keyport.create_token(method="browser", open_browser=browser, **kwargs)  # type: ignore[arg-type]
    except BaseException as e:
        error = e
    finally:
        sys.stdout = saved
    browser.join()
    return token, error, out.getvalue()


def port_is_closed(url: str) -> bool:
    port = urlsplit(url).port
    assert port
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_browser_login_signs_in_saves_a_0600_file_and_refreshes(server: Server, configured: None, tmp_path: Path) -> None:
    browser = Browser()
    token, error, out = browser_login(browser, timeout_seconds=60, write_to_file=True)
    assert error is None and token is not None, repr(error)

    # What was printed and what the browser was given: one authorization URL with PKCE S256, state, nonce and a
    # loopback redirect URI on a random port.
    m = INSTRUCTIONS.search(out)
    assert m and m.group("seconds") == "60", out
    assert browser.urls == [m.group("url")]
    q = {k: v[0] for k, v in parse_qs(urlsplit(browser.urls[0]).query).items()}
    assert q["response_type"] == "code" and q["client_id"] == "aiod-sdk"
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert len(q["state"]) >= 22 and len(q["nonce"]) >= 22
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", q["redirect_uri"]), q["redirect_uri"]
    page = browser.pages[0]
    assert page.status_code == 200 and "You are signed in; you can close this window." in page.text, page.text
    assert port_is_closed(q["redirect_uri"]), "the loopback listener is closed once the login is over"

    # The token is the process-wide one, works, and went to the configured token file with mode 0600.
    assert token.username == "alice" and keyport.get_token().username == "alice"
    assert keyport.get_current_user().name == "alice"
    path = Path(keyport.config.token_file)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and "refresh_token" in path.read_text()
    first = token.headers["authorization"]
    token.refresh()
    assert token.headers["authorization"] != first
    again = keyport.Token.from_file(path)  # the rotated refresh token went back to the file
    assert requests.get(server.userinfo_url(), headers=again.headers, timeout=30).status_code == 200
    for text in (repr(token), repr(keyport.get_token())):
        assert q["state"] not in text and "refresh_token = " not in text

    # use_in_requests=False and a path for write_to_file: the process-wide token stays the previous one.
    bob = Browser(user=BOB)
    other, error, _ = browser_login(bob, timeout_seconds=60, write_to_file=tmp_path / "bob.toml", use_in_requests=False)
    assert error is None and other is not None and other.username == "bob", repr(error)
    assert keyport.get_token().username == "alice"
    assert stat.S_IMODE((tmp_path / "bob.toml").stat().st_mode) == 0o600
    assert keyport.Token.from_file(tmp_path / "bob.toml").username == "bob"


def test_deny_on_the_consent_page_raises_access_denied(server: Server, configured: None) -> None:
    keyport.config.client_id = CONSENT_ID  # a third-party client: the consent page asks Allow / Deny
    browser = Browser(user=BOB, decision="deny")
    token, error, _ = browser_login(browser, timeout_seconds=60)
    assert token is None
    assert isinstance(error, keyport.AccessDeniedError) and isinstance(error, keyport.AuthenticationError), repr(error)
    assert error.error == "access_denied" and error.status == 400
    assert "start the login again and choose Approve (or Allow)" in str(error)
    page = browser.pages[0]
    assert "Sign-in failed" in page.text and 'role="alert"' in page.text, page.text
    with pytest.raises(keyport.NotAuthenticatedError):
        keyport.get_token()

    # The same client with Allow signs in.
    token, error, _ = browser_login(Browser(user=BOB), timeout_seconds=60)
    assert error is None and token is not None and token.username == "bob", repr(error)


def test_an_error_the_server_sends_back_is_an_authorization_error(server: Server, configured: None) -> None:
    keyport.config.scope = "openid no-such-scope"
    browser = Browser()
    token, error, _ = browser_login(browser, timeout_seconds=60)
    assert token is None
    assert isinstance(error, keyport.AuthorizationError) and isinstance(error, keyport.AuthenticationError), repr(error)
    assert error.error == "invalid_scope" and error.error_description, repr(error)
    assert "its redirect URIs (a loopback `http://127.0.0.1/callback` must be registered)" in str(error)
    assert parse_qs(urlsplit(browser.pages[0].url).query)["error"] == ["invalid_scope"]


def test_no_answer_times_out_and_bad_arguments_are_refused(server: Server, configured: None) -> None:
    browser = Browser(decision=None)  # the URL is never opened
    started = time.monotonic()
    token, error, out = browser_login(browser, timeout_seconds=1)
    assert token is None and time.monotonic() - started < 15
    assert isinstance(error, keyport.LoginTimeoutError) and isinstance(error, TimeoutError), repr(error)
    assert "within 1 seconds: start the login again" in str(error)
    assert "abort after 1 seconds" in out
    redirect_uri = parse_qs(urlsplit(browser.urls[0]).query)["redirect_uri"][0]
    assert port_is_closed(redirect_uri)

    with pytest.raises(keyport.ConfigurationError) as zero:
        keyport.create_token(timeout_seconds=0, method="browser", open_browser=False)
    assert isinstance(zero.value, ValueError) and "positive" in str(zero.value)
    with pytest.raises(ValueError, match='method must be "device" or "browser"'):
        keyport.create_token(method="carrier-pigeon")  # type: ignore[arg-type]


def test_a_pending_login_is_waited_for_once(server: Server, configured: None) -> None:
    for pending in (keyport.start_browser_login(timeout_seconds=1), keyport.start_login(timeout_seconds=1)):
        with pytest.raises(keyport.LoginTimeoutError):
            pending.wait(use_in_requests=False)
        with pytest.raises(ValueError, match="this login was already waited for"):
            pending.wait(use_in_requests=False)
    browser_pending = keyport.start_browser_login(timeout_seconds=1)
    with pytest.raises(keyport.LoginTimeoutError):
        browser_pending.wait(use_in_requests=False)
    with pytest.raises(ValueError, match="this login was already waited for"):
        browser_pending.open_in_browser()


def test_the_printed_url_signs_in_from_another_process(server: Server, home: Path) -> None:
    run = start_example("browser_login.py", example_env(server, home))
    m = run.wait_for(r"^  (http://\S+/protocol/openid-connect/auth\?\S+)$")
    page = device_pages.browser_sign_in(m.group(1), username=ALICE[0], password=ALICE[1])
    assert "You are signed in" in page.text, page.text
    code, out = run.finish()
    assert code == 0, out
    assert "User(name='alice'" in out, out
    token_file = home / ".keyport" / "tokens" / "default.toml"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_ctrl_c_interrupts_a_waiting_browser_login(server: Server, home: Path) -> None:
    run = start_example("interrupt.py", example_env(server, home), None, "browser")
    m = run.wait_for(r"^  (http://\S+/protocol/openid-connect/auth\?\S+)$")
    run.wait_for(r"abort after 120 seconds")
    time.sleep(0.5)
    run.process.send_signal(signal.SIGINT)
    code, out = run.finish(timeout=20)
    assert code != 0 and "KeyboardInterrupt" in out, out
    t = re.search(r"interrupted after ([\d.]+)s", out)
    assert t and float(t.group(1)) < 10, out


def test_an_interrupted_browser_login_closes_its_loopback_port(server: Server, configured: None) -> None:
    """The notebook case: the kernel is interrupted (SIGINT), the process goes on; the login must not keep
    listening."""
    urls: List[str] = []

    def interrupt_soon(url: str) -> None:
        urls.append(url)
        threading.Timer(0.5, _thread.interrupt_main).start()

    with pytest.raises(KeyboardInterrupt):
        keyport.create_token(timeout_seconds=120, method="browser", open_browser=interrupt_soon)
    redirect_uri = parse_qs(urlsplit(urls[0]).query)["redirect_uri"][0]
    deadline = time.monotonic() + 5
    while not port_is_closed(redirect_uri) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert port_is_closed(redirect_uri)
    with pytest.raises(keyport.NotAuthenticatedError):
        keyport.get_token()
