"""VTPass request ids: ``YYYYMMDDHHII`` in Lagos time, then a random suffix.

VTPass checks the date prefix against *its* today in Africa/Lagos (UTC+1, no
DST) and answers ``085`` otherwise, so an id minted before Lagos midnight is
refused after it.
"""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime
from zoneinfo import ZoneInfo

__all__ = ["LAGOS", "is_stale", "mint_request_id", "request_id_date"]

LAGOS = ZoneInfo("Africa/Lagos")

# 12 hex chars = 48 random bits: collisions within one minute are negligible,
# and the id is 24 chars, well inside VTPass's limit.
_SUFFIX_BYTES = 6
_PREFIX = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})[A-Za-z0-9-]+$")
_MAX_LENGTH = 40


def _lagos_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(LAGOS)
    if now.tzinfo is None or now.utcoffset() is None:
        # A naive datetime could be server-local or UTC; guessing wrong near
        # midnight would mint ids that VTPass rejects with 085.
        raise ValueError("now must be timezone-aware")
    return now.astimezone(LAGOS)


def mint_request_id(now: datetime | None = None) -> str:
    """Mint a fresh VTPass request id for the current Lagos minute."""
    prefix = _lagos_now(now).strftime("%Y%m%d%H%M")
    return prefix + secrets.token_hex(_SUFFIX_BYTES)


def day_prefix(now: datetime | None = None) -> str:
    """The prefix every request id minted on the current Lagos day starts with."""
    return _lagos_now(now).strftime("%Y%m%d")


def request_id_date(request_id: str) -> date:
    """Return the Lagos date encoded in a request id's prefix."""
    match = _PREFIX.match(request_id)
    if match is None or len(request_id) > _MAX_LENGTH:
        raise ValueError(f"not a VTPass request id: {request_id!r}")
    year, month, day, hour, minute = (int(g) for g in match.groups())
    if hour > 23 or minute > 59:
        raise ValueError(f"not a VTPass request id: {request_id!r}")
    return date(year, month, day)


def is_stale(request_id: str, now: datetime | None = None) -> bool:
    """Return True if the id was minted on an earlier Lagos day than ``now``."""
    return request_id_date(request_id) < _lagos_now(now).date()
