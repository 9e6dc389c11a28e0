"""Auth: register, login, refresh (rotation), logout (one login or all), password change, me."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from flask import Blueprint, Response, jsonify
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    decode_token,
    get_jwt,
    jwt_required,
)

from api.deps import caller_id, runtime
from api.errors import error_response
from api.schemas import Credentials, PasswordChangeIn, Registration
from api.validation import parse_body
from shared import sessions, users
from shared.errors import NotFound, ServiceUnavailable, TokenRevoked
from shared.models import User

bp = Blueprint("auth", __name__, url_prefix="/api/v1")


@bp.post("/auth/register")
def register() -> tuple[Response, int]:
    """Create an account."""
    body, _ = parse_body(Registration)
    user = users.register_user(runtime().db, email=body.email, password=body.password)
    return jsonify({"id": user.id, "email": user.email}), 201


@bp.post("/auth/login")
def login() -> Response:
    """Exchange email and password for an access and a refresh token."""
    body, _ = parse_body(Credentials)
    user = users.authenticate(runtime().db, email=body.email, password=body.password)
    pair, successor = _new_pair(user, family=secrets.token_hex(16))
    users.remember_refresh_token(runtime().db, successor)
    return jsonify(pair)


@bp.post("/auth/refresh")
@jwt_required(refresh=True)
def refresh() -> Response:
    """Spend a refresh token for a new pair; the old one can never be used again."""
    claims = get_jwt()
    user = users.get_user(runtime().db, caller_id())
    if user is None:
        raise NotFound("This account no longer exists.")
    pair, successor = _new_pair(user, family=claims["fam"])
    try:
        users.rotate_refresh_token(runtime().db, jti=claims["jti"], successor=successor)
    except TokenRevoked:
        # A spent token came back: treat the login as stolen and end its access tokens too.
        _blocklist(family=claims["fam"])
        raise
    return jsonify(pair)


@bp.post("/auth/logout")
@jwt_required()
def logout() -> tuple[str, int]:
    """Revoke this access token and the refresh tokens of its login."""
    claims = get_jwt()
    _blocklist(family=claims["fam"], jti=claims["jti"])
    users.revoke_refresh_family(runtime().db, family_id=claims["fam"])
    return "", 204


@bp.post("/auth/logout-all")
@jwt_required()
def logout_all() -> tuple[str, int]:
    """End every session of the caller's account, this one included."""
    users.end_all_sessions(
        runtime().db,
        user_id=caller_id(),
        end_sessions=_end_sessions,
        access_lifetime=_access_lifetime(),
    )
    return "", 204


@bp.post("/auth/password")
@jwt_required()
def change_password() -> tuple[str, int]:
    """Change the caller's password; every other session of the account ends."""
    body, _ = parse_body(PasswordChangeIn)
    users.change_password(
        runtime().db,
        user_id=caller_id(),
        current=body.current_password,
        new=body.new_password,
        end_sessions=_end_sessions,
        keep_family=get_jwt()["fam"],
        access_lifetime=_access_lifetime(),
    )
    return "", 204


@bp.get("/me")
@jwt_required()
def me() -> Response:
    """Return the caller's account."""
    user = users.get_user(runtime().db, caller_id())
    if user is None:
        raise NotFound("This account no longer exists.")
    return jsonify({"id": user.id, "email": user.email, "role": user.role})


def _new_pair(user: User, *, family: str) -> tuple[dict[str, Any], users.IssuedRefresh]:
    claims = {"role": user.role, "fam": family}
    access = create_access_token(identity=user.id, additional_claims=claims)
    refresh_token = create_refresh_token(identity=user.id, additional_claims={"fam": family})
    decoded = decode_token(refresh_token)
    successor = users.IssuedRefresh(
        jti=decoded["jti"],
        user_id=user.id,
        family_id=family,
        expires_at=datetime.fromtimestamp(decoded["exp"], UTC),
    )
    pair = {
        "access_token": access,
        "refresh_token": refresh_token,
        "token_type": "Bearer",
        "expires_in": runtime().settings.jwt_access_minutes * 60,
    }
    return pair, successor


def _access_lifetime() -> timedelta:
    """How long an access token may live, and a minute of clock skew."""
    return timedelta(minutes=runtime().settings.jwt_access_minutes + 1)


def _blocklist(*, family: str, jti: str | None = None) -> None:
    """Revoke a login's access tokens (and one token) for as long as any can live."""
    try:
        sessions.blocklist(runtime().redis, families=[family], jti=jti, ttl=_access_lifetime())
    except redis.RedisError as e:
        raise ServiceUnavailable("Could not revoke the token; try again.") from e


def _end_sessions(families: list[str]) -> None:
    try:
        sessions.blocklist(runtime().redis, families=families, ttl=_access_lifetime())
    except redis.RedisError as e:
        raise ServiceUnavailable("Could not end the other sessions; try again.") from e


def configure_jwt(jwt: JWTManager) -> None:
    """Answer every token failure in the documented shape; check revocation in Redis."""

    @jwt.token_in_blocklist_loader
    def is_revoked(_header: dict, payload: dict) -> bool:
        try:
            return sessions.is_revoked(
                runtime().redis, jti=payload["jti"], family=payload.get("fam")
            )
        except redis.RedisError as e:
            # Fail closed: without the blocklist a logged-out token would work again.
            raise ServiceUnavailable("Cannot check the token right now; try again.") from e

    @jwt.unauthorized_loader
    def missing(_reason: str) -> tuple[Response, int]:
        return error_response(401, "token_missing", "Send 'Authorization: Bearer <token>'.")

    @jwt.invalid_token_loader
    def invalid(_reason: str) -> tuple[Response, int]:
        return error_response(401, "token_invalid", "The token is not valid.")

    @jwt.expired_token_loader
    def expired(_header: dict, _payload: dict) -> tuple[Response, int]:
        return error_response(401, "token_expired", "The token has expired.")

    @jwt.revoked_token_loader
    def revoked(_header: dict, _payload: dict) -> tuple[Response, int]:
        return error_response(401, "token_revoked", "The token has been revoked.")

    @jwt.user_lookup_error_loader
    def lookup_failed(_header: dict, _payload: dict) -> tuple[Response, int]:
        return error_response(401, "token_invalid", "The token's user does not exist.")
