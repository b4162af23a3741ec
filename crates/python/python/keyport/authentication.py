"""``aiod.authentication``'s names (seed 001's bot flow uses ``aiod.authentication.Token`` and
``aiod.authentication.set_token``): the same objects as at the top of :mod:`keyport`."""

from . import (
    AuthenticationError,
    NotAuthenticatedError,
    Token,
    User,
    create_token,
    get_current_user,
    get_token,
    invalidate_token,
    set_token,
)

__all__ = [
    "AuthenticationError",
    "NotAuthenticatedError",
    "Token",
    "User",
    "create_token",
    "get_current_user",
    "get_token",
    "invalidate_token",
    "set_token",
]
