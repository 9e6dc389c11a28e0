"""VTPass response bodies: flat codes and the pay/requery transaction body in three formats.

- ``current``: ``code`` 000, the outcome in ``content.transactions.status``.
- ``legacy``: the same with ``transactionId`` at the top and ``transaction_date`` an object.
- ``query``: the older TRANSACTION QUERY answer, ``code`` 001 with the outcome one level down
  in ``content.response_code`` (000 processed, 016 failed, 040 reversed, 099 still
  processing) and the product fields inside ``content``; it carries no transaction status.

A reversed transaction's top-level ``amount`` is what VTPass credited back to the merchant
wallet (the amount less commission), as live reversal answers have carried it.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from zoneinfo import ZoneInfo

from simulator.catalog import SERVICES
from simulator.store import Txn

SANDBOX_EMAIL = "sandbox@sandbox.vtpass.com"
LEGACY_TZ = ZoneInfo("Africa/Lagos")

DESCRIPTIONS = {
    "000": "TRANSACTION PROCESSED",
    "010": "VARIATION CODE DOES NOT EXIST",
    "011": "INVALID ARGUMENTS",
    "012": "PRODUCT DOES NOT EXIST",
    "013": "BELOW MINIMUM AMOUNT ALLOWED",
    "014": "REQUEST ID ALREADY EXIST",
    "015": "INVALID REQUEST ID",
    "016": "TRANSACTION FAILED",
    "017": "ABOVE MAXIMUM AMOUNT ALLOWED",
    "018": "LOW WALLET BALANCE",
    "019": "LIKELY DUPLICATE TRANSACTION",
    "020": "BILLER CONFIRMED",
    "030": "BILLER NOT REACHABLE AT THIS POINT",
    "031": "BELOW MINIMUM QUANTITY ALLOWED",
    "032": "ABOVE MAXIMUM QUANTITY ALLOWED",
    "034": "SERVICE SUSPENDED",
    "035": "SERVICE INACTIVE",
    "040": "TRANSACTION REVERSAL",
    "044": "TRANSACTION RESOLVED",
    "083": "SYSTEM ERROR",
    "085": "IMPROPER REQUEST ID",
    "087": "INVALID CREDENTIALS",
    "089": "REQUEST IS BEING PROCESSED",
    "091": "TRANSACTION NOT PROCESSED",
    "099": "TRANSACTION IS PROCESSING",
}


def flat(code: str, **extra: object) -> dict:
    """Build a flat ``{code, response_description}`` body."""
    return {"code": code, "response_description": DESCRIPTIONS.get(code, "UNKNOWN ERROR"), **extra}


def number(value: Decimal) -> int | float:
    """Render a Decimal as a JSON number (int when whole)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _plain(value: Decimal) -> str:
    return str(number(value))


# content.response_code and its description in the query format, by transaction status.
QUERY_OUTCOMES = {
    "delivered": ("000", "TRANSACTION SUCCESSFUL"),
    "failed": ("016", "TRANSACTION FAILED"),
    "reversed": ("040", "TRANSACTION REVERSAL"),
}


def _face_or_net(txn: Txn) -> Decimal:
    return txn.total_amount if txn.status == "reversed" else txn.amount


def _lagos_date(txn: Txn) -> dict:
    return {
        "date": txn.created_at.astimezone(LEGACY_TZ).strftime("%Y-%m-%d %H:%M:%S.000000"),
        "timezone_type": 3,
        "timezone": "Africa/Lagos",
    }


def query_body(txn: Txn) -> dict:
    """Build the older 001 TRANSACTION QUERY body for a transaction."""
    inner, description = QUERY_OUTCOMES.get(txn.status, ("099", "TRANSACTION IS PROCESSING"))
    content: dict = {
        "requestId": txn.request_id,
        "response_code": inner,
        "response_description": description,
        "amount": f"{_face_or_net(txn):.2f}",
        "created_date": _lagos_date(txn),
        "purchased_code": "",
    }
    if txn.status == "delivered":
        content.update(txn.extras)
    return {
        "code": "001",
        "response_code": "000",
        "response_description": "TRANSACTION QUERY",
        "content": content,
    }


def transaction_body(txn: Txn) -> dict:
    """Build the pay/requery body for a transaction in its current status."""
    service = SERVICES[txn.service_id]
    answer_format = txn.answer_format or ("legacy" if service.legacy_format else "current")
    if answer_format == "query":
        return query_body(txn)
    legacy = answer_format == "legacy"
    transactions = {
        "status": txn.status,
        "product_name": service.name,
        "unique_element": txn.customer,
        "unit_price": number(txn.unit_price) if legacy else _plain(txn.unit_price),
        "quantity": txn.quantity,
        "service_verification": None,
        "channel": "api",
        "commission": number(txn.commission),
        "total_amount": number(txn.total_amount),
        "discount": None,
        "type": service.txn_type,
        "email": SANDBOX_EMAIL,
        "phone": txn.phone,
        "name": None,
        "convinience_fee": 0,
        "amount": number(txn.amount),
        "platform": "api",
        "method": "api",
        "transactionId": txn.transaction_id,
    }
    delivered = txn.status == "delivered"
    body: dict = {
        "code": "000",
        "content": {"transactions": transactions},
        "response_description": "TRANSACTION SUCCESSFUL" if delivered else "TRANSACTION PROCESSED",
        "requestId": txn.request_id,
        "amount": number(_face_or_net(txn)),
        "transaction_date": txn.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "purchased_code": "",
    }
    if legacy:
        del transactions["transactionId"]
        body["amount"] = f"{_face_or_net(txn):.2f}"
        body["transactionId"] = txn.transaction_id
        body["transaction_date"] = _lagos_date(txn)
    if delivered:
        body.update(txn.extras)
    return body
