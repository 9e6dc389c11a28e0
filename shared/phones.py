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

# Spaces, dashes, dots and brackets may sit anywhere between the digits.
_SEPARATORS = re.compile(r"[ ().-]")
_LOCAL = re.compile(r"0[789][01][0-9]{8}")
_S = "[ ().-]*"
# Exactly the forms `normalise_phone` accepts (the API document states it as the phone format).
PHONE_PATTERN = rf"^{_S}\+?{_S}(?:2{_S}3{_S}4{_S}|0{_S})?[789]{_S}[01]{_S}(?:[0-9]{_S}){{8}}$"


def phone_pattern(sandbox: bool) -> str:
    """Return the pattern of the phones accepted (VTPass's test values too, in sandbox mode)."""
    if not sandbox:
        return PHONE_PATTERN
    test_values = "|".join(sorted(SANDBOX_VALUES))
    return f"^(?:{test_values})$|{PHONE_PATTERN}"


class InvalidPhone(ValueError):
    """Not a Nigerian mobile number."""


def normalise_phone(raw: str, *, sandbox: bool) -> str:
    """Return `raw` as an 11-digit local number (`0803...`), or raise InvalidPhone."""
    if sandbox and raw in SANDBOX_VALUES:
        return raw
    compact = _SEPARATORS.sub("", raw)
    if compact.startswith("+"):
        compact = compact[1:]
    if compact.startswith("234") and len(compact) == 13:
        compact = "0" + compact[3:]
    elif len(compact) == 10 and compact[0] in "789":
        compact = "0" + compact
    if not _LOCAL.fullmatch(compact):
        raise InvalidPhone("must be a Nigerian mobile number such as 08031234567 or +2348031234567")
    return compact
