"""keyport: sign in to a keyport server (or any OpenID Connect server) from Python.

The package offers the API shapes of four platform SDKs over keyport's Rust SDK, so their users can switch by
changing an import:

* AI-on-Demand (``import keyport as aiod``): :func:`create_token` (device or browser login), :func:`get_token`,
  :func:`set_token`, :func:`get_current_user`, :func:`invalidate_token`, :class:`Token`, :data:`config`;
* integrate.ai: :mod:`keyport.admin` (``connect_to_auth_client``, ``Scope``);
* Bitfount: :mod:`keyport.handlers` (``APIKeysHandler``, ``DeviceCodeFlowHandler``,
  ``ExternallyManagedJWTHandler``);
* Wallaroo: :mod:`keyport.auth` (``AuthType``, ``create``, the token fetchers, ``logout``).

:func:`requests_auth` and :func:`httpx_auth` put a token on ``requests`` and ``httpx`` requests, refreshing it.

Blocking calls release the GIL and can be interrupted with Ctrl-C (or a notebook's stop button). Every
exception is an :class:`AuthenticationError` carrying the server's ``error`` and ``error_description``. Never
put keys into scripts: the server and client come from ``KEYPORT_*`` variables, a ``.env`` file or the profile
``keyport login`` saved, and secrets from token files (written with mode 0600).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Literal, Optional, Tuple, Union

from . import _keyport as _native
from ._errors import (
    AccessDeniedError,
    AuthenticationError,
    AuthError,
    AuthorizationError,
    BadFileError,
    ConfigurationError,
    DeviceCodeExpiredError,
    ExternalTokenError,
    FileError,
    LoginTimeoutError,
    LoopbackError,
    NotAuthenticatedError,
    ServerError,
    ServerUnreachableError,
    TokenFetchError,
    TokenRefreshError,
    UsernameMismatchError,
)
from ._http import requests_auth, httpx_auth, BearerAuth
from ._keyport import Config, PendingBrowserLogin, PendingLogin, Token
from ._print import show as _show

#: The process-wide configuration (server URL, realm, client id, token file, ...); attributes can be set.
config: Config = _native.config

#: The access token counts as expired this many seconds before its expiry.
DEFAULT_EXPIRY_MARGIN_SECONDS: int = _native.DEFAULT_EXPIRY_MARGIN_SECONDS


@dataclass(frozen=True)
class User:
    """The user a token belongs to: ``User(name='...', roles=('...', ...))``."""

    name: str
    roles: Tuple[str, ...]
    #: The subject identifier.
    sub: Optional[str] = field(default=None, repr=False, compare=False)
    #: The email address.
    email: Optional[str] = field(default=None, repr=False, compare=False)


def start_login(timeout_seconds: int = 300) -> PendingLogin:
    """Starts a device login without printing anything: show ``login.instructions`` (or
    ``login.verification_uri_complete`` as a QR code, ...) your own way, then call ``login.wait()``.

    Raises:
        ConfigurationError: If ``timeout_seconds`` is not positive or no server is configured.
        AuthenticationError: If the server cannot be reached or refuses.
    """
    return _native.start_device_login(timeout_seconds)


def start_browser_login(timeout_seconds: int = 300) -> PendingBrowserLogin:
    """Starts a browser login without printing or opening anything: listens on ``127.0.0.1`` for the browser's
    answer and builds ``login.authorize_url``; show or open it your own way, then call ``login.wait()``.

    Raises:
        ConfigurationError: If ``timeout_seconds`` is not positive or no server is configured.
        ServerError: If the server offers no browser login (no authorization endpoint).
        AuthenticationError: If the server cannot be reached or refuses.
    """
    return _native.start_web_login(timeout_seconds)


def create_token(
    timeout_seconds: int = 300,
    *,
    method: Literal["device", "browser"] = "device",
    write_to_file: Union[bool, str, "os.PathLike[str]"] = False,
    use_in_requests: bool = True,
    open_browser: Union[bool, Callable[[str], object]] = True,
) -> Token:
    """Get an API key by prompting the user to log in through a browser.

    ``method="device"`` (the default, the device authorization grant): prints the two ways to authenticate (a
    link with the code filled in, or the page and the code to enter) and blocks, polling the server, until the
    login is approved or ``timeout_seconds`` have passed. The browser may be on another machine.

    ``method="browser"`` (authorization code + PKCE with a loopback redirect, as ``keyport login --web``): prints
    the sign-in URL, opens it in this machine's browser, and blocks until the browser comes back to
    ``http://127.0.0.1:{port}/callback`` or ``timeout_seconds`` have passed. The client must have the
    ``authorization_code`` grant and the redirect URI ``http://127.0.0.1/callback`` registered.

    Both are interruptible with Ctrl-C (or a notebook's stop button).

    Args:
        timeout_seconds: The maximum time to wait for the login; must be a positive integer.
        method: ``"device"`` or ``"browser"``.
        write_to_file: ``True`` saves the token (its refresh token) to ``keyport.config.token_file``
            (``~/.keyport/tokens/<profile>.toml``, mode 0600) for later Python sessions; a path saves it there.
        use_in_requests: Make the new token the one used for future authenticated requests.
        open_browser: Browser login only. ``True`` opens the URL in the default browser when one can be shown
            (otherwise the printed URL is the way in); ``False`` only prints it; a callable is called with the
            URL instead (e.g. ``webbrowser.get("firefox").open``, or to show it in a GUI). It is called before
            the wait starts, so it must return without waiting for the sign-in to finish.

    Returns:
        The new token.

    Raises:
        AuthenticationError: If authentication is unsuccessful in any way: ``AccessDeniedError`` (denied),
            ``DeviceCodeExpiredError``, ``LoginTimeoutError``, ``AuthorizationError`` (the browser came back
            with another error), ``ServerUnreachableError``, ...
        ValueError: If ``method`` is neither ``"device"`` nor ``"browser"``.
    """
    if method not in ("device", "browser"):
        raise ValueError(f'method must be "device" or "browser", not {method!r}')
    if write_to_file is True:
        path: Optional[str] = os.fspath(config.token_file)
    elif write_to_file is False:
        path = None
    else:
        path = os.fspath(write_to_file)
    if method == "device":
        login = start_login(timeout_seconds)
        _show(login.instructions)
        return login.wait(write_to_file=path, use_in_requests=use_in_requests)
    web = start_browser_login(timeout_seconds)
    _show(web.instructions)
    if callable(open_browser):
        open_browser(web.authorize_url)
    elif open_browser:
        web.open_in_browser()
    return web.wait(write_to_file=path, use_in_requests=use_in_requests)


def get_token() -> Token:
    """Get the currently configured token that is used for authenticated requests.

    That is the token created or set in this process, else the one in ``keyport.config.token_file`` (so a
    ``create_token(write_to_file=True)`` or ``keyport login`` of an earlier session carries over).

    Raises:
        NotAuthenticatedError: When there is none.
        BadFileError: When the token file is not a valid token file.
    """
    return _native.get_token()


def set_token(token: Union[Token, str]) -> None:
    """Set the token directly or provide a refresh token.

    This does not validate the token: if it is invalid, later authenticated requests fail.
    """
    _native.set_token(token)


def get_current_user() -> User:
    """Return name and roles of the user that is currently authenticated (asked of the server).

    Raises:
        NotAuthenticatedError: When the user is not authenticated.
        TokenRefreshError: When the server no longer accepts the token (log in again).
    """
    name, roles, sub, email = _native.current_user()
    return User(name=name, roles=tuple(roles), sub=sub, email=email)


def invalidate_token(token: Union[str, Token, None] = None, ignore_errors: bool = False) -> None:
    """Invalidates the current (or provided) API key: ends its session on the server, invalidating all keys
    issued by that login, and deletes its token file.

    Args:
        token: The token to invalidate; a ``str`` is a refresh token. ``None`` means the current token.
        ignore_errors: If true, do not raise an error if the logout attempt failed.
    """
    _native.invalidate_token(token, ignore_errors)


from . import admin, auth, authentication, handlers  # noqa: E402  (they use the names above)

__all__ = [
    "AccessDeniedError",
    "AuthError",
    "AuthenticationError",
    "AuthorizationError",
    "BadFileError",
    "BearerAuth",
    "Config",
    "ConfigurationError",
    "DEFAULT_EXPIRY_MARGIN_SECONDS",
    "DeviceCodeExpiredError",
    "ExternalTokenError",
    "FileError",
    "LoginTimeoutError",
    "LoopbackError",
    "NotAuthenticatedError",
    "PendingBrowserLogin",
    "PendingLogin",
    "ServerError",
    "ServerUnreachableError",
    "Token",
    "TokenFetchError",
    "TokenRefreshError",
    "User",
    "UsernameMismatchError",
    "admin",
    "auth",
    "authentication",
    "handlers",
    "config",
    "create_token",
    "get_current_user",
    "get_token",
    "httpx_auth",
    "invalidate_token",
    "requests_auth",
    "set_token",
    "start_browser_login",
    "start_login",
]
