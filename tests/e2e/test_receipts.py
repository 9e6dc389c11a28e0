"""VTPass as it really answers, replayed by the simulator, bought through the public API.

Each case buys one product while the simulator answers with a shape VTPass has been seen to
send (labels glued to values, bonus tokens, two different tokens, vouchers as arrays, the older
001 query format...). The purchase must end with the right status and a receipt a customer can
type into a meter or a results page: digits only where the product is digits.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from tests.e2e.conftest import api_user
from tests.e2e.test_faults import new_phone

OK_PHONE = "08011111111"
FRESH = "<fresh>"  # replaced, in the body and the script, by a value no other test uses
LABEL = re.compile(r"token|pin|serial|voucher|:", re.IGNORECASE)


class Present:
    """Equal to any non-empty value: the receipt has this key, whatever the minted value."""

    def __eq__(self, other: object) -> bool:
        return bool(other)

    def __repr__(self) -> str:
        return "<present>"


PRESENT = Present()
TOKEN = "26362054405982757802"


def prepaid(service_id: str, meter: str = FRESH, amount: int = 1500) -> dict[str, Any]:
    return {"service_id": service_id, "customer_id": meter, "type": "prepaid", "amount": amount}


# (id, purchase body, simulator script or None for its sandbox default, receipt expected)
CASES: list[tuple[str, dict[str, Any], dict[str, Any] | None, dict[str, Any]]] = [
    ("airtime", {"service_id": "mtn", "amount": 100}, None, {"product_name": "MTN Airtime VTU"}),
    (
        "data",
        {"service_id": "mtn-data", "variation_code": "mtn-10mb-100"},
        None,
        {"product_name": "MTN Data", "token": None, "pins": None},
    ),
    *(
        (
            f"electricity-{disco}-default",
            prepaid(disco, "1111111111111"),
            None,
            {"token": PRESENT, "units": PRESENT, "pins": None},
        )
        for disco in (
            "ikeja-electric",
            "eko-electric",
            "kano-electric",
            "portharcourt-electric",
            "jos-electric",
            "ibadan-electric",
            "kaduna-electric",
            "abuja-electric",
            "enugu-electric",
            "benin-electric",
            "aba-electric",
            "yola-electric",
        )
    ),
    (
        "electricity-token-label-in-purchased-code",
        prepaid("ikeja-electric"),
        {"fields": {"purchased_code": "Token : 2636 2054 4059 8275 7802", "units": "79.9 kWh"}},
        {"token": TOKEN, "units": "79.9 kWh", "token_candidates": None},
    ),
    (
        "electricity-token-field-with-its-own-label",
        prepaid("eko-electric"),
        {
            "fields": {
                "purchased_code": f"Token:{TOKEN}",
                "token": "Token : 2636 2054 4059 8275 7802",
                "mainTokenUnits": 79.9,
            }
        },
        {"token": TOKEN, "units": "79.9 kWh", "token_candidates": None},
    ),
    (
        "electricity-bonus-token",
        prepaid("abuja-electric"),
        {
            "fields": {
                "purchased_code": "Token : 1111 2222 3333 4444 5555 "
                "Bonus Token : 9999 8888 7777 6666 5555",
                "mainToken": "11112222333344445555",
                "bonusToken": "99998888777766665555",
                "mainTokenUnits": 20.5,
            }
        },
        {
            "token": "11112222333344445555",
            "bonus_token": "99998888777766665555",
            "units": "20.5 kWh",
        },
    ),
    (
        "electricity-phed-two-different-tokens",
        prepaid("portharcourt-electric"),
        {
            "fields": {
                "purchased_code": "Token : 4530 4185 7392 1176 2840",
                "token": "45304185739211769014",
                "units": "31.2",
            }
        },
        {
            "token": "45304185739211762840",
            "token_candidates": ["45304185739211762840", "45304185739211769014"],
            "units": "31.2 kWh",
        },
    ),
    (
        "electricity-disco-token-and-units-as-a-number",
        prepaid("kano-electric"),
        {"fields": {"purchased_code": "", "Token": "1234-5678-9012-3456-7890", "Units": 12.5}},
        {"token": "12345678901234567890", "units": "12.5 kWh"},
    ),
    (
        "electricity-units-in-the-token-text",
        prepaid("jos-electric"),
        {"fields": {"purchased_code": "Token : 2636-2054-4059-8275-7802 : 79.9 kWh"}},
        {"token": TOKEN, "units": "79.9 kWh"},
    ),
    (
        "electricity-older-001-query-answer-on-requery",
        prepaid("ibadan-electric"),
        {
            "behaviour": "pending",
            "resolve_after_requeries": 1,
            "format": "query",
            "fields": {
                "purchased_code": "Token : 57880316552890870667",
                "token": "57880316552890870667",
                "units": "15.8",
                "receiptNumber": "1807201963743",
            },
        },
        {"token": "57880316552890870667", "units": "15.8 kWh", "receipt_number": "1807201963743"},
    ),
    (
        "electricity-postpaid-default",
        {**prepaid("kano-electric", "1010101010101"), "type": "postpaid"},
        None,
        {"token": None, "customer_name": "TESTMETER1", "exchange_reference": PRESENT},
    ),
    (
        "electricity-postpaid-references",
        {**prepaid("enugu-electric"), "type": "postpaid"},
        {
            "fields": {
                "purchased_code": "",
                "customerName": "ADA OBI",
                "exchangeReference": "180820191347550",
                "receiptNumber": "1807201963743",
            }
        },
        {
            "token": None,
            "customer_name": "ADA OBI",
            "exchange_reference": "180820191347550",
            "receipt_number": "1807201963743",
        },
    ),
    (
        "tv-dstv",
        {"service_id": "dstv", "customer_id": "1212121212", "variation_code": "dstv-padi"},
        None,
        {"product_name": "DSTV Subscription", "token": None},
    ),
    (
        "tv-gotv",
        {"service_id": "gotv", "customer_id": "1212121212", "variation_code": "gotv-max"},
        None,
        {"product_name": "Gotv Payment"},
    ),
    (
        "tv-startimes",
        {"service_id": "startimes", "customer_id": "1212121212", "variation_code": "nova"},
        None,
        {"product_name": "Startimes Subscription"},
    ),
    (
        "tv-showmax-voucher-string",
        {"service_id": "showmax", "variation_code": "full"},
        None,
        {"voucher": PRESENT, "vouchers": PRESENT},
    ),
    (
        "tv-showmax-voucher-array",
        {"service_id": "showmax", "variation_code": "full", "phone": FRESH},
        {"fields": {"purchased_code": "", "Voucher": ["SHMXAAAA1111", "Voucher : SHMXBBBB2222"]}},
        {"voucher": "SHMXAAAA1111", "vouchers": ["SHMXAAAA1111", "SHMXBBBB2222"]},
    ),
    (
        "internet-smile",
        {"service_id": "smile-direct", "customer_id": "1402000567", "variation_code": "624"},
        None,
        {"product_name": "Smile Payment", "pins": None},
    ),
    (
        "internet-spectranet-sandbox-card-value",
        {
            "service_id": "spectranet",
            "customer_id": "1212121212",
            "variation_code": "spectranet-1000",
            "quantity": 2,
        },
        None,
        {"pins": PRESENT},
    ),
    (
        "internet-spectranet-labelled-pin",
        {"service_id": "spectranet", "customer_id": FRESH, "variation_code": "spectranet-1000"},
        {
            "fields": {
                "purchased_code": "",
                "cards": [
                    {"serialNumber": "SPC0001", "pin": "Pin : 1234 5678 9012", "expiresOn": "x"}
                ],
            }
        },
        {"pins": [{"serial": "SPC0001", "pin": "123456789012"}]},
    ),
    (
        "education-waec-cards",
        {"service_id": "waec", "variation_code": "waecdirect", "quantity": 2},
        None,
        {"pins": PRESENT, "token": None},
    ),
    (
        "education-waec-serial-and-pin-in-purchased-code",
        {"service_id": "waec", "variation_code": "waecdirect", "phone": FRESH},
        {"fields": {"purchased_code": "Serial No:WRN123456790, pin: 098765432112"}},
        {"pins": [{"serial": "WRN123456790", "pin": "098765432112"}], "token": None},
    ),
    (
        "education-waec-registration-tokens",
        {"service_id": "waec-registration", "variation_code": "waec-registraion", "quantity": 2},
        None,
        {"pins": PRESENT, "token": None},
    ),
    (
        "education-waec-registration-token-label",
        {"service_id": "waec-registration", "variation_code": "waec-registraion", "phone": FRESH},
        {"fields": {"purchased_code": "Token: 0100234567890", "tokens": ["0100234567890"]}},
        {"pins": [{"pin": "0100234567890"}], "token": None},
    ),
    (
        "education-jamb-default",
        {"service_id": "jamb", "customer_id": "0123456789", "variation_code": "utme-mock"},
        None,
        {"pins": PRESENT, "token": None},
    ),
    (
        "education-jamb-labelled-pin",
        {"service_id": "jamb", "customer_id": FRESH, "variation_code": "utme-no-mock"},
        {"fields": {"purchased_code": "Pin : 3678251321392432", "Pin": "Pin : 3678251321392432"}},
        {"pins": [{"pin": "3678251321392432"}], "token": None},
    ),
]


@pytest.fixture(scope="module")
def shopper(app) -> SimpleNamespace:
    """One funded customer for every shape (registering one per case costs password hashes)."""
    return SimpleNamespace(headers=api_user(app, amount=1_000_000))


@pytest.fixture
def customer(make_user, fund):
    user = make_user()
    fund(user, "200000")
    return user


def fresh_value(body: dict[str, Any]) -> str:
    # A JAMB profile id is ten digits; a phone-shaped number suits every other field.
    if body["service_id"] == "jamb":
        return "1" + "".join(random.choices("0123456789", k=9))
    return new_phone()


def assert_clean(receipt: dict[str, Any]) -> None:
    """Check what a customer types in has no label left and is digits where it must be."""
    for key in ("token", "bonus_token"):
        if key in receipt:
            assert receipt[key].isdigit() and len(receipt[key]) == 20, receipt
    assert all(t.isdigit() for t in receipt.get("token_candidates", [])), receipt
    for entry in receipt.get("pins", []):
        assert entry["pin"].isdigit(), receipt
        assert not LABEL.search(entry.get("serial", "")), receipt
    assert not any(LABEL.search(v) for v in receipt.get("vouchers", [])), receipt
    if "units" in receipt:
        assert re.fullmatch(r"\d+(\.\d+)? kWh", receipt["units"]), receipt


@pytest.mark.parametrize(
    ("body", "script", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_real_answer_shape_ends_delivered_with_a_clean_receipt(
    buy, settle, simulator, shopper, consistent, body, script, expected
):
    value = fresh_value(body)
    body = {k: value if v == FRESH else v for k, v in body.items()}
    if script is not None:
        simulator.script(
            value,
            script.get("behaviour", "deliver"),
            **{k: v for k, v in script.items() if k != "behaviour"},
        )
    response = buy(shopper, **{"phone": OK_PHONE, **body})
    assert response.status_code == 202, response.get_json()
    done = settle(shopper, response.get_json()["id"])
    assert done["status"] == "delivered", done["history"]
    receipt = done["receipt"] or {}
    assert {key: receipt.get(key) for key in expected} == expected, receipt
    assert_clean(receipt)
    if "token_candidates" in receipt:
        assert all(t in done["history"][-1]["reason"] for t in receipt["token_candidates"])
    consistent([done["id"]])


def test_an_older_001_answer_saying_failed_refunds(buy, settle, simulator, customer, client):
    phone = new_phone()
    simulator.script(
        phone, "pending", resolve_after_requeries=1, final_status="failed", format="query"
    )
    before = client.get("/api/v1/wallet", headers=customer.headers).get_json()
    response = buy(customer, service_id="mtn", phone=phone, amount=100)
    done = settle(customer, response.get_json()["id"])
    assert done["status"] == "failed"
    assert "pending" in [h["status"] for h in done["history"]]
    assert client.get("/api/v1/wallet", headers=customer.headers).get_json() == before


def test_a_reversal_with_vtpass_net_amount_refunds_the_50_paid_once(
    client, buy, settle, simulator, customer, consistent, live_api, runtime
):
    # glo-sme-data's 50-naira plan at 3 % commission: VTPass reverses it crediting back 48.5.
    phone = new_phone()
    simulator.script(phone, "deliver")
    response = buy(
        customer, service_id="glo-sme-data", variation_code="glo-dg-50", phone=phone, amount=50
    )
    delivered = settle(customer, response.get_json()["id"])
    assert (delivered["status"], delivered["amount"]) == ("delivered", "50.00")
    simulator.control("POST", f"transactions/{delivered['request_id']}/reverse", repeat_callbacks=2)
    done = settle(customer, delivered["id"], statuses={"reversed"}, timeout=20)
    assert "VTPass reported 48.5" in done["history"][-1]["reason"]
    wallet = client.get("/api/v1/wallet", headers=customer.headers).get_json()
    assert (wallet["available"], wallet["held"]) == ("200000.00", "0.00")
    entries = client.get("/api/v1/wallet/entries", headers=customer.headers).get_json()["data"]
    refunds = [e for e in entries if e["purchase_id"] == done["id"] and e["type"] == "refund"]
    assert [Decimal(e["amount"]) for e in refunds] == [Decimal("50.00")]
    consistent([done["id"]])
