"""Customer verification: meters, smartcards, JAMB profiles, Smile, and VTPass's quirks."""

from __future__ import annotations

import pytest


def verify(client, user, **body):
    return client.post("/api/v1/verifications", json=body, headers=user.headers)


@pytest.mark.parametrize(
    ("body", "name", "shown"),
    [
        (
            {"service_id": "ikeja-electric", "customer_id": "1111111111111", "type": "prepaid"},
            "TESTMETER1",
            {"Meter_Type": "PREPAID"},
        ),
        (
            {"service_id": "eko-electric", "customer_id": "1010101010101", "type": "postpaid"},
            "TESTMETER1",
            {"Meter_Type": "POSTPAID"},
        ),
        ({"service_id": "dstv", "customer_id": "1212121212"}, "TEST METER", {}),
        ({"service_id": "startimes", "customer_id": "1212121212"}, "TestMan Decoder", {}),
        (
            {"service_id": "jamb", "customer_id": "0123456789", "type": "utme-mock"},
            "Capital James",
            {},
        ),
        ({"service_id": "smile-direct", "customer_id": "tester@sandbox.com"}, None, {}),
    ],
)
def test_known_customers(client, make_user, body, name, shown):
    response = verify(client, make_user(), **body)
    assert response.status_code == 200, response.get_json()
    found = response.get_json()
    assert found["service_id"] == body["service_id"]
    assert found["customer_id"] == body["customer_id"]
    assert found["customer_name"]
    if name:
        assert found["customer_name"] == name
    for key, value in shown.items():
        assert found["details"][key] == value


def test_electricity_shows_address_and_tv_shows_bouquet(client, make_user):
    user = make_user()
    meter = verify(
        client, user, service_id="ikeja-electric", customer_id="1111111111111", type="prepaid"
    ).get_json()
    assert meter["details"]["Address"]
    tv = verify(client, user, service_id="gotv", customer_id="1212121212").get_json()
    assert tv["details"]["Current_Bouquet"] and tv["details"]["Renewal_Amount"]


def test_wrong_number_is_customer_not_found_despite_code_000(client, make_user):
    response = verify(
        client, make_user(), service_id="ikeja-electric", customer_id="9999999999", type="prepaid"
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "customer_not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"service_id": "mtn", "customer_id": "08011111111"}, "service_id"),
        ({"service_id": "nope", "customer_id": "1"}, "service_id"),
        ({"service_id": "dstv"}, "customer_id"),
        ({"service_id": "dstv", "customer_id": ""}, "customer_id"),
    ],
)
def test_bad_verification_requests(client, make_user, body, field):
    response = verify(client, make_user(), **body)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


def test_successful_verification_is_cached(client, make_user, simulator, runtime):
    user = make_user()
    body = {"service_id": "startimes", "customer_id": "1212121212"}
    verify(client, user, **body)
    assert runtime.redis.exists("paylink:cache:verify:startimes::1212121212")
