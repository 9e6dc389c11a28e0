"""Pull what the customer paid for out of a VTPass answer, whatever field it used.

VTPass glues labels to values ("Token : 2636 2054 ...", "Pin : 3678...", "Serial No:WRN...,
pin: 0987..."), spreads one product over differently named fields, and sometimes disagrees
with itself. The receipt is the clean reading; every key is left out when VTPass sent nothing
for it, and the raw answer stays in the audit log.

- ``product_name``: VTPass's name of the product.
- ``purchased_code``: VTPass's own text, exactly as sent.
- electricity: ``token`` and ``bonus_token`` (digits only), ``units`` ("79.9 kWh"), and for
  postpaid (or whenever sent) ``customer_name``, ``exchange_reference``, ``receipt_number``.
  When VTPass's fields carry different main tokens, ``token`` is the one in
  ``purchased_code`` and ``token_candidates`` lists every one, in the order found.
- education and internet: ``pins``, a list of ``{"serial"?, "pin"}``; a PIN made of digits
  is given as digits only. For an education purchase a "Token" is a PIN, never a meter token.
- TV (Showmax): ``voucher`` (the first) and ``vouchers`` (all of them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from shared.vtpass._parse import as_mapping, as_text, to_decimal

__all__ = ["conflict_note", "extract_receipt", "purchased_code"]

# A label VTPass puts in front of a value: "Token : ", "Token:", "Pin : ", "Serial No:".
_LABEL = re.compile(
    r"^\s*(?:bonus\s*)?(?:token|pin|voucher(?:\s*code)?|serial(?:\s*(?:no\.?|number))?)"
    r"\s*(?::\s*|\s+)",
    re.IGNORECASE,
)
# STS tokens are 20 digits, printed plain or in groups of four split by spaces or hyphens;
# stopping at groups of four keeps a trailing "79.9 kWh" out.
_TOKEN_IN_TEXT = re.compile(
    r"(?P<bonus>bonus\s*)?token\s*:?\s*(?P<digits>\d{4}(?:[ -]?\d{4})*\d*)", re.IGNORECASE
)
_KWH_IN_TEXT = re.compile(r"(\d+(?:\.\d+)?)\s*kwh", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_PIN_VALUE = r"(?P<pin>\d(?:[ -]?\d)*|[A-Za-z0-9]+)"
_SERIAL_AND_PIN = re.compile(
    r"serial\s*(?:no\.?|number)?\s*:?\s*(?P<serial>[A-Za-z0-9-]+)[\s,;]*\bpin\s*:?\s*" + _PIN_VALUE,
    re.IGNORECASE,
)
_LABELLED_PIN = re.compile(r"\b(?:pin|token)\s*:?\s*" + _PIN_VALUE, re.IGNORECASE)
_LABELLED_VOUCHER = re.compile(r"\bvoucher(?:\s*code)?\s*:?\s*(?P<code>[A-Za-z0-9-]+)", re.I)
_DIGITS_AND_SEPARATORS = re.compile(r"[\d\s-]*\d[\d\s-]*")

_PURCHASED_CODE_KEYS = ("purchased_code", "purchasedCode")
_TOKEN_KEYS = ("token", "Token", "mainToken", "MainToken", "tokenCode", "TokenCode")
_BONUS_TOKEN_KEYS = ("bonusToken", "BonusToken", "bonus_token")
_UNITS_KEYS = ("units", "Units", "mainTokenUnits", "MainTokenUnits", "tokenUnits", "PurchasedUnits")
_CUSTOMER_NAME_KEYS = ("customerName", "CustomerName", "Customer_Name", "customer_name")
_EXCHANGE_KEYS = ("exchangeReference", "ExchangeReference", "exchange_reference")
_RECEIPT_NUMBER_KEYS = ("receiptNumber", "ReceiptNumber", "receipt_number", "receiptNo")
_PIN_LIST_KEYS = ("cards", "Cards", "tokens", "Tokens", "pins", "Pins")
_SERIAL_KEYS = (
    "Serial",
    "serial",
    "serialNumber",
    "SerialNumber",
    "serial_number",
    "Serial_No",
    "serialNo",
)
_PIN_KEYS = ("Pin", "pin", "PIN", "pinCode", "PinCode", "Token", "token")
_VOUCHER_KEYS = ("Voucher", "voucher", "Vouchers", "vouchers", "voucherCode", "VoucherCode")

# content.transactions.type as VTPass prints it, for answers read without a known category.
_TYPE_CATEGORIES = (("electric", "electricity"), ("education", "education"), ("tv", "tv"))
_SINGLE_PIN_KEYS = ("Pin", "pin", "PIN")


def _places(body: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Yield the objects where VTPass has been seen to put product fields."""
    yield body
    content = as_mapping(body.get("content"))
    yield content
    yield as_mapping(content.get("transactions"))


def _texts(body: Mapping[str, Any], keys: tuple[str, ...]) -> Iterator[str]:
    for place in _places(body):
        for key in keys:
            text = as_text(place.get(key))
            if text is not None:
                yield text


def _first_text(body: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    return next(_texts(body, keys), None)


def _values(body: Mapping[str, Any], keys: tuple[str, ...]) -> Iterator[Any]:
    for place in _places(body):
        for key in keys:
            value = place.get(key)
            if value not in (None, "", []):
                yield value


def clean_value(text: str) -> str:
    """Strip a glued-on label; a value made of digits and separators becomes digits only."""
    value = _LABEL.sub("", text, count=1).strip().strip(",;").strip()
    if _DIGITS_AND_SEPARATORS.fullmatch(value):
        return re.sub(r"\D", "", value)
    return value


def purchased_code(body: Mapping[str, Any]) -> str | None:
    """Return VTPass's purchased_code text as sent (the older query format nests it)."""
    return _first_text(body, _PURCHASED_CODE_KEYS)


# -- electricity ---------------------------------------------------------------------


def _tokens_in(text: str) -> tuple[str | None, str | None]:
    """Read (main token, bonus token) from a text such as "Token : X Bonus Token : Y"."""
    main = bonus = None
    for match in _TOKEN_IN_TEXT.finditer(text):
        digits = re.sub(r"\D", "", match.group("digits"))
        if match.group("bonus"):
            bonus = bonus or digits
        else:
            main = main or digits
    if main is None and bonus is None and _DIGITS_AND_SEPARATORS.fullmatch(text.strip()):
        main = re.sub(r"\D", "", text)
    return main, bonus


def _units(body: Mapping[str, Any], code: str | None) -> str | None:
    for value in _values(body, _UNITS_KEYS):
        number = to_decimal(value)
        if number is None and isinstance(value, str):
            found = _NUMBER.search(value)
            number = Decimal(found.group()) if found else None
        if number is not None:
            return f"{number:f} kWh"
    found = _KWH_IN_TEXT.search(code or "")
    return f"{found.group(1)} kWh" if found else None


def _electricity(body: Mapping[str, Any], code: str | None) -> dict[str, Any]:
    mains: list[str] = []
    bonuses: list[str] = []
    # purchased_code is what VTPass documents, so its token comes first.
    for text in [*([code] if code else []), *_texts(body, _TOKEN_KEYS)]:
        main, bonus = _tokens_in(text)
        mains += [main] if main and main not in mains else []
        bonuses += [bonus] if bonus and bonus not in bonuses else []
    for text in _texts(body, _BONUS_TOKEN_KEYS):
        main, bonus = _tokens_in(text)
        bonus = bonus or main
        bonuses += [bonus] if bonus and bonus not in bonuses else []
    mains = [t for t in mains if t not in bonuses]
    receipt: dict[str, Any] = {
        "token": mains[0] if mains else None,
        "bonus_token": bonuses[0] if bonuses else None,
        "token_candidates": mains if len(mains) > 1 else None,
        "units": _units(body, code),
        "customer_name": _first_text(body, _CUSTOMER_NAME_KEYS),
        "exchange_reference": _first_text(body, _EXCHANGE_KEYS),
        "receipt_number": _first_text(body, _RECEIPT_NUMBER_KEYS),
    }
    return receipt


# -- PINs and vouchers -----------------------------------------------------------------


def _pins_in(text: str) -> list[dict[str, str]]:
    """Read PINs from text: "Serial No:X, pin: Y" pairs, "Pin : Y" / "Token: Y", or bare digits."""
    pairs = [
        {"serial": clean_value(m.group("serial")), "pin": clean_value(m.group("pin"))}
        for m in _SERIAL_AND_PIN.finditer(text)
    ]
    if pairs:
        return pairs
    labelled = [{"pin": clean_value(m.group("pin"))} for m in _LABELLED_PIN.finditer(text)]
    if labelled:
        return labelled
    plain = clean_value(text)
    return [{"pin": plain}] if plain.isdigit() else []


def _pin_entry(item: Any) -> list[dict[str, str]]:
    """Read one card or token: an object with serial and pin, or a PIN string."""
    if isinstance(item, Mapping):
        serial = next((clean_value(t) for k in _SERIAL_KEYS if (t := as_text(item.get(k)))), "")
        pin = next((clean_value(t) for k in _PIN_KEYS if (t := as_text(item.get(k)))), "")
        entry = {"serial": serial, "pin": pin}
        return [{k: v for k, v in entry.items() if v}] if pin or serial else []
    text = as_text(item)
    if text is None:
        return []
    return _pins_in(text) or [{"pin": clean_value(text)}]


def _pins(body: Mapping[str, Any], code: str | None) -> list[dict[str, str]]:
    # WAEC result checker and Spectranet answer `cards`, WAEC registration `tokens`.
    for value in _values(body, _PIN_LIST_KEYS):
        items = value if isinstance(value, list) else [value]
        pins = [entry for item in items for entry in _pin_entry(item)]
        if pins:
            return pins
    # JAMB answers a single `Pin`; otherwise only purchased_code says what was sold.
    single = _first_text(body, _SINGLE_PIN_KEYS)
    if single:
        return _pin_entry(single)
    return _pins_in(code) if code else []


def _vouchers(body: Mapping[str, Any], code: str | None) -> list[str]:
    # Showmax's Voucher is a string or an array of codes.
    found: list[str] = []
    for value in _values(body, _VOUCHER_KEYS):
        for item in value if isinstance(value, list) else [value]:
            text = as_text(item)
            if text and (voucher := clean_value(text)) and voucher not in found:
                found.append(voucher)
    if not found and code:
        found = [m.group("code") for m in _LABELLED_VOUCHER.finditer(code)]
    return found


# -- the receipt -------------------------------------------------------------------------


def _category_of(body: Mapping[str, Any], code: str | None) -> str | None:
    """Guess the category of an answer read without one, from its type and its fields."""
    transactions = as_mapping(as_mapping(body.get("content")).get("transactions"))
    kind = (as_text(transactions.get("type")) or "").lower()
    guessed = next((category for word, category in _TYPE_CATEGORIES if word in kind), None)
    if guessed:
        return guessed
    if any(_values(body, _PIN_LIST_KEYS + _SINGLE_PIN_KEYS)):
        return "education"
    if any(_values(body, _VOUCHER_KEYS)):
        return "tv"
    meter_keys = _TOKEN_KEYS + _BONUS_TOKEN_KEYS + _UNITS_KEYS
    if any(_values(body, meter_keys)) or _TOKEN_IN_TEXT.search(code or ""):
        return "electricity"
    return None


def extract_receipt(body: Mapping[str, Any], *, category: str | None = None) -> dict[str, Any]:
    """Collect tokens, PINs, vouchers and units from a pay or requery answer.

    `category` is the PayLink category of the purchase (``electricity``, ``education``...);
    without it the answer's transaction type is used, and failing that every kind is read.
    """
    code = purchased_code(body)
    category = category or _category_of(body, code)
    transactions = as_mapping(as_mapping(body.get("content")).get("transactions"))
    receipt: dict[str, Any] = {
        "product_name": as_text(transactions.get("product_name")),
        "purchased_code": code,
    }
    if category in (None, "electricity"):
        receipt.update(_electricity(body, code))
    if category in (None, "education", "internet"):
        receipt["pins"] = _pins(body, code)
    if category in (None, "tv"):
        vouchers = _vouchers(body, code)
        receipt.update(voucher=vouchers[0] if vouchers else None, vouchers=vouchers)
    return {key: value for key, value in receipt.items() if value}


def conflict_note(receipt: Mapping[str, Any]) -> str | None:
    """Say, for the purchase history, where VTPass's answer disagreed with itself."""
    candidates = receipt.get("token_candidates")
    if not candidates:
        return None
    return (
        f"VTPass answered {len(candidates)} different tokens ({', '.join(candidates)}); "
        f"the receipt keeps them all, {candidates[0]} (from purchased_code) first"
    )
