"""The VTPass client over a fake transport: headers, timeouts, bodies, errors, catalog."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests

from shared.vtpass import (
    CustomerNotFound,
    OutcomeKind,
    Service,
    Variation,
    VTPassAuthError,
    VTPassClient,
    VTPassMaybeSent,
    VTPassNotSent,
    VTPassRejected,
    VTPassResponseError,
)
from shared.vtpass.catalog import parse_balance

DELIVERED = {
    "code": "000",
    "response_description": "TRANSACTION SUCCESSFUL",
    "requestId": "202503101014abcdef123456",
    "amount": 20,
    "content": {"transactions": {"status": "delivered", "transactionId": "174159"}},
}
RID = "202503101014abcdef123456"


def buy_airtime(client: VTPassClient, **overrides: Any):
    args: dict[str, Any] = {
        "request_id": RID,
        "service_id": "mtn",
        "phone": "08011111111",
        "amount": Decimal(20),
    }
    return client.pay(**{**args, **overrides})


# -- headers, timeouts, URLs, redirects ---------------------------------------------


def test_post_sends_api_key_and_secret_key_only(keys, client, fake):
    fake.reply_json(DELIVERED)
    buy_airtime(client)
    headers = fake.sent[-1].headers
    assert headers["api-key"] == keys.api
    assert headers["secret-key"] == keys.secret
    assert "public-key" not in headers
    assert headers["Content-Type"] == "application/json"


def test_get_sends_api_key_and_public_key_only(keys, client, fake):
    fake.reply_json({"code": 1, "contents": {"balance": 10}})
    client.balance()
    headers = fake.sent[-1].headers
    assert headers["api-key"] == keys.api
    assert headers["public-key"] == keys.public
    assert "secret-key" not in headers


def test_every_call_passes_connect_and_read_timeouts(client, fake):
    fake.reply_json(DELIVERED)
    fake.reply_json(DELIVERED)
    fake.reply_json({"code": "000", "content": {"Customer_Name": "TEST METER"}})
    fake.reply_json({"response_description": "000", "content": []})
    fake.reply_json({"response_description": "000", "content": []})
    fake.reply_json({"response_description": "000", "content": {"variations": []}})
    fake.reply_json({"code": 1, "contents": {"balance": 10}})
    fake.reply_json({"code": "000", "content": {"Customer_Name": "X"}})
    buy_airtime(client)
    client.requery(RID)
    client.verify(service_id="dstv", billers_code="1212121212")
    client.service_categories()
    client.services("airtime")
    client.variations("mtn-data")
    client.balance()
    client.verify_smile_email("tester@sandbox.com")
    assert len(fake.send_kwargs) == 8
    assert all(kw["timeout"] == (3.5, 27.0) for kw in fake.send_kwargs)


def test_default_timeouts_are_5_and_30():
    client = VTPassClient(base_url="https://x/api", api_key="a", public_key="p", secret_key="s")
    assert client.timeout == (5.0, 30.0)


def test_redirects_are_not_followed(client, fake):
    fake.reply("", 302, Location="https://elsewhere.example/pay")
    outcome = buy_airtime(client)
    assert outcome.kind is OutcomeKind.PENDING
    assert len(fake.sent) == 1


@pytest.mark.parametrize(
    "base_url", ["https://sandbox.vtpass.com/api", "https://sandbox.vtpass.com/api/"]
)
def test_base_url_with_or_without_trailing_slash(fake, base_url):
    session = requests.Session()
    session.mount("https://", fake)
    client = VTPassClient(
        base_url=base_url, api_key="a", public_key="p", secret_key="s", session=session
    )
    fake.reply_json(DELIVERED)
    fake.reply_json({"response_description": "000", "content": []})
    client.requery(RID)
    client.services("tv-subscription")
    assert fake.sent[0].url == "https://sandbox.vtpass.com/api/requery"
    assert fake.sent[1].url == "https://sandbox.vtpass.com/api/services?identifier=tv-subscription"


def test_one_session_is_made_per_client_and_reused(fake, monkeypatch):
    made: list[requests.Session] = []

    class CountingSession(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            self.mount("https://", fake)
            made.append(self)

    monkeypatch.setattr(requests, "Session", CountingSession)
    client = VTPassClient(base_url="https://v/api", api_key="a", public_key="p", secret_key="s")
    fake.reply_json(DELIVERED)
    fake.reply_json({"code": 1, "contents": {"balance": 5}})
    client.requery(RID)
    client.balance()
    assert len(made) == 1
    assert len(fake.sent) == 2


# -- repr never shows secrets ------------------------------------------------------------


def test_repr_masks_keys(keys, client):
    text = repr(client)
    for secret in keys.all():
        assert secret not in text
    assert "sandbox.vtpass.com" in text
    assert str(client) == text


def test_repr_masks_basic_auth_in_the_url():
    client = VTPassClient(
        base_url="https://me%40x.com:hunter2@vtpass.com:8443/api",
        api_key="a",
        public_key="p",
        secret_key="s",
    )
    assert "hunter2" not in repr(client)
    assert "vtpass.com:8443" in repr(client)


# -- pay body --------------------------------------------------------------------------------


def test_pay_body_for_airtime(client, fake):
    fake.reply_json(DELIVERED)
    outcome = buy_airtime(client, phone=8011111111)
    assert fake.sent[-1].method == "POST"
    assert fake.sent[-1].url.endswith("/api/pay")
    assert fake.last_json() == {
        "request_id": RID,
        "serviceID": "mtn",
        "phone": "8011111111",
        "amount": 20,
    }
    assert outcome.kind is OutcomeKind.DELIVERED
    assert outcome.transaction_id == "174159"


def test_pay_body_for_tv_renewal(client, fake):
    fake.reply_json(DELIVERED)
    client.pay(
        request_id=RID,
        service_id="dstv",
        phone="08011111111",
        amount=Decimal("1850.50"),
        billers_code="1212121212",
        subscription_type="renew",
        quantity=1,
    )
    assert fake.last_json() == {
        "request_id": RID,
        "serviceID": "dstv",
        "phone": "08011111111",
        "amount": "1850.50",
        "billersCode": "1212121212",
        "subscription_type": "renew",
        "quantity": 1,
    }


def test_pay_body_for_a_plan_sends_variation_code(client, fake):
    fake.reply_json(DELIVERED)
    client.pay(
        request_id=RID,
        service_id="mtn-data",
        phone="08011111111",
        billers_code="08011111111",
        variation_code="mtn-10mb-100",
    )
    body = fake.last_json()
    assert body["variation_code"] == "mtn-10mb-100"
    assert "amount" not in body


@pytest.mark.parametrize(
    ("amount", "sent"),
    [
        (Decimal("100.00"), 100),
        (500, 500),
        ("250.5", "250.5"),
        (Decimal("1E+3"), 1000),
        (Decimal("0.1"), "0.1"),
    ],
)
def test_amount_is_sent_without_float_error(client, fake, amount, sent):
    fake.reply_json(DELIVERED)
    buy_airtime(client, amount=amount)
    assert fake.last_json()["amount"] == sent


@pytest.mark.parametrize("amount", [Decimal(0), Decimal(-5), "abc", Decimal("NaN")])
def test_invalid_amount_is_refused_before_sending(client, fake, amount):
    with pytest.raises(ValueError):
        buy_airtime(client, amount=amount)
    assert fake.sent == []


def test_requery_body(client, fake):
    fake.reply_json(DELIVERED)
    client.requery(RID)
    assert fake.sent[-1].url.endswith("/api/requery")
    assert fake.last_json() == {"request_id": RID}


# -- pay never raises for transport trouble ---------------------------------------------


@pytest.mark.parametrize("failure", ["fail_refused", "fail_dns", "fail_connect_timeout"])
def test_pay_that_never_left_is_not_sent(client, fake, failure):
    getattr(fake, failure)()
    assert buy_airtime(client).kind is OutcomeKind.NOT_SENT


@pytest.mark.parametrize("failure", ["fail_read_timeout", "fail_reset", "fail_chunked"])
def test_pay_that_may_have_arrived_is_pending(client, fake, failure):
    getattr(fake, failure)()
    assert buy_airtime(client).kind is OutcomeKind.PENDING


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ConnectionError("something odd"),
        requests.exceptions.SSLError("tls"),
        requests.exceptions.ProxyError("proxy"),
        requests.exceptions.RequestException("generic"),
    ],
)
def test_unclassifiable_transport_errors_are_pending(client, fake, exc):
    fake.fail(exc)
    assert buy_airtime(client).kind is OutcomeKind.PENDING


def test_requery_read_timeout_is_pending(client, fake):
    fake.fail_read_timeout()
    assert client.requery(RID).kind is OutcomeKind.PENDING


def test_pay_5xx_html_is_pending(client, fake):
    fake.reply("<html>502 Bad Gateway</html>", 502)
    outcome = buy_airtime(client)
    assert outcome.kind is OutcomeKind.PENDING
    assert outcome.http_status == 502


def test_pay_answer_about_another_request_id_needs_review(client, fake):
    fake.reply_json({**DELIVERED, "requestId": "202503101014someoneelse"})
    outcome = buy_airtime(client)
    assert outcome.kind is OutcomeKind.PENDING
    assert outcome.needs_review


def test_keys_echoed_in_a_body_are_masked(keys, client, fake, exchanges):
    fake.reply(f"<html>debug: api-key={keys.api} secret={keys.secret}</html>", 500)
    buy_airtime(client)
    assert keys.api not in exchanges[0]["response"]
    assert keys.secret not in exchanges[0]["response"]
    fake.reply_json({**DELIVERED, "echo": keys.secret})
    outcome = buy_airtime(client)
    assert keys.secret not in json.dumps(outcome.raw)


# -- the exchange hook (audit log) -------------------------------------------------------


def test_exchange_record_is_redacted_and_complete(keys, client, fake, exchanges):
    fake.reply_json(DELIVERED)
    buy_airtime(client)
    (record,) = exchanges
    assert set(record) == {
        "method",
        "endpoint",
        "request",
        "http_status",
        "response",
        "duration_ms",
        "error",
    }
    assert record["method"] == "POST"
    assert record["endpoint"] == "pay"
    assert record["request"]["request_id"] == RID
    assert record["http_status"] == 200
    assert record["response"] == DELIVERED
    assert record["error"] is None
    assert isinstance(record["duration_ms"], int)
    dumped = json.dumps(record)
    for secret in keys.all():
        assert secret not in dumped


def test_exchange_record_truncates_text_responses(client, fake, exchanges):
    fake.reply("<html>" + "x" * 10_000 + "</html>", 502)
    buy_airtime(client)
    assert len(exchanges[0]["response"]) <= 2048


def test_exchange_record_names_the_transport_error(client, fake, exchanges):
    fake.fail_read_timeout()
    buy_airtime(client)
    assert exchanges[0]["error"] == "VTPassMaybeSent: ReadTimeout"
    assert exchanges[0]["http_status"] is None


def test_exchange_record_for_get_carries_the_query(client, fake, exchanges):
    fake.reply_json({"response_description": "000", "content": {"variations": []}})
    client.variations("dstv")
    assert exchanges[0]["method"] == "GET"
    assert exchanges[0]["request"] == {"serviceID": "dstv"}


def test_a_failing_hook_never_hides_the_outcome(fake):
    session = requests.Session()
    session.mount("https://", fake)

    def broken(record: dict[str, Any]) -> None:
        raise RuntimeError("audit database down")

    client = VTPassClient(
        base_url="https://v/api",
        api_key="a",
        public_key="p",
        secret_key="s",
        session=session,
        on_exchange=broken,
    )
    fake.reply_json(DELIVERED)
    assert buy_airtime(client).kind is OutcomeKind.DELIVERED


# -- verify ---------------------------------------------------------------------------------


def test_verify_meter(client, fake):
    fake.reply_json(
        {
            "code": "000",
            "content": {
                "Customer_Name": "TESTMETER1",
                "Address": "ABULE - EGBA BU ABULE",
                "Meter_Number": "1111111111111",
                "Customer_Account_Type": "NMD",
                "Meter_Type": "PREPAID",
                "Minimum_Amount": 2000,
                "WrongBillersCode": False,
            },
        }
    )
    found = client.verify(service_id="ikeja-electric", billers_code="1111111111111", type="prepaid")
    assert fake.sent[-1].url.endswith("/api/merchant-verify")
    assert fake.last_json() == {
        "billersCode": "1111111111111",
        "serviceID": "ikeja-electric",
        "type": "prepaid",
    }
    assert found.customer_name == "TESTMETER1"
    assert found.details["Meter_Type"] == "PREPAID"
    assert found.details["Minimum_Amount"] == 2000


def test_verify_smartcard_details(client, fake):
    content = {
        "Customer_Name": "TEST METER",
        "Status": "ACTIVE",
        "Due_Date": "2025-02-06T00:00:00",
        "Current_Bouquet": "DStv Compact",
        "Renewal_Amount": 19000,
    }
    fake.reply_json({"code": "000", "content": content})
    found = client.verify(service_id="dstv", billers_code=1212121212)
    assert fake.last_json() == {"billersCode": "1212121212", "serviceID": "dstv"}
    assert found.details == content


def test_verify_020_biller_confirmed_is_success(client, fake):
    fake.reply_json(
        {
            "code": "020",
            "response_description": "BILLER CONFIRMED",
            "content": {"Customer_Name": "Capital James"},
        }
    )
    assert (
        client.verify(service_id="jamb", billers_code="0123456789", type="utme-mock").customer_name
        == "Capital James"
    )


@pytest.mark.parametrize("flag", [True, "true"])
def test_verify_quirk_000_with_wrong_billers_code_is_customer_not_found(client, fake, flag):
    fake.reply_json(
        {"code": "000", "content": {"error": "This meter is not correct", "WrongBillersCode": flag}}
    )
    with pytest.raises(CustomerNotFound) as caught:
        client.verify(service_id="ikeja-electric", billers_code="123", type="prepaid")
    assert caught.value.code == "000"
    assert "not correct" in caught.value.description


def test_verify_000_with_only_an_error_is_customer_not_found(client, fake):
    fake.reply_json({"code": "000", "content": {"error": "Invalid smartcard"}})
    with pytest.raises(CustomerNotFound):
        client.verify(service_id="dstv", billers_code="999")


def test_verify_non_success_code_is_customer_not_found(client, fake):
    fake.reply_json({"code": "011", "response_description": "INVALID ARGUMENTS"})
    with pytest.raises(CustomerNotFound) as caught:
        client.verify(service_id="dstv", billers_code="999")
    assert caught.value.code == "011"


def test_verify_busy_code_is_a_response_error_not_a_missing_customer(client, fake):
    fake.reply_json({"code": "030", "response_description": "BILLER NOT REACHABLE AT THIS POINT"})
    with pytest.raises(VTPassResponseError):
        client.verify(service_id="dstv", billers_code="1212121212")


def test_verify_smile_email_uses_its_endpoint(client, fake):
    fake.reply_json({"code": "000", "content": {"Customer_Name": "Smile User", "AccountList": {}}})
    found = client.verify_smile_email("tester@sandbox.com")
    assert fake.sent[-1].url.endswith("/api/merchant-verify/smile/email")
    assert fake.last_json() == {"billersCode": "tester@sandbox.com", "serviceID": "smile-direct"}
    assert found.customer_name == "Smile User"


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        ("fail_refused", VTPassNotSent),
        ("fail_connect_timeout", VTPassNotSent),
        ("fail_read_timeout", VTPassMaybeSent),
        ("fail_reset", VTPassMaybeSent),
    ],
)
def test_verify_transport_errors_raise_the_tree_from_requests(keys, client, fake, failure, error):
    getattr(fake, failure)()
    with pytest.raises(error) as caught:
        client.verify(service_id="dstv", billers_code="1212121212")
    assert isinstance(caught.value.__cause__, requests.RequestException)
    for secret in keys.all():
        assert secret not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, '{"code": "000"}'),
        (502, "<html>Bad Gateway</html>"),
        (200, ""),
        (200, "<html/>"),
        (200, "[]"),
        (404, "Not Found"),
    ],
)
def test_verify_untrustworthy_answers_raise_response_error(client, fake, status, body):
    fake.reply(body, status)
    with pytest.raises(VTPassResponseError):
        client.verify(service_id="dstv", billers_code="1212121212")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"code": "087", "response_description": "INVALID CREDENTIALS"}),
        (401, {"code": "087", "response_description": "INVALID CREDENTIALS"}),
        (403, {"message": "forbidden"}),
        (200, {"code": "027", "response_description": "IP NOT WHITELISTED"}),
    ],
)
def test_auth_and_configuration_errors_raise_auth_error(client, fake, status, body):
    fake.reply_json(body, status)
    with pytest.raises(VTPassAuthError) as caught:
        client.verify(service_id="dstv", billers_code="1212121212")
    assert caught.value.code == body.get("code")


# -- catalog ---------------------------------------------------------------------------------


def test_service_categories(client, fake):
    fake.reply_json(
        {
            "response_description": "000",
            "content": [{"identifier": "airtime", "name": "Airtime Recharge"}],
        }
    )
    assert client.service_categories() == [{"identifier": "airtime", "name": "Airtime Recharge"}]
    assert fake.sent[-1].method == "GET"
    assert fake.sent[-1].url.endswith("/api/service-categories")


def test_services_read_misspelt_and_correct_amount_keys(client, fake):
    fake.reply_json(
        {
            "response_description": "000",
            "content": [
                {
                    "serviceID": "mtn",
                    "name": "MTN Airtime VTU",
                    "minimium_amount": "10",
                    "maximum_amount": 50000,
                    "convinience_fee": "0 %",
                    "product_type": "flexible",
                },
                {
                    "serviceID": "glo",
                    "name": "GLO Airtime VTU",
                    "minimum_amount": "5.5",
                    "maximum_amount": "",
                    "convenience_fee": "N0.00",
                },
                {"name": "no service id"},
            ],
        }
    )
    services = client.services("airtime")
    assert fake.sent[-1].url.endswith("/api/services?identifier=airtime")
    assert services == [
        Service("mtn", "MTN Airtime VTU", Decimal(10), Decimal(50000), "0 %", "flexible"),
        Service("glo", "GLO Airtime VTU", Decimal("5.5"), None, "N0.00", None),
    ]


def test_variations_read_content_variations(client, fake):
    fake.reply_json(
        {
            "response_description": "000",
            "content": {
                "ServiceName": "MTN Data",
                "variations": [
                    {
                        "variation_code": "mtn-10mb-100",
                        "name": "N100 100MB",
                        "variation_amount": "100.00",
                        "fixedPrice": "Yes",
                    },
                    {
                        "variation_code": "mtn-flex",
                        "name": "Flexible",
                        "variation_amount": 0,
                        "fixedPrice": "No",
                    },
                ],
            },
        }
    )
    assert client.variations("mtn-data") == [
        Variation("mtn-10mb-100", "N100 100MB", Decimal("100.00"), True),
        Variation("mtn-flex", "Flexible", Decimal(0), False),
    ]
    assert fake.sent[-1].url.endswith("/api/service-variations?serviceID=mtn-data")


def test_variations_fall_back_to_misspelt_varations(client, fake):
    fake.reply_json(
        {
            "response_description": "000",
            "content": {
                "varations": [
                    {
                        "variation_code": "dstv-padi",
                        "name": "Padi",
                        "variation_amount": 2950,
                        "fixedPrice": "Yes",
                    }
                ]
            },
        }
    )
    assert client.variations("dstv") == [Variation("dstv-padi", "Padi", Decimal(2950), True)]


def test_variations_skip_a_plan_without_a_price(client, fake):
    fake.reply_json(
        {
            "response_description": "000",
            "content": {
                "variations": [{"variation_code": "x", "name": "X", "variation_amount": "?"}]
            },
        }
    )
    assert client.variations("dstv") == []


def test_catalog_rejection_raises_rejected(client, fake):
    fake.reply_json({"code": "012", "response_description": "PRODUCT DOES NOT EXIST"})
    with pytest.raises(VTPassRejected) as caught:
        client.variations("nope")
    assert caught.value.code == "012"


def test_catalog_without_a_list_is_a_response_error(client, fake):
    fake.reply_json({"response_description": "000", "content": {"something": "else"}})
    with pytest.raises(VTPassResponseError):
        client.variations("dstv")


def test_balance_reads_number_code_and_plural_contents(client, fake):
    fake.reply_json({"code": 1, "contents": {"balance": 1081.82}})
    assert client.balance() == Decimal("1081.82")
    assert fake.sent[-1].url.endswith("/api/balance")


def test_balance_with_bad_credentials_raises_auth_error(client, fake):
    fake.reply_json({"code": "087", "response_description": "INVALID CREDENTIALS"})
    with pytest.raises(VTPassAuthError):
        client.balance()


def test_balance_without_a_balance_is_a_response_error(client, fake):
    fake.reply_json({"code": 1, "contents": {}})
    with pytest.raises(VTPassResponseError):
        client.balance()


@pytest.mark.parametrize(
    ("body", "balance"),
    [
        ({"code": 1, "contents": {"balance": 1081.82}}, "1081.82"),
        ({"code": "1", "contents": {"balance": "1081.82"}}, "1081.82"),
        ({"code": 1.0, "content": {"balance": 1081.82}}, "1081.82"),
        ({"code": "000", "contents": {"balance": "1,081.82"}}, "1081.82"),
        ({"code": "001", "content": {"Balance": "\u20a61,081.82"}}, "1081.82"),
        ({"contents": {"balance": 0}}, "0"),
        ({"code": 1, "balance": "250.5"}, "250.5"),
        ({"code": 1, "contents": [], "content": {"balance": 7}}, "7"),
    ],
)
def test_parse_balance_reads_every_seen_shape(body, balance):
    assert parse_balance(body) == Decimal(balance)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"code": 1, "contents": {"balance": "lots"}}, VTPassResponseError),
        ({"code": 1, "contents": {"balance": True}}, VTPassResponseError),
        ({"code": 1, "contents": None}, VTPassResponseError),
        ({"code": "083", "response_description": "SYSTEM ERROR"}, VTPassResponseError),
        ({"code": "016", "contents": {"balance": 10}}, VTPassRejected),
    ],
)
def test_parse_balance_refuses_an_answer_without_a_trustworthy_balance(body, error):
    with pytest.raises(error):
        parse_balance(body)
