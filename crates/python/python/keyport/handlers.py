"""Seed 003 (Bitfount): authentication handlers.

Every handler has ``authenticate()``, ``authenticated``, ``username``, the per-service headers
``hub_request_headers`` and ``am_request_headers``, and ``message_service_request_metadata`` (lowercase
``(name, value)`` pairs for gRPC metadata). Reading headers authenticates first when needed.

* :class:`APIKeysHandler`: an API key id and key, valid from creation.
* :class:`DeviceCodeFlowHandler`: a person logs in once with the device flow; the token is kept in
  ``<token_dir>/<username>.toml`` (default ``~/.keyport/handlers``, mode 0600) and refreshed when it expires.
* :class:`ExternallyManagedJWTHandler`: another program owns the JWT; a hook hands out a new one.
"""

from __future__ import annotations

import datetime
import os
import time
from abc import ABC, abstractmethod
from typing import Callable, Dict, List, Optional, Tuple, Union

from . import _keyport as _native

#: The username meaning "whoever logs in".
DEFAULT_USERNAME = "_default"


class AuthenticationHandler(ABC):
    """Abstract authentication handler."""

    @abstractmethod
    def authenticate(self) -> None:
        """Retrieves valid authentication material, interacting with a person or another program if needed."""

    @property
    @abstractmethod
    def authenticated(self) -> bool:
        """Whether the handler currently has valid authentication."""

    @property
    @abstractmethod
    def username(self) -> str:
        """The authenticated user's username."""

    @property
    @abstractmethod
    def hub_request_headers(self) -> Dict[str, str]:
        """HTTP request headers for authenticating with the hub (the main API)."""

    @property
    @abstractmethod
    def am_request_headers(self) -> Dict[str, str]:
        """HTTP request headers for authenticating with the access manager."""

    @property
    def message_service_request_metadata(self) -> List[Tuple[str, str]]:
        """Metadata used to authenticate with the message service (gRPC)."""
        return [(k.lower(), v) for k, v in self.hub_request_headers.items()]


class APIKeysHandler(AuthenticationHandler):
    """Authenticate a user with API keys: hub requests carry ``X-API-Key-ID`` and ``X-API-Key``,
    access-manager requests ``Authorization: APIKey <id>:<key>``. Keys are valid from creation, so
    :meth:`authenticate` does nothing and ``authenticated`` is always true."""

    def __init__(self, api_key_id: str, api_key: str, username: str) -> None:
        self._native = _native.ApiKeysHandler(api_key_id, api_key, username)

    def authenticate(self) -> None:
        """API keys are valid from creation: nothing to do."""
        self._native.authenticate()

    @property
    def authenticated(self) -> bool:
        """Always true: API keys cannot be checked locally."""
        return self._native.authenticated

    @property
    def username(self) -> str:
        """The username given (not checked locally)."""
        return self._native.username

    @property
    def hub_request_headers(self) -> Dict[str, str]:
        """``X-API-Key-ID`` and ``X-API-Key``."""
        return self._native.hub_request_headers

    @property
    def am_request_headers(self) -> Dict[str, str]:
        """``Authorization: APIKey <id>:<key>``."""
        return self._native.am_request_headers

    @property
    def message_service_request_metadata(self) -> List[Tuple[str, str]]:
        """The hub headers as lowercase ``(name, value)`` pairs."""
        return self._native.message_service_request_metadata

    def __repr__(self) -> str:
        return repr(self._native)


class DeviceCodeFlowHandler(AuthenticationHandler):
    """Manages token retrieval and refresh with the device flow.

    Args:
        auth_domain: The issuer (``https://host/realms/<realm>``, or a bare domain meaning ``https://<domain>``);
            default from :data:`keyport.config`.
        client_id: Default ``keyport.config.client_id``.
        scopes: Default ``profile openid offline_access``.
        audience: The ``audience`` login parameter (Auth0); default none.
        username: Whose token this is; a stored token or a login of someone else raises
            :class:`keyport.UsernameMismatchError` (an ``AssertionError``). ``"_default"``: whoever logs in.
        token_dir: Where the token files are (default ``~/.keyport/handlers``).
        timeout_seconds: How long a login waits for the approval.
    """

    def __init__(
        self,
        auth_domain: Optional[str] = None,
        client_id: Optional[str] = None,
        scopes: Optional[str] = None,
        audience: Optional[str] = None,
        username: str = DEFAULT_USERNAME,
        *,
        token_dir: Union[str, "os.PathLike[str]", None] = None,
        timeout_seconds: int = 300,
    ) -> None:
        self._native = _native.DeviceCodeFlowHandler(
            auth_domain,
            client_id,
            scopes,
            audience,
            username,
            token_dir=None if token_dir is None else os.fspath(token_dir),
            timeout_seconds=timeout_seconds,
        )

    def authenticate(self) -> None:
        """Uses the stored token (refreshing it when expired); logs in with the device flow (printing the
        instructions and blocking) when there is none or the server refuses it.

        Raises:
            UsernameMismatchError: The stored token or the login belongs to another user.
            ServerUnreachableError: The server cannot be reached (a ``ConnectionError``).
        """
        self._native.authenticate()

    @property
    def authenticated(self) -> bool:
        """Whether the access token is valid (judged locally)."""
        return self._native.authenticated

    @property
    def username(self) -> str:
        """Username of the authenticated user (the one asked for until someone logged in)."""
        return self._native.username

    @property
    def token_file(self) -> str:
        """``<token_dir>/<username>.toml``."""
        return os.fspath(self._native.token_file)

    @property
    def hub_request_headers(self) -> Dict[str, str]:
        """``Authorization: Bearer …`` (authenticating first when needed)."""
        return self._native.hub_request_headers

    @property
    def am_request_headers(self) -> Dict[str, str]:
        """``Authorization: Bearer …`` (authenticating first when needed)."""
        return self._native.am_request_headers

    @property
    def message_service_request_metadata(self) -> List[Tuple[str, str]]:
        """``[("authorization", "Bearer …")]``."""
        return self._native.message_service_request_metadata

    def __repr__(self) -> str:
        return repr(self._native)


class ExternallyManagedJWTHandler(AuthenticationHandler):
    """Authenticates with a JWT that another program manages: ``get_token()`` returns a new ``(jwt,
    expires)`` whenever the current one has expired (or will within
    ``keyport.DEFAULT_EXPIRY_MARGIN_SECONDS``). Exceptions of the hook propagate unchanged."""

    def __init__(
        self,
        jwt: str,
        expires: datetime.datetime,
        get_token: Callable[[], Tuple[str, datetime.datetime]],
        username: str,
    ) -> None:
        self._jwt = jwt
        self._expires = expires
        self._get_token = get_token
        self._username = username

    def authenticate(self) -> None:
        """Retrieves a token from the token source (calls the hook)."""
        self._jwt, self._expires = self._get_token()

    @property
    def expires(self) -> datetime.datetime:
        """When the current JWT expires."""
        return self._expires

    @property
    def authenticated(self) -> bool:
        """Whether the token is still valid (with the SDK's safety margin)."""
        expires = self._expires
        if expires.tzinfo is None:  # a naive datetime is local time, as datetime.now() gives it
            expires = expires.astimezone()
        return time.time() + _native.DEFAULT_EXPIRY_MARGIN_SECONDS < expires.timestamp()

    @property
    def username(self) -> str:
        """Username of the authenticated user."""
        return self._username

    def _headers(self) -> Dict[str, str]:
        if not self.authenticated:
            self.authenticate()
        return {"authorization": f"Bearer {self._jwt}"}

    @property
    def hub_request_headers(self) -> Dict[str, str]:
        """``Authorization: Bearer <jwt>`` (renewed through the hook when expired)."""
        return self._headers()

    @property
    def am_request_headers(self) -> Dict[str, str]:
        """``Authorization: Bearer <jwt>`` (renewed through the hook when expired)."""
        return self._headers()

    def __repr__(self) -> str:
        return f"ExternallyManagedJWTHandler(username={self._username!r}, expires={self._expires!r})"


__all__ = [
    "APIKeysHandler",
    "AuthenticationHandler",
    "DEFAULT_USERNAME",
    "DeviceCodeFlowHandler",
    "ExternallyManagedJWTHandler",
]
