"""How times and money look in the public API."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal


def iso(value: datetime | None) -> str | None:
    """Format a time as ISO 8601 UTC (`2026-11-27T10:00:00.123456Z`)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def money(value: Decimal) -> str:
    """Format naira as a decimal string with exactly two places."""
    return str(Decimal(value).quantize(Decimal("0.01")))
