"""Pull what the customer paid for out of a VTPass answer, whatever field it used."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from shared.vtpass._parse import as_mapping, as_text

__all__ = ["extract_receipt"]

# STS tokens are 20 digits, printed plain or in groups of four split by spaces
# or hyphens; stopping at groups of four keeps a trailing "79.9 kWh" out.
_TOKEN_IN_TEXT = re.compile(r"token\s*:?\s*(\d{4}(?:[ -]?\d{4})*\d*)", re.IGNORECASE)
_UNITS_IN_TEXT = re.compile(r"(\d+(?:\.\d+)?\s*kwh)", re.IGNORECASE)

_TOKEN_KEYS = ("token", "Token", "mainToken", "MainToken", "tokenCode", "TokenCode")
_UNITS_KEYS = ("units", "Units", "mainTokenUnits", "MainTokenUnits", "tokenUnits", "PurchasedUnits")
_SERIAL_KEYS = ("Serial", "serial", "serialNumber", "SerialNumber", "serial_number", "Serial_No")
_PIN_KEYS = ("Pin", "pin", "PIN", "pinCode", "PinCode", "Token", "token")
_VOUCHER_KEYS = ("Voucher", "voucher", "voucherCode", "VoucherCode")


def _places(body: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Yield the objects where VTPass has been seen to put product fields."""
    yield body
    content = as_mapping(body.get("content"))
    yield content
    yield as_mapping(content.get("transactions"))


def _first_text(body: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for place in _places(body):
        for key in keys:
            text = as_text(place.get(key))
            if text is not None:
                return text
    return None


def _first_list(body: Mapping[str, Any], keys: tuple[str, ...]) -> list[Any]:
    for place in _places(body):
        for key in keys:
            value = place.get(key)
            if isinstance(value, list) and value:
                return value
    return []


def _pin_entry(item: Any) -> dict[str, str] | None:
    """Read one card/token: an object with serial and pin, or a bare PIN string."""
    if isinstance(item, Mapping):
        entry = {}
        serial = next((t for k in _SERIAL_KEYS if (t := as_text(item.get(k)))), None)
        pin = next((t for k in _PIN_KEYS if (t := as_text(item.get(k)))), None)
        if serial:
            entry["serial"] = serial
        if pin:
            entry["pin"] = pin
        return entry or None
    text = as_text(item)
    return {"pin": text} if text else None


def _pins(body: Mapping[str, Any]) -> list[dict[str, str]]:
    # WAEC result checker and Spectranet answer `cards`, WAEC registration `tokens`.
    items = _first_list(body, ("cards", "Cards", "tokens", "Tokens", "pins", "Pins"))
    pins = [entry for item in items if (entry := _pin_entry(item))]
    if pins:
        return pins
    # JAMB answers a single top-level `Pin`.
    single = _first_text(body, ("Pin", "pin", "PIN"))
    return [{"pin": single}] if single else []


def _token(body: Mapping[str, Any], purchased_code: str | None) -> str | None:
    # purchased_code is what VTPass documents; DISCO-specific fields come second.
    if purchased_code:
        match = _TOKEN_IN_TEXT.search(purchased_code)
        if match:
            return match.group(1).strip()
    return _first_text(body, _TOKEN_KEYS)


def _units(body: Mapping[str, Any], purchased_code: str | None) -> str | None:
    units = _first_text(body, _UNITS_KEYS)
    if units is None and purchased_code:
        match = _UNITS_IN_TEXT.search(purchased_code)
        units = match.group(1) if match else None
    return units


def extract_receipt(body: Mapping[str, Any]) -> dict[str, Any]:
    """Collect tokens, PINs, vouchers and units from a pay or requery answer."""
    transactions = as_mapping(as_mapping(body.get("content")).get("transactions"))
    purchased_code = as_text(body.get("purchased_code")) or as_text(
        transactions.get("purchased_code")
    )
    receipt: dict[str, Any] = {
        "product_name": as_text(transactions.get("product_name")),
        "purchased_code": purchased_code,
        "token": _token(body, purchased_code),
        "units": _units(body, purchased_code),
        "pins": _pins(body),
        "voucher": _first_text(body, _VOUCHER_KEYS),
    }
    return {key: value for key, value in receipt.items() if value}
