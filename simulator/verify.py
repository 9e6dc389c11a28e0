"""``merchant-verify`` answers: meters, smartcards, JAMB profiles and Smile accounts."""

from __future__ import annotations

from datetime import date, timedelta

from simulator.catalog import SERVICES
from simulator.faults import (
    JAMB_PROFILE,
    POSTPAID_METER,
    PREPAID_METER,
    SMARTCARD,
    SMILE_ACCOUNT_ID,
    SMILE_EMAIL,
)
from simulator.products import METER_ADDRESS, METER_CUSTOMER, text
from simulator.responses import flat

METER_TYPES = {PREPAID_METER: "PREPAID", POSTPAID_METER: "POSTPAID"}
# Smartcard 1212121212's current bouquet per provider: (name, code, renewal amount as rendered).
BOUQUETS = {
    "dstv": ("DStv  Compact N12500", "dstv79", 12500),
    "gotv": ("GOtv Max N5700", "gotv-max", "5700.00"),
}
COMMISSION_DETAILS = {
    "amount": None,
    "rate": "1.50",
    "rate_type": "percent",
    "computation_type": "default",
}
SMILE_CUSTOMER = "Tester Sandbox"


def _wrong(message: str) -> dict:
    return {"code": "000", "content": {"error": message, "WrongBillersCode": True}}


def _meter(service_name: str, meter: str) -> dict:
    meter_type = METER_TYPES.get(meter)
    if meter_type is None:
        return _wrong(
            f"This meter is not correct or is not a valid {service_name} meter. "
            "Please check and try again"
        )
    return {
        "code": "000",
        "content": {
            "Customer_Name": METER_CUSTOMER,
            "Address": METER_ADDRESS,
            "Meter_Number": meter,
            "Customer_Arrears": "",
            "Minimum_Amount": 500,
            "Min_Purchase_Amount": 500,
            "Can_Vend": "yes",
            "Business_Unit": "",
            "Customer_Account_Type": "NMD" if meter_type == "PREPAID" else "MD",
            "Meter_Type": meter_type,
            "WrongBillersCode": False,
            "commission_details": COMMISSION_DETAILS,
        },
    }


def _smartcard(service_id: str, card: str) -> dict:
    if card != SMARTCARD:
        return _wrong("Smartcard number is not valid. Please check and try again")
    if service_id == "startimes":
        content = {"Customer_Name": "TestMan Decoder", "Balance": 59.47, "Smartcard_Number": card}
    else:
        bouquet, code, renewal = BOUQUETS[service_id]
        content = {
            "Customer_Name": "TEST METER",
            "Status": "ACTIVE",
            "Due_Date": (date.today() + timedelta(days=10)).isoformat() + "T00:00:00",
            "Customer_Number": "8061522780",
            "Customer_Type": service_id.upper(),
            "Current_Bouquet": bouquet,
            "Current_Bouquet_Code": code,
            "Renewal_Amount": renewal,
        }
    return {
        "code": "000",
        "content": {**content, "commission_details": COMMISSION_DETAILS, "WrongBillersCode": False},
    }


def _jamb(profile: str, variation_code: str) -> dict:
    if SERVICES["jamb"].variation(variation_code) is None:
        return flat("010")
    if profile != JAMB_PROFILE:
        return _wrong("Profile ID is not valid. Please check and try again")
    return {
        "code": "020",
        "response_description": "BILLER CONFIRMED",
        "content": {
            "Customer_Name": "Capital James",
            "WrongBillersCode": False,
            "commission_details": COMMISSION_DETAILS,
        },
    }


def _smile_account(account: str) -> dict:
    if account != SMILE_ACCOUNT_ID:
        return _wrong("Account ID is not valid. Please check and try again")
    return {
        "code": "000",
        "content": {
            "Customer_Name": SMILE_CUSTOMER,
            "AccountId": int(account),
            "WrongBillersCode": False,
        },
    }


def verify(body: dict) -> dict:
    """Answer POST merchant-verify."""
    service_id, billers_code = text(body.get("serviceID")), text(body.get("billersCode"))
    if not service_id or not billers_code:
        return flat("011")
    service = SERVICES.get(service_id)
    if service is None:
        return flat("012")
    if service.kind == "electricity":
        return _meter(service.name, billers_code)
    if service_id in ("dstv", "gotv", "startimes"):
        return _smartcard(service_id, billers_code)
    if service_id == "jamb":
        return _jamb(billers_code, text(body.get("type")))
    if service_id == "smile-direct":
        return _smile_account(billers_code)
    return flat("011", content={"errors": f"{service_id} does not support merchant verification"})


def verify_smile_email(body: dict) -> dict:
    """Answer POST merchant-verify/smile/email."""
    email, service_id = text(body.get("billersCode")), text(body.get("serviceID"))
    if not email or service_id != "smile-direct":
        return flat("011")
    if email.lower() != SMILE_EMAIL:
        return _wrong("Email is not registered with Smile. Please check and try again")
    return {
        "code": "000",
        "content": {
            "Customer_Name": SMILE_CUSTOMER,
            "AccountList": {
                "Account": [
                    {"AccountId": int(SMILE_ACCOUNT_ID), "FriendlyName": "Tester Sandbox 4G"}
                ],
                "NumberOfAccounts": 1,
            },
            "WrongBillersCode": False,
        },
    }
