"""What views need from the app: the runtime, the caller, and role checks."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app
from flask_jwt_extended import get_jwt, get_jwt_identity, jwt_required

from shared.errors import Forbidden
from shared.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])


def runtime() -> Runtime:
    """Return this process's runtime (settings, database, Redis, VTPass)."""
    return current_app.extensions["paylink"]


def caller_id() -> str:
    """Return the authenticated user's id."""
    return str(get_jwt_identity())


def admin_required(view: F) -> F:
    """Allow only a valid access token whose user has the admin role."""

    @wraps(view)
    @jwt_required()
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if get_jwt().get("role") != "admin":
            raise Forbidden("Only operators may do this.")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
