"""Lenient readers for VTPass's inconsistent JSON (private to the package)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.vtpass.request_id import LAGOS

# Keys that must never reach an Outcome, an exception or the audit log, even if
# something in front of VTPass echoed our request headers back.
SECRET_KEYS = frozenset(
    {
        "api-key",
        "api_key",
        "secret-key",
        "secret_key",
        "public-key",
        "public_key",
        "authorization",
        "password",
    }
)

# Sentinel for "not a JSON document" so that a literal JSON null stays distinguishable.
UNPARSEABLE: Any = object()


def parse_json(body: bytes | str | None) -> Any:
    """Parse a response body, returning UNPARSEABLE for empty, HTML or broken bodies."""
    if body is None:
        return UNPARSEABLE
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            return UNPARSEABLE
    if not body.strip():
        return UNPARSEABLE
    try:
        return json.loads(body)
    except ValueError:
        return UNPARSEABLE


def normalise_code(value: Any) -> str | None:
    """Turn ``"000"``, ``0``, ``"1"`` or ``1.0`` into a zero-padded 3-char code."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    text = str(value).strip()
    if not text:
        return None
    if text.isdigit() and len(text) <= 3:
        return text.zfill(3)
    return text


def response_code(body: Mapping[str, Any]) -> str | None:
    """Read ``code`` first, then a catalog-style numeric ``response_description``."""
    code = normalise_code(body.get("code"))
    if code is not None:
        return code
    description = body.get("response_description")
    if isinstance(description, str) and description.strip().isdigit():
        return normalise_code(description)
    if isinstance(description, int) and not isinstance(description, bool):
        return normalise_code(description)
    return None


def response_description(body: Mapping[str, Any]) -> str:
    """Return VTPass's human-readable description, or an empty string."""
    for key in ("response_description", "message", "error"):
        value = body.get(key)
        if isinstance(value, str) and value.strip() and not value.strip().isdigit():
            return value.strip()
    return ""


def to_decimal(value: Any) -> Decimal | None:
    """Parse an amount given as a string or a JSON number, without float error."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        # repr() of a float is the shortest text that round-trips, so 19.3
        # becomes Decimal("19.3") rather than 19.300000000000000710...
        value = repr(value)
    text = str(value).strip().replace(",", "")
    if text.startswith("\u20a6"):  # a naira sign some answers print
        text = text[1:].strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def as_mapping(value: Any) -> Mapping[str, Any]:
    """Return ``value`` if it is a JSON object, else an empty mapping."""
    return value if isinstance(value, Mapping) else {}


def as_text(value: Any) -> str | None:
    """Return a non-empty string form of a scalar, else None."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    return text or None


def is_flag_set(value: Any) -> bool:
    """Read a JSON boolean that may arrive as ``true``, ``"true"`` or ``1``."""
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def parse_vtpass_datetime(value: Any) -> datetime | None:
    """Parse an ISO string or the older ``{date, timezone_type, timezone}`` object."""
    timezone: Any = None
    if isinstance(value, Mapping):
        timezone = value.get("timezone")
        value = value.get("date")
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # VTPass runs on Lagos time; the older format names its zone explicitly.
        try:
            zone = ZoneInfo(timezone) if isinstance(timezone, str) and timezone else LAGOS
        except (ZoneInfoNotFoundError, ValueError):
            zone = LAGOS
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def redact(value: Any) -> Any:
    """Return a deep copy of parsed JSON with secret-looking keys removed."""
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items() if str(k).lower() not in SECRET_KEYS}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
