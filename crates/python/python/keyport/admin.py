"""Seed 002 (integrate.ai): manage machine users and their scoped API tokens.

    from keyport.admin import connect_to_auth_client, Scope
    import os
    IAI_TOKEN = os.environ.get("IAI_TOKEN")
    auth_client = connect_to_auth_client(token=IAI_TOKEN)
    user = auth_client.create_user("demo-user")
    token = auth_client.create_token(user_id="demo-user", scopes=[Scope.create_session, Scope.read_user_session])
    auth_client.token_info(token["token"])
    auth_client.revoke_token(token["token_id"])
    auth_client.delete_user("demo-user")

The token is an administrator's personal (unscoped) API token, ``kp_…``, or an access token with the realm's
``admin`` role. The server and realm come from :data:`keyport.config` unless given. Every refusal raises a
:class:`keyport.ServerError` whose ``status``, ``error`` and ``error_description`` are the server's (403
``access_denied`` for a caller who is not an administrator, 400 ``invalid_scope`` for a scope outside the
realm's catalogue, 404 ``not_found``, ...).
"""

from __future__ import annotations

import enum
import json
import logging
import os
import sys
import time
from typing import Any, Dict, Iterable, List, Optional, Union
from urllib.parse import urlencode

from . import _keyport as _native
from ._errors import NotAuthenticatedError

logger = logging.getLogger("keyport.admin")


class Scope(str, enum.Enum):
    """The scope catalogue of seed 002 (keyport's default); the value is the scope's name on the wire.
    A realm may declare other scopes: pass those as strings."""

    create_session = "create_session"
    """Allows a user to create a training session."""
    start_session = "start_session"
    """Allows a user to start a training session that they have created."""
    custom_model = "custom_model"
    """Allows a user to upload and use a custom model."""
    model_download = "model_download"
    """Allows a user to download a trained model."""
    cancel_user_session = "cancel_user_session"
    """Allows a user to cancel a session that they have created."""
    delete_user_session = "delete_user_session"
    """Allows a user to delete a session that they have created."""
    read_user_session = "read_user_session"
    """Allows a user to read a session that they have created."""
    read_all_session = "read_all_session"
    """Allows a user to read a session created by any user."""
    cli = "cli"
    """Allows a user to list versions and install the SDK and docker images through the CLI."""
    revoke_user_token = "revoke_user_token"
    """Allows a user to revoke a token they have created."""

    def __str__(self) -> str:
        return self.value


def _info(message: str) -> None:
    """Logs at INFO on ``keyport.admin``; when the program has configured no logging at all, prints the line in
    the seed's format instead (``01/27/2023 11:20:24:INFO:...``), as integrate.ai's SDK shows it."""
    if logger.hasHandlers():
        logger.info(message)
    else:
        stamp = time.strftime("%m/%d/%Y %H:%M:%S")
        print(f"{stamp}:INFO:{message}", file=sys.stderr, flush=True)


class AuthClient:
    """A connection to the admin API of one realm (``repr`` never shows the token)."""

    def __init__(self, token: str, *, server_url: Optional[str] = None, realm: Optional[str] = None) -> None:
        self._native = _native.AuthClient(token, server_url=server_url, realm=realm)
        self._caller: Optional[str] = None

    @property
    def realm(self) -> str:
        """The realm administered."""
        return self._native.realm

    def _caller_name(self) -> str:
        if self._caller is None:
            try:
                claims = json.loads(self._native.whoami())
                self._caller = str(claims.get("email") or claims.get("preferred_username") or claims.get("sub"))
            except Exception:  # who made the user is only for the log line
                self._caller = "<unknown>"
        return self._caller

    def create_user(self, user_name: str) -> Dict[str, Any]:
        """Creates a machine user (generated id and email, activated) and logs
        ``Machine user <name>(<email>) created by <you>.`` and ``User activated.``"""
        user: Dict[str, Any] = json.loads(self._native.create_user(user_name))
        _info(f"Machine user {user.get('username')}({user.get('email')}) created by {self._caller_name()}.")
        if user.get("enabled", True):
            _info("User activated.")
        return user

    def delete_user(self, user_name: str) -> None:
        """Deletes a user (by name or id); every token and session of the user is revoked."""
        self._native.delete_user(user_name)

    def list_users(self, first: int = 0, max: int = 100) -> List[Dict[str, Any]]:
        """One page of the realm's users."""
        users: List[Dict[str, Any]] = json.loads(self._native.list_users(first, max))
        return users

    def create_token(
        self,
        user_id: str,
        scopes: Iterable[Union[Scope, str]],
        lifespan_days: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Creates a scoped token for a user (id or name). Returns ``token`` (shown only this once),
        ``token_id``, ``user_id``, ``username``, ``email``, ``scopes``, ``unscoped``, ``created_at`` and
        ``expires_at``. ``lifespan_days`` defaults to 30 and may not exceed the realm's maximum."""
        names = [s.value if isinstance(s, Scope) else str(s) for s in scopes]
        created: Dict[str, Any] = json.loads(self._native.create_token(user_id, names, lifespan_days))
        return created

    def create_personal_token(self, name: str, lifespan_days: Optional[int] = None) -> Dict[str, Any]:
        """Creates a personal (unscoped) token of the caller, carrying the caller's full rights."""
        created: Dict[str, Any] = json.loads(self._native.create_personal_token(name, lifespan_days))
        return created

    def token_info(self, token: str) -> Dict[str, Any]:
        """What the server knows of a token: ``active``, ``token_id``, ``user_id``, ``email``, ``scope``, ...
        (``{'active': False}`` for an unknown, expired or revoked token)."""
        info: Dict[str, Any] = json.loads(self._native.token_info(token))
        return info

    def revoke_token(self, token_id: str) -> None:
        """Revokes a token by its id."""
        self._native.revoke_token(token_id)

    def list_tokens(self, first: int = 0, max: int = 100) -> List[Dict[str, Any]]:
        """One page of the realm's tokens (an administrator sees all); never the secrets."""
        tokens: List[Dict[str, Any]] = json.loads(self._native.list_tokens(first, max))
        return tokens

    def scopes(self) -> List[Dict[str, Any]]:
        """The realm's scope catalogue with descriptions."""
        scopes: List[Dict[str, Any]] = json.loads(self._native.scopes())
        return scopes

    def audit(
        self,
        *,
        user_id: Optional[str] = None,
        token_id: Optional[str] = None,
        action: Optional[str] = None,
        since: Optional[int] = None,
        until: Optional[int] = None,
    ) -> List[Dict[str, Any]]:
        """Audit entries, newest first, filtered by user id, token id, action (``token.create``, ...) and
        time (``since``/``until``: Unix seconds, inclusive)."""
        query = {
            k: v
            for k, v in dict(user_id=user_id, token_id=token_id, action=action, since=since, until=until).items()
            if v is not None
        }
        entries: List[Dict[str, Any]] = json.loads(self._native.audit(urlencode(query)))
        return entries

    def __repr__(self) -> str:
        return f"AuthClient(realm={self.realm!r})"


def connect_to_auth_client(
    token: Optional[str] = None,
    *,
    server_url: Optional[str] = None,
    realm: Optional[str] = None,
) -> AuthClient:
    """Creates a connection to the auth client with an administrator's unscoped token.

    Args:
        token: The token; default the ``KEYPORT_TOKEN`` environment variable.
        server_url: The keyport server; default ``keyport.config.server_url``.
        realm: The realm; default ``keyport.config.realm``.

    Raises:
        NotAuthenticatedError: When no token is given and ``KEYPORT_TOKEN`` is not set.
    """
    token = token or os.environ.get("KEYPORT_TOKEN")
    if not token:
        raise NotAuthenticatedError(
            "no admin token: pass token=... (an administrator's personal API token, kp_...) or set KEYPORT_TOKEN"
        )
    return AuthClient(token, server_url=server_url, realm=realm)


__all__ = ["AuthClient", "Scope", "connect_to_auth_client"]
