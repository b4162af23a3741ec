"""A real keyport server for the whole test session, and helpers to run the seed examples against it.

The server is the `keyport` binary (`KEYPORT_BIN`, else `$CARGO_TARGET_DIR/debug/keyport`, else the
workspace's `target/debug/keyport`; build it with `cargo build -p keyport-cli`), started with
`serve --listen 127.0.0.1:0 --data-dir <tmp> --config <tmp>/keyport.toml` on a temporary SQLite database.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest
import requests

import device_pages

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE / "examples"
WORKSPACE = HERE.parents[2]

ADMIN_PASSWORD = "admin-password-for-python-tests"
ALICE = ("alice", "alice-password-1")
BOB = ("bob", "bob-password-1")
BOT_ID = "pipeline-bot"
CONSENT_ID = "notebook-app"
BOT_SECRET = "S2zo0zW6QMy8ffcqCozYbHkj0JajcWtQ"

CONFIG = f"""
[[realms]]
name = "aiod"
access_token_lifetime = "12s"   # 2 s before the SDK's 10 s margin calls it expired: refresh is exercised
device_code_lifetime = "10m"
device_poll_interval = "1s"

[[realms.clients]]
client_id = "aiod-sdk"
public = true
grants = ["device_code", "refresh_token", "authorization_code"]
redirect_uris = ["http://127.0.0.1/callback"]   # the browser login's loopback redirect, any port (RFC 8252)

[[realms.clients]]
client_id = "{CONSENT_ID}"   # a third-party client: the browser login shows a consent page (Allow / Deny)
public = true
consent = true
grants = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1/callback"]

[[realms.clients]]
client_id = "{BOT_ID}"
secret = "{BOT_SECRET}"
grants = ["client_credentials"]
roles = ["bot"]

[[realms.clients]]
client_id = "password-cli"
public = true
grants = ["password", "refresh_token"]
allow_public_password_grant = true
scopes = ["admin"]

[[realms.users]]
username = "{ALICE[0]}"
password = "{ALICE[1]}"
email = "alice@example.org"
roles = ["user", "admin"]

[[realms.users]]
username = "{BOB[0]}"
password = "{BOB[1]}"
email = "bob@example.org"
roles = ["user"]

[[realms]]
name = "short"
device_code_lifetime = "2s"
device_poll_interval = "1s"

[[realms.clients]]
client_id = "aiod-sdk"
public = true
grants = ["device_code", "refresh_token"]
"""


def keyport_binary() -> Path:
    candidates = []
    if os.environ.get("KEYPORT_BIN"):
        candidates.append(Path(os.environ["KEYPORT_BIN"]))
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "debug" / "keyport")
    candidates.append(WORKSPACE / "target" / "debug" / "keyport")
    for c in candidates:
        if c.is_file():
            return c
    pytest.exit(
        f"no keyport binary at {', '.join(map(str, candidates))}: run `cargo build -p keyport-cli` or set KEYPORT_BIN",
        returncode=2,
    )


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    log: List[str]

    def realm_url(self, realm: str = "aiod") -> str:
        return f"{self.url}/realms/{realm}"

    def userinfo_url(self, realm: str = "aiod") -> str:
        return f"{self.realm_url(realm)}/protocol/openid-connect/userinfo"

    def password_login(self, user: tuple[str, str] = ALICE, realm: str = "aiod") -> Dict[str, str]:
        r = requests.post(
            f"{self.realm_url(realm)}/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "password-cli",
                "username": user[0],
                "password": user[1],
                "scope": "openid profile email admin",
            },
            timeout=30,
        )
        r.raise_for_status()
        body: Dict[str, str] = r.json()
        return body


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="keyport-pytest-") as tmp:
        config = Path(tmp) / "keyport.toml"
        config.write_text(CONFIG)
        env = dict(os.environ, KEYPORT_ADMIN_PASSWORD=ADMIN_PASSWORD)
        process = subprocess.Popen(
            [str(keyport_binary()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(Path(tmp) / "data"),
             "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        assert process.stdout is not None
        log: List[str] = []
        url = None
        for line in process.stdout:
            log.append(line)
            m = re.search(r"keyport listening on (http://\S+)", line)
            if m:
                url = m.group(1)
                break
        if url is None:
            process.wait(timeout=10)
            pytest.exit("keyport did not start:\n" + "".join(log), returncode=2)
        threading.Thread(target=lambda: log.extend(process.stdout or []), daemon=True).start()
        try:
            yield Server(url=url, process=process, log=log)
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    """A fresh KEYPORT_HOME (and HOME), so token files are the test's own."""
    d = tmp_path / "home"
    d.mkdir()
    return d


def example_env(server: Server, home: Path, realm: str = "aiod", client_id: str = "aiod-sdk", **extra: str) -> Dict[str, str]:
    """The environment of an example run: the server address and client in KEYPORT_* variables (as a user's
    `.env` would set them), and a home of its own."""
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("KEYPORT_"):
            del env[k]
    env.update(
        KEYPORT_SERVER_URL=server.url,
        KEYPORT_REALM=realm,
        KEYPORT_CLIENT_ID=client_id,
        KEYPORT_HOME=str(home / ".keyport"),
        KEYPORT_CACHE_DIR=str(home / "cache"),
        HOME=str(home),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class Run:
    process: subprocess.Popen[str]
    lines: List[str]

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """Reads output lines until one matches `pattern` (the process keeps running)."""
        import time

        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.search(pattern, line)
            if m:
                return m
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.lines)}")

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Reads the rest of the output (through the same buffered stream `wait_for` read from) and waits."""
        rest: List[str] = []
        assert self.process.stdout is not None
        reader = threading.Thread(target=lambda: rest.append(self.process.stdout.read()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            self.process.kill()
            reader.join(10)
        self.lines.extend(rest)
        return self.process.wait(10), "".join(self.lines)


def start_example(name: str, env: Dict[str, str], cwd: Optional[Path] = None, *args: str) -> Run:
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / name), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=str(cwd or EXAMPLES),
    )
    return Run(process, [])


def approve_from_output(run: Run, user: tuple[str, str] = ALICE, decision: str = "approve") -> str:
    """Waits for the login instructions in the example's output and approves (or denies) the code in the
    verification pages. Returns the user code."""
    m = run.wait_for(r"1\. Navigate to (\S+\?user_code=(\S+))")
    device_pages.walk(m.group(1), user_code=m.group(2), username=user[0], password=user[1], decision=decision)
    return m.group(2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
