"""The one place that turns a VTPass answer to ``pay`` or ``requery`` into an Outcome.

The rules follow the response-code table in VTPASS.md. When in doubt the answer
is PENDING: a pending purchase is requeried, never bought again, so doubt costs
time, never money.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from shared.vtpass._parse import (
    UNPARSEABLE,
    as_mapping,
    as_text,
    normalise_code,
    parse_json,
    parse_vtpass_datetime,
    redact,
    response_code,
    response_description,
    to_decimal,
)
from shared.vtpass.errors import VTPassNotSent
from shared.vtpass.receipt import extract_receipt, purchased_code

__all__ = [
    "ALERT_CODES",
    "customer_description",
    "AUTH_CODES",
    "KNOWN_CODES",
    "Operation",
    "Outcome",
    "OutcomeKind",
    "classify_pay_body",
    "classify_pay_response",
    "classify_transport_error",
    "extract_receipt",
]

Operation = Literal["pay", "requery"]


class OutcomeKind(StrEnum):
    """What PayLink now knows about one purchase at VTPass."""

    DELIVERED = "delivered"
    FAILED = "failed"
    REVERSED = "reversed"
    PENDING = "pending"  # unknown or processing: requery, never buy again
    NOT_FOUND = "not_found"  # 015 on requery: VTPass never saw that request id
    NOT_SENT = "not_sent"  # the transport proves the request never left


FINAL_KINDS = frozenset({OutcomeKind.DELIVERED, OutcomeKind.FAILED, OutcomeKind.REVERSED})

# Configuration problems: the app is misconfigured, not the purchase.
AUTH_CODES = frozenset({"021", "022", "023", "024", "027", "028", "087"})
# Everything an operator must hear about, including an empty VTPass wallet.
ALERT_CODES = AUTH_CODES | {"018"}
# What a customer is told instead of VTPass's words when the cause is PayLink's own account
# at VTPass (its float, its credentials, its whitelisting): the operator sees VTPass's text.
_CUSTOMER_MESSAGES = {
    "018": "This service is briefly unavailable; you were not charged. Please try again later.",
}
_INTERNAL_PROBLEM = (
    "PayLink could not complete this purchase because of a problem on our side; "
    "you were not charged. Please try again later."
)
# Bad variation, arguments, product, amount, quantity or request id: our input.
_BAD_INPUT_CODES = frozenset({"010", "011", "012", "013", "017", "031", "032", "085"})
# Definite failures of a pay request.
_FAILED_CODES = _BAD_INPUT_CODES | ALERT_CODES | {"016", "091", "019", "030", "034", "035"}
# On requery only these describe the purchase itself; the others describe the
# requery request (bad credentials today, a new IP...) and say nothing about
# whether the original purchase was delivered.
_FINAL_ON_REQUERY = frozenset({"016", "091"})
# Every code VTPass documents (020 is verify's "biller confirmed").
KNOWN_CODES = _FAILED_CODES | {"000", "001", "014", "015", "020", "040", "044", "083", "089", "099"}

_STATUS_KINDS = {
    "delivered": OutcomeKind.DELIVERED,
    "failed": OutcomeKind.FAILED,
    "reversed": OutcomeKind.REVERSED,
}


def customer_description(code: str | None, description: str) -> str:
    """Return what the customer is told about an answer (VTPass's text unless it is internal)."""
    if code in ALERT_CODES:
        return _CUSTOMER_MESSAGES.get(code, _INTERNAL_PROBLEM)
    return description


@dataclass(frozen=True)
class Outcome:
    """The classified result of one pay or requery exchange."""

    kind: OutcomeKind
    code: str | None = None
    description: str = ""
    transaction_id: str | None = None
    amount: Decimal | None = None
    receipt: dict[str, Any] = field(default_factory=dict)
    operator_alert: bool = False
    raw: dict[str, Any] | None = None
    needs_review: bool = False  # 044, or an answer about a different request id
    status: str | None = None  # content.transactions.status as VTPass wrote it
    request_id: str | None = None  # the requestId VTPass echoed back
    transaction_date: datetime | None = None
    http_status: int | None = None

    @property
    def is_final(self) -> bool:
        """Return True if this outcome settles the purchase (a later reversal is still possible)."""
        return self.kind in FINAL_KINDS

    @property
    def acknowledges(self) -> bool:
        """Return True if this answer shows VTPass has the request_id it was asked about.

        099 (processing), 014 (request id already exists), a 000 that is still initiated or
        pending, or any answer carrying a transactionId. After one, a 015 is not proof that the
        pay never arrived. An answer about another request id proves nothing.
        """
        if self.kind in (OutcomeKind.NOT_SENT, OutcomeKind.NOT_FOUND) or (
            self.needs_review and self.code != "044"
        ):
            return False
        return self.code in ("000", "014", "099") or bool(self.transaction_id)

    def receipt_for(self, category: str | None) -> dict[str, Any]:
        """Return the receipt read as a purchase of this PayLink category needs it."""
        # Only the purchase knows its category: a WAEC "Token:" is a PIN, not a meter token.
        return self.receipt if self.raw is None else extract_receipt(self.raw, category=category)


@dataclass(frozen=True)
class _Answer:
    """The parts of an answer that decide its kind."""

    code: str | None
    status: str | None  # content.transactions.status
    inner_code: str | None = None  # content.response_code of an older 001 query answer
    has_purchased_code: bool = False


def _kind_for_code(answer: _Answer, operation: Operation) -> tuple[OutcomeKind, bool]:
    """Map a code (and transaction status) to a kind and the needs_review flag."""
    code, status = answer.code, answer.status
    if code == "001" and answer.inner_code is not None:
        return _kind_for_inner_code(answer), False
    if code in ("000", "001"):
        # 000 only means "processed": the transaction status is the outcome.
        return _STATUS_KINDS.get((status or "").strip().lower(), OutcomeKind.PENDING), False
    if code == "044":
        return OutcomeKind.PENDING, True
    if code == "015":
        # On pay, 015 is unexpected; assume the id may exist and requery.
        return (OutcomeKind.NOT_FOUND if operation == "requery" else OutcomeKind.PENDING), False
    if code == "040":
        return OutcomeKind.REVERSED, False
    if code in _FAILED_CODES:
        if operation == "pay" or code in _FINAL_ON_REQUERY:
            return OutcomeKind.FAILED, False
        return OutcomeKind.PENDING, False
    # 099, 089, 083, 014 and anything unknown: the purchase may exist; requery.
    return OutcomeKind.PENDING, False


def _kind_for_inner_code(answer: _Answer) -> OutcomeKind:
    """Read the older query format, whose outcome sits one level down in content.response_code."""
    inner = answer.inner_code
    if inner == "000":
        if answer.status is None and answer.has_purchased_code:
            return OutcomeKind.DELIVERED  # processed, and what was sold is in the answer
        return _STATUS_KINDS.get((answer.status or "").strip().lower(), OutcomeKind.PENDING)
    if inner in _FINAL_ON_REQUERY:
        return OutcomeKind.FAILED
    if inner == "040":
        return OutcomeKind.REVERSED
    # Only these inner codes are known to describe the purchase; a nested 015 is no proof
    # that VTPass never saw it (that would allow a second pay), so the rest stay pending.
    return OutcomeKind.PENDING


def _kind_for_answer(
    http_status: int, answer: _Answer, operation: Operation
) -> tuple[OutcomeKind, bool]:
    if http_status in (401, 403):
        # A 401/403 carrying VTPass's own credential codes is a definite
        # rejection of a pay; without them it may be a proxy or WAF.
        if answer.code in AUTH_CODES and operation == "pay":
            return OutcomeKind.FAILED, False
        return OutcomeKind.PENDING, False
    if not 200 <= http_status < 300 and not 400 <= http_status < 500:
        # 5xx, 3xx (redirects are never followed) and oddities: unknown.
        return OutcomeKind.PENDING, False
    return _kind_for_code(answer, operation)


def classify_pay_body(
    body: Mapping[str, Any],
    *,
    operation: Operation,
    http_status: int = 200,
    expected_request_id: str | None = None,
) -> Outcome:
    """Classify an already-parsed pay/requery/callback body."""
    content = as_mapping(body.get("content"))
    transactions = as_mapping(content.get("transactions"))
    code = response_code(body)
    # Only the older query format (001) nests an outcome code; a top-level response_code
    # beside it is the query's own "000" and says nothing about the purchase.
    inner_code = normalise_code(content.get("response_code")) if code == "001" else None
    answer = _Answer(
        code=code,
        status=as_text(transactions.get("status")),
        inner_code=inner_code,
        has_purchased_code=purchased_code(body) is not None,
    )
    kind, needs_review = _kind_for_answer(http_status, answer, operation)
    echoed_id = _first_text((body, content), "requestId", "request_id")
    if expected_request_id and echoed_id and echoed_id != expected_request_id:
        # An answer about some other purchase proves nothing about this one.
        kind, needs_review = OutcomeKind.PENDING, True
    alert = code in ALERT_CODES or http_status in (401, 403)
    # A reversal's top-level amount may be VTPass's net refund, not the face value: it is
    # recorded for reconciliation and never decides what the customer gets back.
    amounts = (to_decimal(place.get("amount")) for place in (body, content, transactions))
    amount = next((a for a in amounts if a is not None), None)
    return Outcome(
        kind=kind,
        code=code,
        description=(inner_code and response_description(content)) or response_description(body),
        transaction_id=_first_text((transactions, body, content), "transactionId"),
        amount=amount,
        receipt=extract_receipt(body),
        operator_alert=alert,
        raw=redact(body),
        needs_review=needs_review,
        status=answer.status,
        request_id=echoed_id,
        transaction_date=parse_vtpass_datetime(body.get("transaction_date"))
        or parse_vtpass_datetime(transactions.get("transaction_date"))
        or parse_vtpass_datetime(content.get("created_date")),
        http_status=http_status,
    )


def _first_text(places: tuple[Mapping[str, Any], ...], *keys: str) -> str | None:
    return next((t for p in places for k in keys if (t := as_text(p.get(k)))), None)


def classify_pay_response(
    http_status: int,
    body: bytes | str | None,
    *,
    operation: Operation,
    expected_request_id: str | None = None,
) -> Outcome:
    """Classify a raw HTTP answer to ``pay`` or ``requery``."""
    parsed = parse_json(body)
    if parsed is UNPARSEABLE or not isinstance(parsed, Mapping):
        # Empty, HTML, truncated or a bare JSON value: VTPass may still have
        # charged us, so this is never a failure.
        what = "empty" if parsed is UNPARSEABLE and not (body or "").strip() else "unreadable"
        return Outcome(
            kind=OutcomeKind.PENDING,
            description=f"{what} response (HTTP {http_status})",
            operator_alert=http_status in (401, 403),
            http_status=http_status,
        )
    return classify_pay_body(
        parsed,
        operation=operation,
        http_status=http_status,
        expected_request_id=expected_request_id,
    )


def classify_transport_error(exc: BaseException) -> Outcome:
    """Classify an exception raised instead of an answer to ``pay`` or ``requery``."""
    code = getattr(exc, "code", None)
    description = getattr(exc, "description", "") or type(exc).__name__
    if isinstance(exc, VTPassNotSent):
        return Outcome(kind=OutcomeKind.NOT_SENT, code=code, description=description)
    # MaybeSent, ResponseError and anything unforeseen: VTPass may have it.
    return Outcome(
        kind=OutcomeKind.PENDING,
        code=code,
        description=description,
        http_status=getattr(exc, "http_status", None),
    )
