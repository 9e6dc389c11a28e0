"""One test per VTPass sandbox simulator rule."""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask, request

from simulator import create_app
from simulator.server import make_server, start_in_thread

LAGOS = ZoneInfo("Africa/Lagos")
GET_HEADERS = {"api-key": "sim-api-key", "public-key": "PK_sim"}
POST_HEADERS = {"api-key": "sim-api-key", "secret-key": "SK_sim"}
DOCUMENTED = {
    "airtime": {"mtn", "glo", "airtel", "etisalat"},
    "data": {
        "mtn-data",
        "glo-data",
        "glo-sme-data",
        "airtel-data",
        "etisalat-data",
        "smile-direct",
        "spectranet",
    },
    "electricity-bill": {
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
    },
    "tv-subscription": {"dstv", "gotv", "startimes", "showmax"},
    "education": {"waec", "waec-registration", "jamb"},
}


def rid(days_ago: int = 0) -> str:
    """Mint a request id dated today (or days_ago) in Lagos."""
    stamp = datetime.now(LAGOS) - timedelta(days=days_ago)
    return stamp.strftime("%Y%m%d%H%M") + secrets.token_hex(6)


def wait_for(predicate, timeout: float = 5.0):
    """Poll predicate until it returns something truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


@pytest.fixture
def client():
    return create_app({"TIMEOUT_STALL_S": 0}).test_client()


@pytest.fixture
def live():
    sim = start_in_thread({"TIMEOUT_STALL_S": 2})
    yield sim
    sim.stop()


@pytest.fixture
def receiver():
    """Collect callbacks POSTed to a local HTTP endpoint."""
    received: list[dict] = []
    app = Flask("callback_receiver")

    @app.post("/hook")
    def hook():
        received.append(request.get_json())
        return {"response": "success"}

    server = make_server(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


def pay(client, **fields) -> dict:
    body = {
        "request_id": rid(),
        "serviceID": "mtn",
        "amount": 100,
        "phone": "08011111111",
        **fields,
    }
    return client.post("/api/pay", json=body, headers=POST_HEADERS).get_json()


def requery(client, request_id: str) -> dict:
    return client.post(
        "/api/requery", json={"request_id": request_id}, headers=POST_HEADERS
    ).get_json()


def status(body: dict) -> str:
    return body["content"]["transactions"]["status"]


def live_pay(live, timeout: float | tuple[float, float] = 5, **fields) -> requests.Response:
    body = {"request_id": rid(), "amount": 100, "phone": "08011111111", **fields}
    return requests.post(f"{live.url}/api/pay", headers=POST_HEADERS, json=body, timeout=timeout)


def settle(client, request_id: str, final: str) -> int:
    response = client.post(f"/_sim/transactions/{request_id}/settle", json={"status": final})
    return response.status_code


def balance(client) -> float:
    return client.get("/api/balance", headers=GET_HEADERS).get_json()["contents"]["balance"]


def verify(client, **body) -> dict:
    return client.post("/api/merchant-verify", json=body, headers=POST_HEADERS).get_json()


def ledger(client) -> dict[str, dict]:
    return {t["request_id"]: t for t in client.get("/_sim/transactions").get_json()["data"]}


def script(client, **body) -> None:
    assert client.post("/_sim/scripts", json=body).status_code == 201


def test_get_without_public_key_is_087(client):
    body = client.get(
        "/api/balance", headers={"api-key": "sim-api-key", "public-key": "PK_wrong"}
    ).get_json()
    assert body == {"code": "087", "response_description": "INVALID CREDENTIALS"}


def test_post_needs_secret_key_not_public_key(client):
    response = client.post("/api/pay", json={"request_id": rid()}, headers=GET_HEADERS)
    assert response.status_code == 200
    assert response.get_json()["code"] == "087"


def test_catalog_gets_answer_000_without_code(client):
    body = client.get("/api/services?identifier=airtime", headers=GET_HEADERS).get_json()
    assert body["response_description"] == "000" and "code" not in body
    mtn = next(s for s in body["content"] if s["serviceID"] == "mtn")
    assert (mtn["minimium_amount"], mtn["maximum_amount"]) == ("50", "50000")


def test_every_documented_service_is_listed_under_its_category(client):
    for category, service_ids in DOCUMENTED.items():
        body = client.get(f"/api/services?identifier={category}", headers=GET_HEADERS).get_json()
        assert {s["serviceID"] for s in body["content"]} == service_ids


def test_variations_are_duplicated_under_varations(client):
    content = client.get("/api/service-variations?serviceID=jamb", headers=GET_HEADERS).get_json()[
        "content"
    ]
    assert content["variations"] == content["varations"]
    assert {v["variation_code"] for v in content["variations"]} >= {"utme-mock", "utme-no-mock"}
    assert content["serviceID"] == "jamb" and content["ServiceName"]


def test_variation_amounts_mix_strings_and_numbers(client):
    def amount(service_id):
        body = client.get(
            f"/api/service-variations?serviceID={service_id}", headers=GET_HEADERS
        ).get_json()
        return body["content"]["variations"][0]["variation_amount"]

    assert isinstance(amount("mtn-data"), str) and isinstance(amount("glo-data"), int)


def test_balance_uses_number_code_and_plural_key(client):
    body = client.get("/api/balance", headers=GET_HEADERS).get_json()
    assert body == {"code": 1, "contents": {"balance": 1_000_000.0}}


@pytest.mark.parametrize("request_id", [rid(days_ago=1), "2025AB101200abc", "20250310"])
def test_improper_request_id_is_085(client, request_id):
    assert pay(client, request_id=request_id)["code"] == "085"
    assert ledger(client) == {}


def test_reused_request_id_is_014_and_counted_in_pay_calls(client):
    request_id = rid()
    assert pay(client, request_id=request_id)["code"] == "000"
    assert pay(client, request_id=request_id, phone="08099999999")["code"] == "014"
    record = ledger(client)[request_id]
    assert record["pay_calls"] == 2 and record["charged"] and record["customer"] == "08011111111"


def test_requery_of_unknown_request_id_is_015(client):
    assert requery(client, rid()) == {"code": "015", "response_description": "INVALID REQUEST ID"}


def test_airtime_success_value_delivers_in_current_format(client):
    request_id = rid()
    body = pay(client, request_id=request_id, amount="100")
    txn = body["content"]["transactions"]
    assert (body["code"], txn["status"], txn["unit_price"], body["amount"]) == (
        "000",
        "delivered",
        "100",
        100,
    )
    assert body["transaction_date"].endswith("Z") and len(txn["transactionId"]) == 26
    assert status(requery(client, request_id)) == "delivered"
    assert balance(client) == 1_000_000 - txn["total_amount"]


def test_airtime_pending_value_stays_pending(client):
    request_id = rid()
    assert status(pay(client, request_id=request_id, phone="201000000000")) == "pending"
    for _ in range(3):
        assert status(requery(client, request_id)) == "pending"
    assert ledger(client)[request_id]["charged"]


def test_airtime_unexpected_value_answers_html_but_charges(client):
    request_id = rid()
    response = client.post(
        "/api/pay",
        headers=POST_HEADERS,
        json={"request_id": request_id, "serviceID": "glo", "amount": 100, "phone": "500000000000"},
    )
    assert response.status_code == 200 and response.get_json(silent=True) is None
    assert response.get_data(as_text=True).lstrip().startswith("<html>")
    assert ledger(client)[request_id]["status"] == "delivered"


def test_airtime_other_value_fails_flat_and_is_not_charged(client):
    request_id = rid()
    assert pay(client, request_id=request_id, phone="08012345678") == {
        "code": "016",
        "response_description": "TRANSACTION FAILED",
    }
    record = ledger(client)[request_id]
    assert (record["status"], record["charged"]) == ("failed", False)
    assert status(requery(client, request_id)) == "failed"


def test_airtime_no_response_value_drops_the_connection(live):
    request_id = rid()
    with pytest.raises(requests.ConnectionError):
        live_pay(live, request_id=request_id, serviceID="airtel", phone="400000000000")
    record = requests.get(f"{live.url}/_sim/transactions/{request_id}").json()["data"]
    assert (record["status"], record["charged"]) == ("delivered", True)


def test_airtime_timeout_value_charges_then_stalls(live):
    request_id = rid()
    with pytest.raises(requests.ReadTimeout):
        live_pay(live, (2, 0.5), request_id=request_id, serviceID="etisalat", phone="300000000000")
    body = requests.post(
        f"{live.url}/api/requery", headers=POST_HEADERS, json={"request_id": request_id}
    ).json()
    assert status(body) == "delivered"


def test_release_answers_stalled_calls_at_once_and_later_stalls_wait_again(live):
    requests.post(
        f"{live.url}/_sim/scripts",
        json={"customer": "08011111111", "behaviour": "charge_then_hang", "stall_s": 300},
    ).raise_for_status()
    request_id = rid()
    answers: list[requests.Response] = []
    call = threading.Thread(
        target=lambda: answers.append(live_pay(live, 60, request_id=request_id, serviceID="mtn"))
    )
    call.start()
    assert wait_for(lambda: requests.get(f"{live.url}/_sim/transactions/{request_id}").ok, 30)
    assert requests.post(f"{live.url}/_sim/release").json() == {"status": "ok"}
    call.join(timeout=30)
    assert status(answers[0].json()) == "delivered"
    # The release is spent: a call stalled after it waits its own stall again.
    with pytest.raises(requests.ReadTimeout):
        live_pay(live, (2, 0.5), serviceID="etisalat", phone="300000000000")


def test_timeout_value_eventually_answers_success(live):
    response = live_pay(live, 10, serviceID="mtn", phone="300000000000")
    assert status(response.json()) == "delivered"


def test_electricity_prepaid_token_is_in_purchased_code(client):
    body = pay(
        client,
        serviceID="ikeja-electric",
        billersCode="1111111111111",
        variation_code="prepaid",
        amount=5000,
    )
    token = body["mainToken"]
    assert body["purchased_code"] == f"Token : {token}" and len(token) == 20
    assert body["units"] == "79.9 kWh"


def test_electricity_postpaid_has_no_token(client):
    body = pay(
        client,
        serviceID="eko-electric",
        billersCode="1010101010101",
        variation_code="postpaid",
        amount=5000,
    )
    assert status(body) == "delivered"
    assert body["purchased_code"] == "" and "token" not in body and "mainToken" not in body


def test_electricity_amount_limits_and_variation(client):
    meter = {"serviceID": "jos-electric", "billersCode": "1111111111111"}
    assert pay(client, **meter, variation_code="prepaid", amount=100)["code"] == "013"
    assert pay(client, **meter, variation_code="prepaid", amount="lots")["code"] == "013"
    assert pay(client, **meter, variation_code="prepaid", amount=600000)["code"] == "017"
    assert pay(client, **meter, variation_code="smart", amount=5000)["code"] == "010"
    assert pay(client, serviceID="no-such-disco")["code"] == "012"


def test_waec_cards_follow_quantity_in_the_older_format(client):
    body = pay(client, serviceID="waec", variation_code="waecdirect", quantity=3, amount=1)
    assert len(body["cards"]) == 3 and all(
        c["Serial"].startswith("WRN") and c["Pin"] for c in body["cards"]
    )
    assert all(c["Pin"] in body["purchased_code"] for c in body["cards"])
    assert body["amount"] == "2700.00" and body["transactionId"]
    assert set(body["transaction_date"]) == {"date", "timezone_type", "timezone"}
    assert "transactionId" not in body["content"]["transactions"]
    assert pay(client, serviceID="waec", variation_code="waecdirect", quantity=11)["code"] == "032"


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        (
            {"serviceID": "waec-registration", "variation_code": "waec-registraion", "quantity": 2},
            "tokens",
        ),
        ({"serviceID": "jamb", "variation_code": "utme-mock", "billersCode": "0123456789"}, "Pin"),
        (
            {
                "serviceID": "spectranet",
                "variation_code": "spectranet-1000",
                "billersCode": "1212121212",
            },
            "cards",
        ),
        ({"serviceID": "showmax", "variation_code": "full"}, "Voucher"),
    ],
)
def test_product_deliverables_come_with_purchased_code(client, fields, key):
    body = pay(client, **fields)
    assert status(body) == "delivered"
    assert body[key] and body["purchased_code"]


def test_tv_renew_charges_the_given_amount_and_change_charges_the_plan(client):
    card = {"serviceID": "dstv", "billersCode": "1212121212"}
    renewal = verify(client, **card)["content"]["Renewal_Amount"]
    renew = pay(client, **card, subscription_type="renew", amount=renewal)
    change = pay(
        client, **card, subscription_type="change", variation_code="dstv-padi", quantity=2, amount=1
    )
    assert renew["amount"] == 12500 and change["amount"] == 5900
    assert pay(client, **card, subscription_type="change")["code"] == "010"


def test_verify_meter_success(client):
    content = verify(
        client, serviceID="kano-electric", billersCode="1010101010101", type="postpaid"
    )["content"]
    assert content["Customer_Name"] == "TESTMETER1" and content["Meter_Type"] == "POSTPAID"
    assert content["WrongBillersCode"] is False


def test_verify_unknown_smartcard_is_000_with_wrong_billers_code(client):
    body = verify(client, serviceID="dstv", billersCode="9999999999")
    assert body["code"] == "000"
    assert body["content"]["WrongBillersCode"] is True and body["content"]["error"]


def test_verify_jamb_profile_answers_020(client):
    body = verify(client, serviceID="jamb", billersCode="0123456789", type="utme-mock")
    assert (body["code"], body["content"]["Customer_Name"]) == ("020", "Capital James")


def test_verify_smile_email_lists_accounts(client):
    body = client.post(
        "/api/merchant-verify/smile/email",
        headers=POST_HEADERS,
        json={"billersCode": "tester@sandbox.com", "serviceID": "smile-direct"},
    ).get_json()
    account_id = str(body["content"]["AccountList"]["Account"][0]["AccountId"])
    bought = pay(client, serviceID="smile-direct", billersCode=account_id, variation_code="516")
    assert status(bought) == "delivered"


def test_duplicate_guard_019_spares_magic_values(client):
    assert pay(client, phone="08055555555")["code"] == "016"
    assert pay(client, phone="08055555555") == {
        "code": "019",
        "response_description": "LIKELY DUPLICATE TRANSACTION",
    }
    assert pay(client, serviceID="glo", phone="08055555555")["code"] == "016"
    assert pay(client)["code"] == pay(client)["code"] == "000"


def test_low_wallet_balance_is_018(client):
    client.post("/_sim/config", json={"BALANCE": 50})
    assert pay(client, amount=100)["code"] == "018"
    assert ledger(client) == {}


def test_script_pending_resolves_after_k_requeries(client):
    script(
        client,
        customer="08022222222",
        behaviour="pending",
        resolve_after_requeries=2,
        final_status="failed",
    )
    request_id = rid()
    assert status(pay(client, request_id=request_id, phone="08022222222")) == "pending"
    statuses = [status(requery(client, request_id)) for _ in range(4)]
    assert statuses == ["pending", "pending", "failed", "failed"]
    assert ledger(client)[request_id]["charged"] is False


def test_script_processing_answers_099_until_resolved(client):
    script(client, customer="08033333333", behaviour="processing", resolve_after_requeries=1)
    request_id = rid()
    assert pay(client, request_id=request_id, phone="08033333333")["code"] == "099"
    assert requery(client, request_id)["code"] == "099"
    assert status(requery(client, request_id)) == "delivered"


def test_script_times_then_sandbox_default(client):
    script(client, customer="08011111111", behaviour="fail", times=1, code="030")
    assert pay(client)["code"] == "030"
    assert pay(client)["code"] == "000"


@pytest.mark.parametrize(("behaviour", "status_code"), [("garbage", 200), ("http_500", 500)])
def test_script_unclear_answers_still_charge(client, behaviour, status_code):
    script(client, customer="08044444444", behaviour=behaviour)
    request_id = rid()
    response = client.post(
        "/api/pay",
        headers=POST_HEADERS,
        json={"request_id": request_id, "serviceID": "mtn", "amount": 100, "phone": "08044444444"},
    )
    assert response.status_code == status_code and response.get_json(silent=True) is None
    assert ledger(client)[request_id]["charged"]


def test_script_odd_code_answers_that_code_and_charges(client):
    script(client, customer="08066666666", behaviour="odd_code", code="083")
    request_id = rid()
    assert pay(client, request_id=request_id, phone="08066666666")["code"] == "083"
    assert ledger(client)[request_id]["charged"]


def test_script_with_unknown_key_is_rejected(client):
    body = {"customer": "08011111111", "behaviour": "pending", "resolve_after": 2}
    response = client.post("/_sim/scripts", json=body)
    assert response.status_code == 400 and "resolve_after" in response.get_json()["error"]


def test_script_fields_replace_the_minted_product_fields(client):
    fields = {"purchased_code": "Token : 1111 2222 3333 4444 5555", "token": "11112222333344449999"}
    script(client, customer="45454545454", behaviour="deliver", fields=fields)
    meter = {"serviceID": "portharcourt-electric", "billersCode": "45454545454"}
    body = pay(client, **meter, variation_code="prepaid", amount=1000)
    assert status(body) == "delivered"
    assert (body["purchased_code"], body["token"]) == (fields["purchased_code"], fields["token"])
    assert "units" not in body


def test_script_fields_show_only_once_delivered(client):
    script(
        client,
        customer="08012121212",
        behaviour="pending",
        resolve_after_requeries=1,
        fields={"Voucher": ["SHMXAAAA1111", "SHMXBBBB2222"]},
    )
    request_id = rid()
    first = pay(
        client,
        request_id=request_id,
        serviceID="showmax",
        variation_code="full",
        phone="08012121212",
    )
    assert status(first) == "pending" and "Voucher" not in first
    requery(client, request_id)
    assert requery(client, request_id)["Voucher"] == ["SHMXAAAA1111", "SHMXBBBB2222"]


def test_query_format_puts_the_outcome_and_fields_inside_content(client):
    script(client, customer="1111111111111", behaviour="deliver", format="query", times=1)
    request_id = rid()
    meter = {"serviceID": "ikeja-electric", "billersCode": "1111111111111"}
    body = pay(client, request_id=request_id, **meter, variation_code="prepaid", amount=5000)
    assert (body["code"], body["response_code"]) == ("001", "000")
    content = body["content"]
    assert (content["requestId"], content["response_code"]) == (request_id, "000")
    assert content["purchased_code"].startswith("Token : ") and content["units"] == "79.9 kWh"
    assert content["amount"] == "5000.00" and "transactions" not in content
    assert requery(client, request_id) == body


@pytest.mark.parametrize(("final", "inner"), [("delivered", "000"), ("failed", "016")])
def test_query_format_while_pending_then_resolved(client, final, inner):
    script(
        client,
        customer="08013131313",
        behaviour="pending",
        resolve_after_requeries=1,
        final_status=final,
        format="query",
    )
    request_id = rid()
    first = pay(client, request_id=request_id, phone="08013131313")
    assert (first["code"], first["content"]["response_code"]) == ("001", "099")
    requery(client, request_id)
    assert requery(client, request_id)["content"]["response_code"] == inner


@pytest.mark.parametrize(("key", "value"), [("fields", ["x"]), ("format", "xml")])
def test_script_with_bad_fields_or_format_is_rejected(client, key, value):
    body = {"customer": "08011111111", "behaviour": "deliver", key: value}
    response = client.post("/_sim/scripts", json=body)
    assert response.status_code == 400 and key in response.get_json()["error"]


@pytest.mark.parametrize("answer_format", ["current", "legacy", "query"])
def test_a_reversal_answers_the_net_amount_credited_back(client, answer_format):
    script(client, customer="08014141414", behaviour="deliver", format=answer_format)
    request_id = rid()
    body = {
        "serviceID": "glo-sme-data",
        "variation_code": "glo-dg-50",
        "billersCode": "08014141414",
    }
    delivered = pay(client, request_id=request_id, phone="08014141414", **body)
    assert client.post(f"/_sim/transactions/{request_id}/reverse").status_code == 200
    reversed_ = requery(client, request_id)
    gross, net = (
        (delivered["content"]["amount"], reversed_["content"]["amount"])
        if answer_format == "query"
        else (delivered["amount"], reversed_["amount"])
    )
    assert float(gross) == 50 and float(net) == 48.5


def test_script_charge_then_drop(live):
    requests.post(
        f"{live.url}/_sim/scripts", json={"customer": "1234567890", "behaviour": "charge_then_drop"}
    )
    request_id = rid()
    with pytest.raises(requests.ConnectionError):
        live_pay(
            live,
            request_id=request_id,
            serviceID="dstv",
            billersCode="1234567890",
            variation_code="dstv-padi",
        )
    assert requests.get(f"{live.url}/_sim/transactions/{request_id}").json()["data"]["charged"]


def test_200_concurrent_pays_with_one_request_id_charge_once(live):
    requests.post(f"{live.url}/_sim/config", json={"LATENCY_MS": 200})
    request_id = rid()

    def attempt(_):
        return live_pay(live, 30, request_id=request_id, serviceID="mtn").json()["code"]

    with ThreadPoolExecutor(max_workers=200) as pool:
        codes = list(pool.map(attempt, range(200)))
    assert sorted(set(codes)) == ["000", "014"] and codes.count("000") == 1
    record = requests.get(f"{live.url}/_sim/transactions/{request_id}").json()["data"]
    assert record["pay_calls"] == 200


def test_reverse_refunds_and_repeats_callbacks(receiver):
    url, received = receiver
    client = create_app({"CALLBACK_URL": url}).test_client()
    request_id = rid()
    pay(client, request_id=request_id)
    response = client.post(f"/_sim/transactions/{request_id}/reverse", json={"repeat_callbacks": 3})
    assert response.get_json()["data"]["status"] == "reversed"
    assert wait_for(lambda: len(received) >= 3)
    assert {c["type"] for c in received} == {"transaction-update"}
    assert {status(c["data"]) for c in received} == {"reversed"}
    assert status(requery(client, request_id)) == "reversed"
    assert balance(client) == 1_000_000


def test_settle_pending_sends_callback(receiver):
    url, received = receiver
    client = create_app().test_client()
    client.post("/_sim/config", json={"CALLBACK_URL": url})
    request_id = rid()
    pay(client, request_id=request_id, phone="201000000000")
    assert settle(client, request_id, "delivered") == 200
    assert wait_for(lambda: received)
    assert received[0]["data"]["requestId"] == request_id
    assert status(received[0]["data"]) == "delivered"
    assert settle(client, request_id, "failed") == 409


def test_reset_clears_transactions_and_scripts(client):
    script(client, customer="08011111111", behaviour="fail")
    pay(client)
    client.post("/_sim/reset")
    assert ledger(client) == {} and client.get("/_sim/scripts").get_json()["data"] == []
    assert pay(client)["code"] == "000"


def test_apps_do_not_share_state(client):
    pay(client)
    assert ledger(create_app().test_client()) == {}


def test_latency_applies_to_vtpass_endpoints_only():
    client = create_app({"LATENCY_MS": 150}).test_client()
    started = time.monotonic()
    client.get("/api/balance", headers=GET_HEADERS)
    assert time.monotonic() - started >= 0.15
    client.post("/_sim/config", json={"LATENCY_MS": 60_000})
    started = time.monotonic()
    client.get("/_sim/transactions")
    assert time.monotonic() - started < 10


def test_a_reversal_can_make_its_next_requeries_stall():
    """A requery that times out just after the notice (bench.chaos --reversals)."""
    app = create_app({"TIMEOUT_STALL_S": 60})
    client = app.test_client()
    request_id = rid()
    pay(client, request_id=request_id)
    bad = client.post(f"/_sim/transactions/{request_id}/reverse", json={"stall_requeries": -1})
    assert bad.status_code == 400
    response = client.post(f"/_sim/transactions/{request_id}/reverse", json={"stall_requeries": 1})
    assert response.status_code == 200
    answers: list[dict] = []
    stalled = threading.Thread(target=lambda: answers.append(requery(client, request_id)))
    stalled.start()
    sim = app.extensions["vtpass_sim"]
    assert wait_for(lambda: sim.ledger.get(request_id).requery_stalls == 0)
    assert stalled.is_alive() and answers == []  # held by the stall until released
    client.post("/_sim/release")
    stalled.join(10)
    assert status(answers[0]) == "reversed"
    assert status(requery(client, request_id)) == "reversed"  # the next one does not stall
