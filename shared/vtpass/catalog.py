"""Typed views of VTPass's verify and catalog answers, and the errors they raise."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NoReturn

from shared.vtpass._parse import (
    as_mapping,
    as_text,
    is_flag_set,
    redact,
    response_code,
    response_description,
    to_decimal,
)
from shared.vtpass.errors import CustomerNotFound, VTPassRejected, VTPassResponseError

__all__ = [
    "Service",
    "Variation",
    "Verification",
    "parse_balance",
    "parse_categories",
    "parse_services",
    "parse_variations",
    "parse_verification",
]

log = logging.getLogger(__name__)

VERIFY_SUCCESS_CODES = frozenset({"000", "020"})
# VTPass or the biller is busy: the caller should say "try again", not "no such customer".
_BUSY_CODES = frozenset({"083", "089", "099", "030"})


@dataclass(frozen=True)
class Verification:
    """A customer VTPass confirmed: the name to show and the raw product fields."""

    customer_name: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Service:
    """One VTPass service (serviceID) within a category."""

    service_id: str
    name: str
    min_amount: Decimal | None
    max_amount: Decimal | None
    convenience_fee: str | None  # VTPass prints it as text such as "N0.00" or "1 %"
    product_type: str | None


@dataclass(frozen=True)
class Variation:
    """One plan or bouquet of a service."""

    variation_code: str
    name: str
    amount: Decimal
    fixed_price: bool


def _raise_unsuccessful(code: str | None, body: Mapping[str, Any]) -> NoReturn:
    description = response_description(body) or "VTPass refused the request"
    if code in _BUSY_CODES:
        raise VTPassResponseError(description, code=code)
    raise VTPassRejected(description, code=code)


def _content_list(body: Mapping[str, Any], *keys: str) -> list[Any]:
    """Return ``content`` if it is a list, else the first non-empty list under ``keys``."""
    content = body.get("content")
    if isinstance(content, list):
        return content
    found = [value for key in keys if isinstance(value := as_mapping(content).get(key), list)]
    if not found:
        raise VTPassResponseError("catalog answer has no list", code=response_code(body))
    return next((value for value in found if value), [])


def _catalog_items(body: Mapping[str, Any], *keys: str) -> list[Mapping[str, Any]]:
    code = response_code(body)
    if code != "000":
        _raise_unsuccessful(code, body)
    return [item for item in _content_list(body, *keys) if isinstance(item, Mapping)]


def parse_categories(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the service categories from a ``service-categories`` answer."""
    return [dict(item) for item in _catalog_items(body)]


def parse_services(body: Mapping[str, Any]) -> list[Service]:
    """Return the services from a ``services`` answer."""
    services = []
    for item in _catalog_items(body):
        service_id = as_text(item.get("serviceID"))
        if service_id is None:
            continue
        services.append(
            Service(
                service_id=service_id,
                name=as_text(item.get("name")) or service_id,
                # VTPass spells it "minimium_amount"; accept the fix if they make it.
                min_amount=to_decimal(item.get("minimium_amount", item.get("minimum_amount"))),
                max_amount=to_decimal(item.get("maximum_amount", item.get("maximium_amount"))),
                convenience_fee=as_text(item.get("convinience_fee", item.get("convenience_fee"))),
                product_type=as_text(item.get("product_type")),
            )
        )
    return services


def parse_variations(body: Mapping[str, Any]) -> list[Variation]:
    """Return the plans from a ``service-variations`` answer."""
    variations = []
    # The same list is printed twice, once under a misspelt key; either will do.
    for item in _catalog_items(body, "variations", "varations"):
        code = as_text(item.get("variation_code"))
        amount = to_decimal(item.get("variation_amount"))
        if code is None or amount is None:
            # A plan without a readable price is dropped: showing a wrong price
            # is worse than showing one plan fewer.
            log.warning("skipping VTPass variation without code or amount: %r", code)
            continue
        variations.append(
            Variation(
                variation_code=code,
                name=as_text(item.get("name")) or code,
                amount=amount,
                fixed_price=is_flag_set(item.get("fixedPrice")),
            )
        )
    return variations


# The balance answer's own success code is a number, 1 (read as "001"); "000" is accepted too.
_BALANCE_SUCCESS_CODES = frozenset({"000", "001"})


def parse_balance(body: Mapping[str, Any]) -> Decimal:
    """Return the VTPass wallet balance from a ``balance`` answer."""
    code = response_code(body)
    if code is not None and code not in _BALANCE_SUCCESS_CODES:
        _raise_unsuccessful(code, body)
    # Seen as {"code": 1, "contents": {"balance": 1081.82}}; "content" and a bare top-level
    # balance are read too, as a number or as text such as "1,081.82".
    for holder in (as_mapping(body.get("contents")), as_mapping(body.get("content")), body):
        for key in ("balance", "Balance"):
            balance = to_decimal(holder.get(key))
            if balance is not None:
                return balance
    raise VTPassResponseError(
        response_description(body) or "balance answer has no balance", code=code
    )


def parse_verification(body: Mapping[str, Any]) -> Verification:
    """Return the verified customer, or raise CustomerNotFound."""
    code = response_code(body)
    content = as_mapping(body.get("content"))
    if code not in VERIFY_SUCCESS_CODES:
        _raise_unsuccessful_verify(code, body)
    # VTPass answers an unknown meter or smartcard with 000 plus these fields.
    error = content.get("error")
    if is_flag_set(content.get("WrongBillersCode")) or error:
        raise CustomerNotFound(as_text(error) or "customer not found", code=code)
    if not content:
        raise CustomerNotFound("verify answer has no customer details", code=code)
    return Verification(
        customer_name=as_text(content.get("Customer_Name")) or "",
        details=redact(dict(content)),
    )


def _raise_unsuccessful_verify(code: str | None, body: Mapping[str, Any]) -> NoReturn:
    description = response_description(body) or "customer not found"
    if code in _BUSY_CODES:
        raise VTPassResponseError(description, code=code)
    raise CustomerNotFound(description, code=code)
