"""`keyport.requests_auth()` and `keyport.httpx_auth()`: the bearer token on requests, refreshed once on 401."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest
import requests

import keyport
from conftest import Server


@pytest.fixture()
def token(server: Server) -> Iterator[keyport.Token]:
    keyport.config.reload()
    keyport.config.server_url = server.url
    keyport.config.realm = "aiod"
    keyport.config.client_id = "password-cli"
    yield keyport.Token(refresh_token=server.password_login()["refresh_token"])
    keyport.config.reload()


def test_requests_and_httpx_send_the_token(server: Server, token: keyport.Token) -> None:
    r = requests.get(server.userinfo_url(), auth=keyport.requests_auth(token), timeout=30)
    assert r.status_code == 200 and r.json()["preferred_username"] == "alice"
    r2 = httpx.get(server.userinfo_url(), auth=keyport.httpx_auth(token), timeout=30)
    assert r2.status_code == 200
    keyport.set_token(token)
    assert requests.get(server.userinfo_url(), auth=keyport.requests_auth(), timeout=30).status_code == 200


def test_a_401_refreshes_once_and_resends(server: Server, token: keyport.Token) -> None:
    token.headers  # fetch an access token
    old = token.headers["authorization"]
    # Revoke the access token on the server (RFC 7009), so the next request with it is refused with 401.
    requests.post(
        f"{server.realm_url()}/protocol/openid-connect/revoke",
        data={"token": old.split()[1], "client_id": "password-cli"}, timeout=30,
    ).raise_for_status()
    assert requests.get(server.userinfo_url(), headers={"authorization": old}, timeout=30).status_code == 401
    r = requests.get(server.userinfo_url(), auth=keyport.requests_auth(token), timeout=30)
    assert r.status_code == 200 and len(r.history) == 1 and r.history[0].status_code == 401
    assert token.headers["authorization"] != old
