"""Bearer tokens on ``requests`` and ``httpx`` requests: the header is attached (refreshing the token when it
has expired) and, when the server answers 401, the token is refreshed once and the request sent again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generator, Optional

from ._keyport import Token, get_token

if TYPE_CHECKING:
    import httpx
    import requests


class BearerAuth:
    """``requests`` auth (``requests.get(url, auth=keyport.requests_auth())``) that sends
    ``Authorization: Bearer …`` from a :class:`keyport.Token` (default: the process-wide token, looked up at
    each request). A 401 answer makes it refresh the token once and resend the request."""

    def __init__(self, token: Optional[Token] = None) -> None:
        self._token = token

    @property
    def token(self) -> Token:
        """The token used: the one given, else the process-wide one (:func:`keyport.get_token`)."""
        return self._token if self._token is not None else get_token()

    def __call__(self, request: "requests.PreparedRequest") -> "requests.PreparedRequest":
        request.headers.update(self.token.headers)
        if hasattr(request, "register_hook"):
            request.register_hook("response", self._retry_on_401)  # type: ignore[no-untyped-call]
        return request

    def _retry_on_401(self, response: "requests.Response", **kwargs: Any) -> "requests.Response":
        request = response.request
        if response.status_code != 401 or getattr(request, "_keyport_retried", False):
            return response
        token = self.token
        token.refresh()
        response.content  # read the body, so the connection can be reused
        response.close()
        retry = request.copy()
        retry.headers.update(token.headers)
        setattr(retry, "_keyport_retried", True)
        new: "requests.Response" = response.connection.send(retry, **kwargs)
        new.history.append(response)
        new.request = retry
        return new

    def __repr__(self) -> str:
        return f"BearerAuth(token={self._token!r})"


def requests_auth(token: Optional[Token] = None) -> BearerAuth:
    """Auth for ``requests``: ``requests.get(url, auth=keyport.requests_auth())``.

    Args:
        token: The token to send; default the process-wide one, looked up at each request.
    """
    return BearerAuth(token)


def httpx_auth(token: Optional[Token] = None) -> "httpx.Auth":
    """An ``httpx.Auth``: ``httpx.get(url, auth=keyport.httpx_auth())`` (needs ``httpx`` installed).

    Attaches the bearer token and, on a 401, refreshes it once and resends the request. With an
    ``httpx.AsyncClient`` the token is refreshed synchronously (the event loop waits for that one request).

    Args:
        token: The token to send; default the process-wide one, looked up at each request.
    """
    import httpx

    class KeyportAuth(httpx.Auth):
        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
            current = token if token is not None else get_token()
            request.headers.update(current.headers)
            response = yield request
            if response.status_code == 401:
                current.refresh()
                request.headers.update(current.headers)
                yield request

    return KeyportAuth()
