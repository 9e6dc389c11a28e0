"""Nigerian phone numbers: accept the usual forms, keep the 11-digit local one."""

from __future__ import annotations

import re

# VTPass's sandbox test values (success, pending, timeout, no response, unexpected response,
# smartcard and Spectranet, prepaid and postpaid meter, JAMB profile), accepted wherever a
# phone or customer number goes in sandbox mode, so every documented outcome can be reached.
SANDBOX_VALUES = frozenset(
    {
        "08011111111",
        "201000000000",
        "300000000000",
        "400000000000",
        "500000000000",
        "1212121212",
        "1111111111111",
        "1010101010101",
        "0123456789",
    }
)

_SEPARATORS = re.compile(r"[\s\-().]")
_LOCAL = re.compile(r"0[789][01]\d{8}")


class InvalidPhone(ValueError):
    """Not a Nigerian mobile number."""


def normalise_phone(raw: str, *, sandbox: bool) -> str:
    """Return `raw` as an 11-digit local number (`0803...`), or raise InvalidPhone."""
    compact = _SEPARATORS.sub("", raw.strip())
    if sandbox and compact in SANDBOX_VALUES:
        return compact
    if compact.startswith("+"):
        compact = compact[1:]
    if compact.startswith("234") and len(compact) == 13:
        compact = "0" + compact[3:]
    elif len(compact) == 10 and compact[0] in "789":
        compact = "0" + compact
    if not _LOCAL.fullmatch(compact):
        raise InvalidPhone("must be a Nigerian mobile number such as 08031234567 or +2348031234567")
    return compact
