"""Seed 004 (Wallaroo): auth types, ``create()``, token fetchers and ``logout()``.

Auth objects returned by :func:`create` are put on each request: pass one as ``auth=`` to ``requests`` or
``httpx``. :class:`NoAuth` does not modify requests; :class:`PlatformAuth` places ``Authorization: Bearer …``
on each request, with a token from a :class:`TokenFetcher`, and on a 401 answer renews it once and resends
(``requests``; with ``httpx`` the header is attached).

===================  ======================================================================  ======
auth type            fetcher                                                                 cached
===================  ======================================================================  ======
``none``             none
``sso``              :class:`KeycloakTokenFetcher`: device login in a browser                yes
``user_password``    :class:`PasswordTokenFetcher`: ``KEYPORT_USERNAME``/``KEYPORT_PASSWORD``  yes
                     or the JSON file named by ``KEYPORT_CREDENTIALS_FILE``
``test_auth``        the same, never cached                                                  no
``token``            :class:`TokenFileFetcher`: ``KEYPORT_TOKEN_FILE`` (``token``,            no
                     ``user_email``, ``user_id``)
``orch``             :class:`OfflineTokenFetcher`: ``KEYPORT_OFFLINE_TOKEN``                 no
===================  ======================================================================  ======

Cached tokens live in JSON files (mode 0600) in ``$KEYPORT_CACHE_DIR`` (default: the user cache directory +
``/keyport``); :func:`logout` deletes them.
"""

from __future__ import annotations

import enum
import os
from typing import Any, Dict, NamedTuple, Optional, Union

from . import _keyport as _native
from ._errors import AuthError, TokenFetchError, TokenRefreshError

PathLike = Union[str, "os.PathLike[str]"]


class AuthType(enum.Enum):
    """Defines all the supported auth types. Handles conversions from string names to enum values
    (case-insensitively; ``-`` and ``_`` alike)."""

    NONE = "none"
    SSO = "sso"
    USER_PASSWORD = "user_password"
    TEST_AUTH = "test_auth"
    TOKEN = "token"
    ORCH = "orch"

    @classmethod
    def _missing_(cls, value: object) -> Optional["AuthType"]:
        if isinstance(value, str):
            wanted = value.strip().lower().replace("-", "_")
            for member in cls:
                if member.value == wanted:
                    return member
        return None


class TokenData(NamedTuple):
    """TokenData(token, user_email, user_id). ``repr`` hides the token."""

    token: str
    user_email: str
    user_id: str

    def to_dict(self) -> Dict[str, str]:
        """The fields as a dict (including the token itself: handle with care)."""
        return {"token": self.token, "user_email": self.user_email, "user_id": self.user_id}

    def __repr__(self) -> str:
        return f"TokenData(token='<redacted>', user_email={self.user_email!r}, user_id={self.user_id!r})"


class TokenFetcher:
    """Knows how to obtain a token from one source."""

    def __init__(self, native: Any) -> None:
        self._native = native

    def fetch(self) -> TokenData:
        """Obtains a token, interacting with a person if needed.

        Raises:
            TokenFetchError: The server refused to issue a token.
            TokenRefreshError: A stored refresh token was refused.
        """
        return TokenData(*self._native.fetch())

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class KeycloakTokenFetcher(TokenFetcher):
    """Fetches a token with a device-code login (prints the instructions and blocks until approved)."""

    def __init__(self, keycloak_addr: Optional[str] = None, *, timeout_seconds: int = 300) -> None:
        super().__init__(_native.TokenFetcher.device(keycloak_addr, timeout_seconds))


class PasswordTokenFetcher(TokenFetcher):
    """Fetches a token with the password grant (the client must allow it)."""

    def __init__(self, username: str, password: str, keycloak_addr: Optional[str] = None) -> None:
        super().__init__(_native.TokenFetcher.password(username, password, keycloak_addr))


class TokenFileFetcher(TokenFetcher):
    """Reads a JSON file with ``token``, ``user_email`` and ``user_id`` at every fetch."""

    def __init__(self, path: PathLike) -> None:
        super().__init__(_native.TokenFetcher.token_file(os.fspath(path)))


class OfflineTokenFetcher(TokenFetcher):
    """Fetches access tokens with an offline refresh token."""

    def __init__(self, refresh_token: str, keycloak_addr: Optional[str] = None) -> None:
        super().__init__(_native.TokenFetcher.offline(refresh_token, keycloak_addr))


class CachedTokenFetcher(TokenFetcher):
    """Wraps another TokenFetcher and caches its value to a JSON file (mode 0600) to reduce the number of user
    logins needed; an expired cached token is refreshed, a refused one fetched anew."""

    def __init__(self, fetcher: TokenFetcher, path: PathLike) -> None:
        super().__init__(_native.TokenFetcher.cached(fetcher._native, os.fspath(path)))


class _WallarooAuth:
    """An auth object: callable on a ``requests`` or ``httpx`` request."""

    def __init__(self, native: Any) -> None:
        self._native = native

    @property
    def headers(self) -> Dict[str, str]:
        """The headers to put on a request (fetching or refreshing the token first when needed)."""
        headers: Dict[str, str] = self._native.headers()
        return headers

    def __call__(self, request: Any) -> Any:
        generation = self._native.generation
        request.headers.update(self.headers)
        if hasattr(request, "register_hook"):  # requests: renew once on 401
            def retry(response: Any, **kwargs: Any) -> Any:
                if response.status_code != 401 or getattr(response.request, "_keyport_retried", False):
                    return response
                if not self._native.renew(generation):
                    return response
                response.content
                response.close()
                again = response.request.copy()
                again.headers.update(self.headers)
                setattr(again, "_keyport_retried", True)
                new = response.connection.send(again, **kwargs)
                new.history.append(response)
                new.request = again
                return new

            request.register_hook("response", retry)
        return request

    def token(self) -> Optional[TokenData]:
        """The current token data (``None`` for :class:`NoAuth`)."""
        t = self._native.token()
        return None if t is None else TokenData(*t)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NoAuth(_WallarooAuth):
    """Does not modify requests."""


class PlatformAuth(_WallarooAuth):
    """Places ``Authorization: Bearer …`` headers on each outgoing request."""


def create(
    keycloak_addr: Optional[str],
    auth_type: Union[AuthType, str, None],
    *,
    cache_dir: Optional[PathLike] = None,
    timeout_seconds: int = 300,
) -> _WallarooAuth:
    """Returns an auth object of the corresponding type.

    Args:
        keycloak_addr: Address of the server to authenticate against (``https://host`` or ``https://host/auth``;
            the realm and client id come from :data:`keyport.config`); ``None``: ``keyport.config.server_url``.
        auth_type: Type of authentication to use (``None`` means ``none``).
        cache_dir: Where cached tokens are kept (default ``$KEYPORT_CACHE_DIR`` or the user cache directory).
        timeout_seconds: How long an ``sso`` login waits for the approval.

    Returns:
        Auth object that can be passed to all ``requests`` calls (``auth=``).

    Raises:
        NotImplementedError: If auth_type is not recognized.
        ConfigurationError: If the credentials the type needs are not in the environment.
    """
    if auth_type is None:
        kind = AuthType.NONE
    else:
        try:
            kind = auth_type if isinstance(auth_type, AuthType) else AuthType(auth_type)
        except ValueError:
            raise NotImplementedError(
                f"unknown auth type {auth_type!r}: use one of {', '.join(t.value for t in AuthType)}"
            ) from None
    native = _native.Auth.create(
        keycloak_addr, kind.value, None if cache_dir is None else os.fspath(cache_dir), timeout_seconds
    )
    return NoAuth(native) if kind is AuthType.NONE else PlatformAuth(native)


def from_fetcher(fetcher: TokenFetcher) -> PlatformAuth:
    """An auth object getting its tokens from ``fetcher``."""
    return PlatformAuth(_native.Auth.from_fetcher(fetcher._native))


def logout(*, cache_dir: Optional[PathLike] = None) -> None:
    """Removes cached values for all third-party auth providers. This will not invalidate auth objects already
    created with :func:`create`."""
    _native.logout(None if cache_dir is None else os.fspath(cache_dir))


__all__ = [
    "AuthError",
    "AuthType",
    "CachedTokenFetcher",
    "KeycloakTokenFetcher",
    "NoAuth",
    "OfflineTokenFetcher",
    "PasswordTokenFetcher",
    "PlatformAuth",
    "TokenData",
    "TokenFetchError",
    "TokenFetcher",
    "TokenFileFetcher",
    "TokenRefreshError",
    "create",
    "from_fetcher",
    "logout",
]
