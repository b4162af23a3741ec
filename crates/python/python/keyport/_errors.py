"""The exceptions of the keyport package.

Every exception keyport raises is an :class:`AuthError` (Wallaroo's base) and so an
:class:`AuthenticationError` (AIoD's base). Each carries what the server said:

* ``status`` (alias ``code``, as in Wallaroo's ``AuthError(message, code)``): the HTTP status, when there was one;
* ``error``: the OAuth error code (``access_denied``, ``invalid_grant``, ...), when the server sent one;
* ``error_description``: the server's ``error_description``, when it sent one.

The message says what to do next. Where another library's SDK documents a builtin exception for the same
failure, the class also derives from it: :class:`ServerUnreachableError` is a ``ConnectionError`` (Bitfount),
:class:`UsernameMismatchError` an ``AssertionError`` (Bitfount), :class:`LoginTimeoutError` a ``TimeoutError``,
:class:`ConfigurationError` and :class:`BadFileError` are ``ValueError``\\ s and :class:`FileError` and
:class:`LoopbackError` are ``OSError``\\ s.
"""

from __future__ import annotations

from typing import Optional


class AuthenticationError(Exception):
    """Raised when an authentication error occurred (AIoD's name; the base of every keyport exception)."""

    def __init__(
        self,
        message: str = "",
        code: Optional[int] = None,
        *,
        error: Optional[str] = None,
        error_description: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = code
        self.error = error
        self.error_description = error_description

    @property
    def code(self) -> Optional[int]:
        """The HTTP status of the server's answer, when the error came from one (Wallaroo's ``code``)."""
        return self.status

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.status!r}, error={self.error!r}, "
            f"error_description={self.error_description!r})"
        )


class AuthError(AuthenticationError):
    """Base type for all errors of ``keyport.auth`` (Wallaroo's name): ``AuthError(message, code=None)``."""


class NotAuthenticatedError(AuthError):
    """Raised when something that requires authentication is called without authentication."""


class AccessDeniedError(AuthError):
    """The person pressed *Deny* on the verification or consent page (``error == "access_denied"``)."""


class DeviceCodeExpiredError(AuthError):
    """The device code expired on the server before anyone approved it (``error == "expired_token"``)."""


class LoginTimeoutError(AuthError, TimeoutError):
    """No sign-in was approved (device login) or came back from the browser (browser login) within
    ``timeout_seconds``."""


class TokenFetchError(AuthError):
    """Errors encountered while performing a login: the server refused to issue a token (Wallaroo's name)."""


class TokenRefreshError(AuthError):
    """Errors encountered while refreshing an access token: the server refused (Wallaroo's name)."""


class AuthorizationError(AuthError):
    """The server sent the browser back from a browser login with an error other than ``access_denied``
    (``invalid_scope``, ``unauthorized_client``, ...; in ``error`` and ``error_description``): check the client
    id, its redirect URIs (``http://127.0.0.1/callback`` must be registered) and the scopes."""


class LoopbackError(AuthError, OSError):
    """A browser login could not listen on ``127.0.0.1`` for the browser's answer: use the device login."""


class ServerError(AuthError):
    """The server answered something unexpected (wrong URL or realm, a refusal of the admin API, a browser
    login's answer naming another issuer or lacking its code, ...)."""


class ServerUnreachableError(AuthError, ConnectionError):
    """The server could not be reached: check the server URL and that the server is running."""


class ConfigurationError(AuthError, ValueError):
    """The configuration (or an argument such as ``timeout_seconds``) is missing or invalid."""


class FileError(AuthError, OSError):
    """A token or configuration file could not be read or written."""


class BadFileError(AuthError, ValueError):
    """A token, credentials or cache file has the wrong content: fix or delete it."""


class UsernameMismatchError(AuthError, AssertionError):
    """A stored token belongs to another user than the handler's (Bitfount raises ``AssertionError``)."""


class ExternalTokenError(AuthError):
    """An externally managed token source failed."""


__all__ = [
    "AccessDeniedError",
    "AuthError",
    "AuthenticationError",
    "AuthorizationError",
    "BadFileError",
    "ConfigurationError",
    "DeviceCodeExpiredError",
    "ExternalTokenError",
    "FileError",
    "LoginTimeoutError",
    "LoopbackError",
    "NotAuthenticatedError",
    "ServerError",
    "ServerUnreachableError",
    "TokenFetchError",
    "TokenRefreshError",
    "UsernameMismatchError",
]
