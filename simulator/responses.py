"""VTPass response bodies: flat codes and the pay/requery transaction body in both formats."""

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


def transaction_body(txn: Txn) -> dict:
    """Build the pay/requery body for a transaction in its current status."""
    service = SERVICES[txn.service_id]
    legacy = service.legacy_format
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
        "amount": number(txn.amount),
        "transaction_date": txn.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "purchased_code": "",
    }
    if legacy:
        del transactions["transactionId"]
        body["amount"] = f"{txn.amount:.2f}"
        body["transactionId"] = txn.transaction_id
        body["transaction_date"] = {
            "date": txn.created_at.astimezone(LEGACY_TZ).strftime("%Y-%m-%d %H:%M:%S.000000"),
            "timezone_type": 3,
            "timezone": "Africa/Lagos",
        }
    if delivered:
        body.update(txn.extras)
    return body
