"""One test per row of the VTPASS.md response-code table, plus the body shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.vtpass import (
    LAGOS,
    Outcome,
    OutcomeKind,
    VTPassMaybeSent,
    VTPassNotSent,
    VTPassResponseError,
    classify_pay_body,
    classify_pay_response,
    classify_transport_error,
)

K = OutcomeKind


def current_format(status: str | None = "delivered", code: Any = "000", **extra: Any) -> dict:
    """Build a current-format pay/requery answer."""
    transactions: dict[str, Any] = {
        "product_name": "MTN Airtime VTU",
        "unique_element": "08011111111",
        "unit_price": "20",
        "quantity": 1,
        "commission": 0.7,
        "total_amount": 19.3,
        "transactionId": "17415980564672211596777904",
    }
    if status is not None:
        transactions["status"] = status
    return {
        "code": code,
        "response_description": "TRANSACTION SUCCESSFUL",
        "requestId": "202503101014abcdef123456",
        "amount": 20,
        "transaction_date": "2025-03-10T09:14:16.000000Z",
        "purchased_code": "",
        "content": {"transactions": transactions},
        **extra,
    }


def flat(code: Any, description: str = "SOMETHING") -> str:
    return json.dumps({"code": code, "response_description": description})


def pay(body: Any, status: int = 200) -> Outcome:
    text = body if isinstance(body, str) else json.dumps(body)
    return classify_pay_response(status, text, operation="pay")


def requery(body: Any, status: int = 200) -> Outcome:
    text = body if isinstance(body, str) else json.dumps(body)
    return classify_pay_response(status, text, operation="requery")


# -- 000: the transaction status decides -----------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("delivered", K.DELIVERED),
        ("failed", K.FAILED),
        ("reversed", K.REVERSED),
        ("initiated", K.PENDING),
        ("pending", K.PENDING),
        ("processing", K.PENDING),
        (None, K.PENDING),
        ("DELIVERED", K.DELIVERED),
    ],
)
@pytest.mark.parametrize("operation", ["pay", "requery"])
def test_000_is_decided_by_transaction_status(status, kind, operation):
    outcome = classify_pay_response(200, json.dumps(current_format(status)), operation=operation)
    assert outcome.kind is kind
    assert outcome.code == "000"


def test_000_without_content_is_pending():
    assert pay({"code": "000", "response_description": "TRANSACTION SUCCESSFUL"}).kind is K.PENDING


def test_000_with_null_content_is_pending():
    assert pay({"code": "000", "content": None}).kind is K.PENDING


# -- processing / unknown ----------------------------------------------------------


@pytest.mark.parametrize("code", ["099", "089", "083"])
@pytest.mark.parametrize("operation", ["pay", "requery"])
def test_processing_and_system_error_codes_are_pending(code, operation):
    outcome = classify_pay_response(200, flat(code), operation=operation)
    assert outcome.kind is K.PENDING
    assert not outcome.operator_alert


@pytest.mark.parametrize(
    ("status", "kind"),
    [("delivered", K.DELIVERED), ("failed", K.FAILED), ("reversed", K.REVERSED), (None, K.PENDING)],
)
def test_001_maps_by_status_and_unclear_is_pending(status, kind):
    assert requery(current_format(status, code="001")).kind is kind


def test_001_flat_is_pending():
    assert requery(flat("001", "TRANSACTION QUERY")).kind is K.PENDING


def query_format(inner: Any = None, purchased_code: str = "", **content: Any) -> dict:
    """Build an older query-style answer: 001 on top, the outcome inside content."""
    inner_fields = {} if inner is None else {"response_code": inner}
    return {
        "code": "001",
        "response_code": "000",  # the query's own code, never the purchase's outcome
        "response_description": "TRANSACTION QUERY",
        "content": {
            "requestId": "201908181542abc",
            **inner_fields,
            "response_description": "TRANSACTION SUCCESSFUL" if inner == "000" else "TRANSACTION",
            "amount": "500.00",
            "created_date": {
                "date": "2019-08-18 15:20:43.000000",
                "timezone_type": 3,
                "timezone": "Africa/Lagos",
            },
            "purchased_code": purchased_code,
            **content,
        },
    }


@pytest.mark.parametrize("operation", ["pay", "requery"])
def test_001_inner_000_with_a_purchased_code_is_delivered(operation):
    body = query_format("000", "Token : 57880316552890870667", token="57880316552890870667")
    outcome = classify_pay_response(200, json.dumps(body), operation=operation)
    assert outcome.kind is K.DELIVERED
    assert outcome.code == "001"
    assert outcome.description == "TRANSACTION SUCCESSFUL"
    assert outcome.request_id == "201908181542abc"
    assert outcome.amount == Decimal("500.00")
    assert outcome.transaction_date == datetime(2019, 8, 18, 15, 20, 43, tzinfo=LAGOS)
    assert outcome.receipt["token"] == "57880316552890870667"


@pytest.mark.parametrize(
    ("status", "kind"),
    [("delivered", K.DELIVERED), ("failed", K.FAILED), ("pending", K.PENDING)],
)
def test_001_inner_000_with_a_transaction_status_follows_the_status(status, kind):
    body = query_format("000", "Token : 57880316552890870667", transactions={"status": status})
    assert requery(body).kind is kind


def test_001_inner_000_without_status_or_purchased_code_is_pending():
    assert requery(query_format("000")).kind is K.PENDING


@pytest.mark.parametrize("operation", ["pay", "requery"])
def test_001_inner_016_is_failed(operation):
    body = query_format("016")
    body["content"]["response_description"] = "TRANSACTION FAILED"
    outcome = classify_pay_response(200, json.dumps(body), operation=operation)
    assert outcome.kind is K.FAILED
    assert outcome.description == "TRANSACTION FAILED"


@pytest.mark.parametrize(
    ("inner", "kind"), [(16, K.FAILED), ("091", K.FAILED), ("040", K.REVERSED), (0, K.PENDING)]
)
def test_001_inner_code_as_a_number_or_other_codes(inner, kind):
    assert requery(query_format(inner)).kind is kind


@pytest.mark.parametrize("inner", [None, "", "099", "083", "001", "777", "015", "014", "011"])
def test_001_without_a_clear_inner_code_is_pending(inner):
    assert requery(query_format(inner, "Token : 57880316552890870667")).kind is K.PENDING


def test_001_inner_request_level_rejection_on_requery_stays_pending():
    assert requery(query_format("087")).kind is K.PENDING


def test_001_about_another_request_id_needs_review():
    body = json.dumps(query_format("000", "Token : 1234 5678 9012 3456 7890"))
    outcome = classify_pay_response(200, body, operation="requery", expected_request_id="other")
    assert (outcome.kind, outcome.needs_review) == (K.PENDING, True)


def test_inner_response_code_is_ignored_outside_the_001_format():
    body = current_format("pending")
    body["content"]["response_code"] = "016"
    assert requery(body).kind is K.PENDING


def test_044_is_pending_and_needs_review():
    outcome = requery(flat("044", "TRANSACTION RESOLVED"))
    assert outcome.kind is K.PENDING
    assert outcome.needs_review


def test_014_request_id_exists_means_requery():
    outcome = pay(flat("014", "REQUEST ID ALREADY EXIST"))
    assert outcome.kind is K.PENDING
    assert not outcome.needs_review


def test_015_on_requery_is_not_found():
    assert requery(flat("015", "INVALID REQUEST ID")).kind is K.NOT_FOUND


def test_015_on_pay_is_pending():
    assert pay(flat("015", "INVALID REQUEST ID")).kind is K.PENDING


def test_016_is_failed():
    outcome = pay(flat("016", "TRANSACTION FAILED"))
    assert outcome.kind is K.FAILED
    assert outcome.description == "TRANSACTION FAILED"
    assert not outcome.operator_alert


def test_040_is_reversed():
    assert requery(flat("040", "TRANSACTION REVERSAL")).kind is K.REVERSED


@pytest.mark.parametrize("code", ["040", "000"])
def test_reversal_keeps_vtpass_net_amount_for_reconciliation(code):
    # VTPass's figure can be what it credited back net of commission, not the face value.
    body = current_format("reversed", code=code, amount=48.5)
    body["content"]["transactions"]["amount"] = "50"
    outcome = requery(body)
    assert outcome.kind is K.REVERSED
    assert outcome.amount == Decimal("48.5")


def test_091_not_processed_is_failed():
    assert pay(flat("091", "TRANSACTION NOT PROCESSED")).kind is K.FAILED


@pytest.mark.parametrize("code", ["010", "011", "012", "013", "017", "031", "032", "085"])
def test_bad_input_codes_fail_the_pay(code):
    outcome = pay(flat(code))
    assert outcome.kind is K.FAILED
    assert not outcome.operator_alert


def test_018_low_wallet_fails_and_alerts():
    outcome = pay(flat("018", "LOW WALLET BALANCE"))
    assert outcome.kind is K.FAILED
    assert outcome.operator_alert


def test_019_likely_duplicate_is_failed():
    assert pay(flat("019", "LIKELY DUPLICATE TRANSACTION")).kind is K.FAILED


@pytest.mark.parametrize("code", ["021", "022", "023", "024", "027", "028", "087"])
def test_account_and_credential_codes_fail_and_alert(code):
    outcome = pay(flat(code))
    assert outcome.kind is K.FAILED
    assert outcome.operator_alert


@pytest.mark.parametrize("code", ["030", "034", "035"])
def test_biller_unreachable_or_suspended_is_failed(code):
    assert pay(flat(code)).kind is K.FAILED


@pytest.mark.parametrize("code", ["002", "999", "ABC", "100", 42])
def test_unknown_codes_are_pending(code):
    assert pay(flat(code)).kind is K.PENDING


# -- requery: request-level rejections say nothing about the purchase --------------


@pytest.mark.parametrize("code", ["087", "027", "028", "018"])
def test_config_codes_on_requery_stay_pending_but_alert(code):
    outcome = requery(flat(code))
    assert outcome.kind is K.PENDING
    assert outcome.operator_alert


@pytest.mark.parametrize("code", ["011", "085", "019", "030"])
def test_request_level_rejections_on_requery_stay_pending(code):
    assert requery(flat(code)).kind is K.PENDING


@pytest.mark.parametrize(("code", "kind"), [("016", K.FAILED), ("091", K.FAILED)])
def test_transaction_failures_on_requery_are_final(code, kind):
    assert requery(flat(code)).kind is kind


# -- HTTP status and body shape --------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_pending_even_with_a_failure_code(status):
    assert pay(flat("016"), status).kind is K.PENDING


def test_3xx_is_pending():
    assert pay(flat("016"), 302).kind is K.PENDING


@pytest.mark.parametrize("body", ["", "   ", b"", "\n"])
def test_empty_body_is_pending(body):
    outcome = classify_pay_response(200, body, operation="pay")
    assert outcome.kind is K.PENDING
    assert "empty" in outcome.description


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>502 Bad Gateway</body></html>",
        '{"code": "000", "content": {',
        b"\xff\xfe\x00garbage",
        "null",
        "[]",
        '"000"',
        "16",
    ],
)
def test_html_truncated_or_non_object_json_is_pending(body):
    assert classify_pay_response(200, body, operation="pay").kind is K.PENDING


@pytest.mark.parametrize("status", [401, 403])
def test_401_403_with_087_fails_and_alerts(status):
    outcome = pay(flat("087", "INVALID CREDENTIALS"), status)
    assert outcome.kind is K.FAILED
    assert outcome.operator_alert


@pytest.mark.parametrize("status", [401, 403])
def test_401_403_without_vtpass_code_is_pending_and_alerts(status):
    outcome = pay("<html>Forbidden</html>", status)
    assert outcome.kind is K.PENDING
    assert outcome.operator_alert


def test_401_with_087_on_requery_is_pending_and_alerts():
    outcome = requery(flat("087"), 401)
    assert outcome.kind is K.PENDING
    assert outcome.operator_alert


def test_4xx_with_vtpass_code_is_read_by_code():
    assert pay(flat("011", "INVALID ARGUMENTS"), 400).kind is K.FAILED


def test_utf8_bom_is_tolerated():
    body = b"\xef\xbb\xbf" + json.dumps(current_format()).encode()
    assert classify_pay_response(200, body, operation="pay").kind is K.DELIVERED


# -- reading the code ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("000", "000"),
        (0, "000"),
        ("0", "000"),
        (1, "001"),
        (16, "016"),
        (0.0, "000"),
        (" 016 ", "016"),
    ],
)
def test_code_is_normalised_to_three_chars(raw, normalised):
    assert pay({"code": raw, "response_description": "x"}).code == normalised


def test_numeric_zero_code_with_delivered_status_is_delivered():
    assert pay(current_format(code=0)).kind is K.DELIVERED


def test_code_falls_back_to_numeric_response_description():
    outcome = pay({"response_description": "016"})
    assert outcome.code == "016"
    assert outcome.kind is K.FAILED


def test_code_field_wins_over_response_description():
    assert pay({"code": "016", "response_description": "000"}).code == "016"


def test_missing_code_is_pending():
    assert pay({"response_description": "TRANSACTION SUCCESSFUL"}).kind is K.PENDING


# -- both response formats, numbers as strings -----------------------------------------


def test_current_format_fields_are_read():
    outcome = pay(current_format())
    assert outcome.transaction_id == "17415980564672211596777904"
    assert outcome.amount == Decimal(20)
    assert outcome.status == "delivered"
    assert outcome.request_id == "202503101014abcdef123456"
    assert outcome.transaction_date == datetime(2025, 3, 10, 9, 14, 16, tzinfo=UTC)
    assert outcome.receipt == {"product_name": "MTN Airtime VTU"}
    assert outcome.http_status == 200


def test_older_format_fields_are_read():
    body = {
        "code": "000",
        "response_description": "TRANSACTION SUCCESSFUL",
        "requestId": "201912011426abc",
        "transactionId": 1575206773482,
        "amount": "100.00",
        "transaction_date": {
            "date": "2019-12-01 14:26:13.000000",
            "timezone_type": 3,
            "timezone": "Africa/Lagos",
        },
        "purchased_code": "",
        "content": {"transactions": {"status": "delivered", "product_name": "GOtv Payment"}},
    }
    outcome = pay(body)
    assert outcome.kind is K.DELIVERED
    assert outcome.transaction_id == "1575206773482"
    assert outcome.amount == Decimal("100.00")
    assert outcome.transaction_date == datetime(2019, 12, 1, 14, 26, 13, tzinfo=LAGOS)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("20", Decimal(20)),
        (20, Decimal(20)),
        (19.3, Decimal("19.3")),
        ("1,500.50", Decimal("1500.50")),
    ],
)
def test_amounts_as_strings_or_numbers_become_exact_decimals(amount, expected):
    assert pay(current_format(amount=amount)).amount == expected


def test_unreadable_amount_is_none():
    assert pay(current_format(amount="twenty")).amount is None


def test_amount_falls_back_to_the_transaction():
    body = current_format()
    del body["amount"]
    body["content"]["transactions"]["amount"] = "50"
    assert pay(body).amount == Decimal(50)


def test_failure_body_has_no_transaction_details():
    outcome = pay(flat("016", "TRANSACTION FAILED"))
    assert outcome.transaction_id is None
    assert outcome.amount is None
    assert outcome.receipt == {}


def test_raw_keeps_the_body_without_secret_keys():
    body = current_format(**{"api-key": "leak", "secret-key": "leak"})
    outcome = pay(body)
    assert outcome.raw is not None
    assert outcome.raw["content"]["transactions"]["transactionId"] == "17415980564672211596777904"
    assert "api-key" not in outcome.raw and "secret-key" not in outcome.raw


def test_answer_about_another_request_id_is_pending_and_needs_review():
    body = json.dumps(current_format())
    outcome = classify_pay_response(200, body, operation="requery", expected_request_id="other")
    assert outcome.kind is K.PENDING
    assert outcome.needs_review


def test_classify_pay_body_accepts_a_parsed_callback():
    assert classify_pay_body(current_format(), operation="requery").kind is K.DELIVERED


def test_final_kinds():
    assert pay(current_format()).is_final
    assert not pay(flat("099")).is_final


# -- transport errors ---------------------------------------------------------------------


def test_not_sent_is_not_sent():
    assert classify_transport_error(VTPassNotSent("refused")).kind is K.NOT_SENT


@pytest.mark.parametrize(
    "exc",
    [VTPassMaybeSent("read timeout"), VTPassResponseError("html", http_status=502), RuntimeError()],
)
def test_anything_else_is_pending(exc):
    assert classify_transport_error(exc).kind is K.PENDING
