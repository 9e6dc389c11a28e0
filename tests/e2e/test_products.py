"""Every product line end to end through the API and a real worker, with receipts."""

from __future__ import annotations

from decimal import Decimal

import pytest

OK_PHONE = "08011111111"


@pytest.fixture
def customer(make_user, fund):
    user = make_user()
    fund(user, "100000")
    return user


def buy_and_settle(buy, settle, user, **body):
    response = buy(user, phone=body.pop("phone", OK_PHONE), **body)
    assert response.status_code == 202, response.get_json()
    return settle(user, response.get_json()["id"])


def test_data_plan_priced_from_catalog(buy, settle, customer, ledger_ok):
    done = buy_and_settle(
        buy, settle, customer, service_id="mtn-data", variation_code="mtn-10mb-100", amount=1
    )
    assert (done["status"], done["amount"], done["category"]) == ("delivered", "100.00", "data")
    ledger_ok()


def test_data_for_another_number_fails_and_refunds(client, buy, settle, customer):
    done = buy_and_settle(
        buy,
        settle,
        customer,
        service_id="airtel-data",
        variation_code="airt-100",
        customer_id="08031234567",
    )
    assert done["status"] == "failed"
    wallet = client.get("/api/v1/wallet", headers=customer.headers).get_json()
    assert wallet["available"] == "100000.00"


def test_prepaid_electricity_receipt_has_token_and_units(buy, settle, customer):
    done = buy_and_settle(
        buy,
        settle,
        customer,
        service_id="ikeja-electric",
        customer_id="1111111111111",
        type="prepaid",
        amount=1500,
    )
    assert done["status"] == "delivered"
    assert done["variation_code"] == "prepaid"
    receipt = done["receipt"]
    assert (
        receipt["token"].replace("-", "").isdigit() and len(receipt["token"].replace("-", "")) == 20
    )
    assert "kWh" in receipt["units"]
    assert receipt["purchased_code"].startswith("Token")


def test_postpaid_electricity_and_failure(buy, settle, customer):
    postpaid = buy_and_settle(
        buy,
        settle,
        customer,
        service_id="kano-electric",
        customer_id="1010101010101",
        type="postpaid",
        amount=2000,
    )
    assert postpaid["status"] == "delivered"
    unknown = buy_and_settle(
        buy,
        settle,
        customer,
        service_id="eko-electric",
        customer_id="12345678901",
        type="prepaid",
        amount=2000,
    )
    assert unknown["status"] == "failed"


def test_dstv_change_bouquet_and_renew(buy, settle, customer, client):
    change = buy_and_settle(
        buy,
        settle,
        customer,
        service_id="dstv",
        customer_id="1212121212",
        subscription_type="change",
        variation_code="dstv-padi",
        quantity=2,
    )
    assert (change["status"], change["amount"]) == ("delivered", "5900.00")
    verified = client.post(
        "/api/v1/verifications",
        json={"service_id": "dstv", "customer_id": "1212121212"},
        headers=customer.headers,
    ).get_json()
    renew = buy_and_settle(
        buy,
        settle,
        customer,
        service_id="dstv",
        customer_id="1212121212",
        subscription_type="renew",
    )
    assert renew["status"] == "delivered"
    assert Decimal(renew["amount"]) == Decimal(str(verified["details"]["Renewal_Amount"]))


def test_startimes_showmax_and_a_failed_smartcard(buy, settle, customer):
    startimes = buy_and_settle(
        buy,
        settle,
        customer,
        service_id="startimes",
        customer_id="1212121212",
        variation_code="nova",
    )
    assert startimes["status"] == "delivered"
    showmax = buy_and_settle(buy, settle, customer, service_id="showmax", variation_code="full")
    assert showmax["status"] == "delivered" and showmax["receipt"]["voucher"]
    wrong = buy_and_settle(
        buy, settle, customer, service_id="gotv", customer_id="99999999", variation_code="gotv-max"
    )
    assert wrong["status"] == "failed"


def test_internet_smile_and_spectranet_pins(buy, settle, customer):
    smile = buy_and_settle(
        buy,
        settle,
        customer,
        service_id="smile-direct",
        customer_id="1402000567",
        variation_code="624",
    )
    assert (smile["status"], smile["category"]) == ("delivered", "internet")
    spectranet = buy_and_settle(
        buy, settle, customer, service_id="spectranet", variation_code="spectranet-1000", quantity=2
    )
    assert spectranet["status"] == "delivered"
    assert spectranet["amount"] == "2000.00"
    assert len(spectranet["receipt"]["pins"]) == 2
    failed = buy_and_settle(
        buy, settle, customer, service_id="smile-direct", customer_id="55555", variation_code="516"
    )
    assert failed["status"] == "failed"


def test_education_pins(buy, settle, customer):
    waec = buy_and_settle(
        buy, settle, customer, service_id="waec", variation_code="waecdirect", quantity=3
    )
    assert (waec["status"], waec["amount"]) == ("delivered", "2700.00")
    assert len(waec["receipt"]["pins"]) == 3
    assert all(p["pin"] and p["serial"] for p in waec["receipt"]["pins"])
    registration = buy_and_settle(
        buy, settle, customer, service_id="waec-registration", variation_code="waec-registraion"
    )
    assert registration["status"] == "delivered" and registration["receipt"]["pins"]
    jamb = buy_and_settle(
        buy,
        settle,
        customer,
        service_id="jamb",
        customer_id="0123456789",
        variation_code="utme-mock",
    )
    assert jamb["status"] == "delivered" and jamb["receipt"]["pins"]
    unknown = buy_and_settle(
        buy,
        settle,
        customer,
        service_id="jamb",
        customer_id="1111111110",
        variation_code="utme-no-mock",
    )
    assert unknown["status"] == "failed"
