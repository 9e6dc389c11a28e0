"""Sessions: a login is one refresh-token family; ending sessions revokes both halves of it.

Refresh tokens are rows in PostgreSQL (rotation spends each once). Access tokens are stateless
JWTs, so ending a session also blocklists its family in Redis for as long as one of its access
tokens can live. The families worth blocklisting are those that issued a token within that
lifetime: every access token is issued together with a refresh token of its family.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.db import utcnow
from shared.models import RefreshToken

REVOKED = "paylink:revoked:"


def blocklist(
    client: redis.Redis, *, families: Iterable[str], ttl: timedelta, jti: str | None = None
) -> None:
    """Revoke every access token of these families (and one token) for `ttl`."""
    pipe = client.pipeline()
    seconds = int(ttl.total_seconds())
    if jti:
        pipe.set(REVOKED + jti, "1", ex=seconds)
    for family in families:
        pipe.set(REVOKED + "family:" + family, "1", ex=seconds)
    pipe.execute()


def is_revoked(client: redis.Redis, *, jti: str, family: str | None) -> bool:
    """Say whether this access or refresh token, or its whole login, has been revoked."""
    return any(client.mget([REVOKED + jti, REVOKED + "family:" + (family or "-")]))


def live_families(
    session: Session, *, user_id: str, within: timedelta, keep: str | None = None
) -> list[str]:
    """Return the user's logins that may still hold a live access token (all but `keep`)."""
    query = select(RefreshToken.family_id).where(
        RefreshToken.user_id == user_id, RefreshToken.created_at >= utcnow() - within
    )
    if keep:
        query = query.where(RefreshToken.family_id != keep)
    return list(session.scalars(query.distinct()))


def revoke_refresh_tokens(session: Session, *, user_id: str, keep: str | None = None) -> None:
    """Revoke every refresh token of the user (but those of the login `keep`)."""
    query = update(RefreshToken).where(
        RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
    )
    if keep:
        query = query.where(RefreshToken.family_id != keep)
    session.execute(query.values(revoked_at=utcnow()).execution_options(synchronize_session=False))
