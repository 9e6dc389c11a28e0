"""Per-product purchase rules: required fields, formats, plans, limits — never a 5xx."""

from __future__ import annotations

import pytest

CASES = [
    # data
    ({"service_id": "mtn-data"}, "variation_code"),
    ({"service_id": "mtn-data", "variation_code": "no-such-plan"}, "variation_code"),
    (
        {"service_id": "mtn-data", "variation_code": "mtn-10mb-100", "customer_id": "123"},
        "customer_id",
    ),
    ({"service_id": "mtn-data", "variation_code": "mtn-10mb-100", "quantity": 2}, "quantity"),
    # airtime
    ({"service_id": "mtn", "amount": 100, "customer_id": "08011111111"}, "customer_id"),
    ({"service_id": "mtn", "amount": 100, "variation_code": "x"}, "variation_code"),
    # electricity
    ({"service_id": "ikeja-electric", "amount": 1000, "type": "prepaid"}, "customer_id"),
    ({"service_id": "ikeja-electric", "amount": 1000, "customer_id": "1111111111111"}, "type"),
    (
        {
            "service_id": "ikeja-electric",
            "amount": 1000,
            "customer_id": "1111111111111",
            "type": "smart",
        },
        "type",
    ),
    (
        {
            "service_id": "ikeja-electric",
            "amount": 1000,
            "customer_id": "meter-1",
            "type": "prepaid",
        },
        "customer_id",
    ),
    ({"service_id": "ikeja-electric", "customer_id": "1111111111111", "type": "prepaid"}, "amount"),
    (
        {
            "service_id": "ikeja-electric",
            "amount": 10,
            "customer_id": "1111111111111",
            "type": "prepaid",
        },
        "amount",
    ),
    # tv
    ({"service_id": "dstv", "variation_code": "dstv-padi"}, "customer_id"),
    ({"service_id": "dstv", "customer_id": "1212121212"}, "variation_code"),
    (
        {"service_id": "dstv", "customer_id": "1212121212", "subscription_type": "upgrade"},
        "subscription_type",
    ),
    (
        {"service_id": "dstv", "customer_id": "1212121212", "subscription_type": "change"},
        "variation_code",
    ),
    (
        {
            "service_id": "dstv",
            "customer_id": "1212121212",
            "subscription_type": "renew",
            "variation_code": "dstv-padi",
        },
        "variation_code",
    ),
    (
        {
            "service_id": "dstv",
            "customer_id": "1212121212",
            "variation_code": "dstv-padi",
            "quantity": 13,
        },
        "quantity",
    ),
    (
        {"service_id": "dstv", "customer_id": "55555555", "subscription_type": "renew"},
        "customer_id",
    ),
    (
        {
            "service_id": "startimes",
            "customer_id": "1212121212",
            "variation_code": "nova",
            "subscription_type": "renew",
        },
        "subscription_type",
    ),
    ({"service_id": "showmax"}, "variation_code"),
    # internet
    ({"service_id": "smile-direct", "variation_code": "624"}, "customer_id"),
    ({"service_id": "spectranet", "variation_code": "spectranet-1000", "quantity": 6}, "quantity"),
    ({"service_id": "spectranet", "variation_code": "spectranet-1000", "quantity": 0}, "quantity"),
    (
        {"service_id": "spectranet", "variation_code": "spectranet-1000", "quantity": "2"},
        "quantity",
    ),
    # education
    ({"service_id": "waec", "variation_code": "waecdirect", "quantity": 11}, "quantity"),
    ({"service_id": "jamb", "variation_code": "utme-mock"}, "customer_id"),
    ({"service_id": "jamb", "variation_code": "utme-mock", "customer_id": "12345"}, "customer_id"),
    ({"service_id": "waec", "variation_code": "waecdirect", "type": "prepaid"}, "type"),
]


@pytest.mark.parametrize(("body", "field"), CASES)
def test_product_rule_violations_are_field_errors(client, make_user, fund, buy, body, field):
    user = make_user()
    fund(user, "100000")
    response = buy(user, phone="08011111111", **body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"], error
    wallet = client.get("/api/v1/wallet", headers=user.headers).get_json()
    assert wallet["held"] == "0.00"


def test_fixed_price_ignores_the_clients_amount(make_user, fund, buy):
    user = make_user()
    fund(user, "10000")
    response = buy(
        user,
        phone="08011111111",
        service_id="gotv",
        customer_id="1212121212",
        variation_code="gotv-max",
        amount=1,
    )
    assert response.status_code == 202
    assert response.get_json()["amount"] == "5700.00"


@pytest.mark.parametrize(
    "phone",
    ["08031234567", "2348031234567", "+234 803 123 4567", "+234-803-123-4567", "8031234567"],
)
def test_phone_forms_are_normalised(make_user, fund, buy, phone):
    user = make_user()
    fund(user, "1000")
    response = buy(user, phone=phone, service_id="glo", amount=100)
    assert response.status_code == 202
    assert response.get_json()["phone"] == "08031234567"


SANDBOX_CUSTOMERS = [
    {"service_id": "spectranet", "variation_code": "spectranet-1000", "customer_id": "1212121212"},
    {"service_id": "mtn-data", "variation_code": "mtn-10mb-100", "customer_id": "1212121212"},
    {"service_id": "jamb", "variation_code": "utme-mock", "customer_id": "201000000000"},
    {"service_id": "smile-direct", "variation_code": "624", "customer_id": "0123456789"},
    {"service_id": "dstv", "variation_code": "dstv-padi", "customer_id": "300000000000"},
    {
        "service_id": "ikeja-electric",
        "type": "prepaid",
        "amount": 1000,
        "customer_id": "1010101010101",
    },
]


@pytest.mark.parametrize("body", SANDBOX_CUSTOMERS, ids=lambda b: b["service_id"])
def test_every_sandbox_value_is_a_customer_number_in_sandbox_mode_only(
    make_user, fund, buy, runtime, monkeypatch, body
):
    user = make_user()
    fund(user, "100000")
    response = buy(user, phone="08011111111", **body)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["customer_id"] == body["customer_id"]
    monkeypatch.setattr(runtime, "settings", runtime.settings.with_overrides(vtpass_mode="live"))
    if body["service_id"] in ("spectranet", "mtn-data", "jamb"):
        refused = buy(user, phone="08011111111", **body)
        assert refused.status_code == 422
        assert "customer_id" in refused.get_json()["error"]["fields"]


def test_a_sandbox_value_is_never_a_customer_for_airtime(make_user, fund, buy):
    user = make_user()
    fund(user, "1000")
    response = buy(
        user, phone="08011111111", service_id="mtn", amount=100, customer_id="1212121212"
    )
    assert response.status_code == 422
