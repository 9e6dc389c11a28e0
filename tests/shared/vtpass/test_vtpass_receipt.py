"""Receipt extraction: one test per product shape VTPass has been seen to answer with."""

from __future__ import annotations

from typing import Any

import pytest

from shared.vtpass import conflict_note, extract_receipt

IKEDC_TOKEN = "26362054405982757802"


def delivered(product_name: str, purchased_code: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "code": "000",
        "purchased_code": purchased_code,
        "content": {"transactions": {"status": "delivered", "product_name": product_name}},
        **extra,
    }


def electricity(purchased_code: str = "", **extra: Any) -> dict[str, Any]:
    return extract_receipt(
        delivered("Ikeja Electric Payment - IKEDC", purchased_code, **extra),
        category="electricity",
    )


def education(purchased_code: str = "", **extra: Any) -> dict[str, Any]:
    return extract_receipt(
        delivered("WAEC Registration PIN", purchased_code, **extra), category="education"
    )


# -- electricity -------------------------------------------------------------------------


def test_token_and_units_from_purchased_code_and_units():
    assert electricity(f"Token : {IKEDC_TOKEN}", units="79.9 kWh") == {
        "product_name": "Ikeja Electric Payment - IKEDC",
        "purchased_code": f"Token : {IKEDC_TOKEN}",
        "token": IKEDC_TOKEN,
        "units": "79.9 kWh",
    }


@pytest.mark.parametrize(
    "purchased_code",
    [
        "Token : 2636 2054 4059 8275 7802",
        "Token:26362054405982757802",
        "Token : 2636-2054-4059-8275-7802 : 79.9 kWh",
        "TOKEN: 2636 2054 4059 8275 7802",
    ],
)
def test_token_labels_and_separators_are_stripped(purchased_code):
    assert electricity(purchased_code)["token"] == IKEDC_TOKEN


def test_units_appended_to_the_token_text():
    assert electricity("Token : 2636-2054-4059-8275-7802 : 79.9 kWh")["units"] == "79.9 kWh"


def test_token_field_that_carries_its_own_label():
    receipt = electricity("", token="Token : 2636 2054 4059 8275 7802")
    assert receipt["token"] == IKEDC_TOKEN
    assert "token_candidates" not in receipt


def test_same_token_in_two_fields_is_one_token():
    receipt = electricity(f"Token : {IKEDC_TOKEN}", token=IKEDC_TOKEN, mainToken=IKEDC_TOKEN)
    assert receipt["token"] == IKEDC_TOKEN and "token_candidates" not in receipt


def test_bonus_token_in_purchased_code():
    receipt = electricity("Token : 1111 2222 3333 4444 5555 Bonus Token : 9999 8888 7777 6666 5555")
    assert receipt["token"] == "11112222333344445555"
    assert receipt["bonus_token"] == "99998888777766665555"
    assert "token_candidates" not in receipt


def test_main_and_bonus_token_fields_with_main_token_units():
    receipt = electricity(
        mainToken="11112222333344445555",
        mainTokenUnits=20.5,
        bonusToken="99998888777766665555",
        bonusTokenUnits=3,
    )
    assert (receipt["token"], receipt["bonus_token"], receipt["units"]) == (
        "11112222333344445555",
        "99998888777766665555",
        "20.5 kWh",
    )


def test_disco_token_field_and_units_as_a_number():
    receipt = electricity("", Token="1234 5678 9012 3456 7890", Units=12.5)
    assert (receipt["token"], receipt["units"]) == ("12345678901234567890", "12.5 kWh")


@pytest.mark.parametrize(("units", "shown"), [("79.9 kWh", "79.9 kWh"), ("220.6", "220.6 kWh")])
def test_units_text_with_or_without_kwh(units, shown):
    assert electricity(f"Token : {IKEDC_TOKEN}", units=units)["units"] == shown


def test_units_only_in_purchased_code():
    assert electricity(f"Token : {IKEDC_TOKEN} 79.9 kWh")["units"] == "79.9 kWh"


def test_token_inside_content_transactions():
    body = delivered("PHED")
    body["content"]["transactions"]["token"] = "55556666777788889999"
    assert extract_receipt(body, category="electricity")["token"] == "55556666777788889999"


def test_two_different_tokens_are_both_kept_purchased_code_first():
    # Live PHED answers have carried a `token` that differs from purchased_code's.
    receipt = electricity("Token : 4530 4185 7392 1176 2840", token="45304185739211769014")
    assert receipt["token"] == "45304185739211762840"
    assert receipt["token_candidates"] == ["45304185739211762840", "45304185739211769014"]
    note = conflict_note(receipt)
    assert note and "45304185739211762840" in note and "45304185739211769014" in note


def test_no_conflict_note_for_a_single_token():
    assert conflict_note(electricity(f"Token : {IKEDC_TOKEN}")) is None


def test_postpaid_keeps_exchange_reference_customer_and_receipt_number():
    receipt = electricity(
        "",
        customerName="TESTMETER1",
        exchangeReference="180820191347550",
        receiptNumber="1807201963743",
    )
    assert receipt == {
        "product_name": "Ikeja Electric Payment - IKEDC",
        "customer_name": "TESTMETER1",
        "exchange_reference": "180820191347550",
        "receipt_number": "1807201963743",
    }


def test_older_query_format_nests_everything_in_content():
    body = {
        "code": "001",
        "response_code": "000",
        "response_description": "TRANSACTION QUERY",
        "content": {
            "requestId": "REC1235620",
            "response_code": "000",
            "response_description": "TRANSACTION SUCCESSFUL",
            "amount": "500.00",
            "purchased_code": "Token : 57880316552890870667",
            "token": "57880316552890870667",
            "receiptNumber": "1807201963743",
            "units": "15.8",
        },
    }
    receipt = extract_receipt(body, category="electricity")
    assert receipt == {
        "purchased_code": "Token : 57880316552890870667",
        "token": "57880316552890870667",
        "units": "15.8 kWh",
        "receipt_number": "1807201963743",
    }


# -- education -----------------------------------------------------------------------------


def test_waec_result_checker_cards_for_each_quantity():
    cards = [
        {"Serial": "WRN182134400", "Pin": "491588610526"},
        {"Serial": "WRN182134401", "Pin": "Pin : 4915 8861 0527"},
        {"Serial": "Serial No:WRN182134402", "Pin": "491588610528"},
    ]
    receipt = extract_receipt(
        delivered(
            "WAEC Result Checker PIN", "Serial No:WRN182134400, pin: 491588610526", cards=cards
        ),
        category="education",
    )
    assert receipt["pins"] == [
        {"serial": "WRN182134400", "pin": "491588610526"},
        {"serial": "WRN182134401", "pin": "491588610527"},
        {"serial": "WRN182134402", "pin": "491588610528"},
    ]
    assert receipt["purchased_code"].startswith("Serial No:")
    assert "token" not in receipt


def test_waec_serial_and_pin_read_from_purchased_code_alone():
    receipt = education("Serial No:WRN123456790, pin: 098765432112<br>Serial No:WRN1, pin: 0002")
    assert receipt["pins"] == [
        {"serial": "WRN123456790", "pin": "098765432112"},
        {"serial": "WRN1", "pin": "0002"},
    ]


def test_waec_registration_tokens_are_pins_never_a_meter_token():
    receipt = education(
        "Token: 0100 2345 6789 01", tokens=["0100 2345 6789 01", "Token : 0100234567892"]
    )
    assert receipt["pins"] == [{"pin": "01002345678901"}, {"pin": "0100234567892"}]
    assert "token" not in receipt and "units" not in receipt


def test_waec_registration_token_only_in_purchased_code():
    assert education("Token: 0100234567890")["pins"] == [{"pin": "0100234567890"}]


@pytest.mark.parametrize(
    ("purchased_code", "pin"),
    [("Pin : 3678251321392432", "3678251321392432"), ("", "Pin : 3678251321392432")],
)
def test_jamb_single_pin_with_its_label_stripped(purchased_code, pin):
    receipt = extract_receipt(
        delivered("JAMB PIN VENDING (UTME & Direct Entry)", purchased_code, Pin=pin),
        category="education",
    )
    assert receipt["pins"] == [{"pin": "3678251321392432"}]


def test_jamb_pin_only_in_purchased_code():
    assert education("Pin : 3678251321392432")["pins"] == [{"pin": "3678251321392432"}]


# -- internet, tv, airtime -------------------------------------------------------------------


def test_spectranet_cards_become_pins():
    cards = [{"serialNumber": "S01", "pin": "1234 5678 9012", "expiresOn": "2026-01-01"}]
    receipt = extract_receipt(
        delivered("Spectranet Internet Data", cards=cards), category="internet"
    )
    assert receipt["pins"] == [{"serial": "S01", "pin": "123456789012"}]


def test_smile_has_only_the_product_name():
    assert extract_receipt(delivered("Smile Payment"), category="internet") == {
        "product_name": "Smile Payment"
    }


def test_showmax_voucher_as_a_string():
    receipt = extract_receipt(
        delivered("ShowMax", "SHMX-8UD7-AYDF", Voucher="SHMX-8UD7-AYDF"), category="tv"
    )
    assert (receipt["voucher"], receipt["vouchers"]) == ("SHMX-8UD7-AYDF", ["SHMX-8UD7-AYDF"])
    assert receipt["purchased_code"] == "SHMX-8UD7-AYDF"


def test_showmax_voucher_as_an_array():
    receipt = extract_receipt(
        delivered("ShowMax", Voucher=["Voucher : SHMXAAAA1111", "SHMXBBBB2222"]), category="tv"
    )
    assert receipt["vouchers"] == ["SHMXAAAA1111", "SHMXBBBB2222"]
    assert receipt["voucher"] == "SHMXAAAA1111"


def test_showmax_voucher_only_in_purchased_code():
    receipt = extract_receipt(delivered("ShowMax", "Voucher : SHMXAAAA1111"), category="tv")
    assert receipt["vouchers"] == ["SHMXAAAA1111"]


def test_dstv_has_only_the_product_name():
    assert extract_receipt(delivered("DSTV Subscription"), category="tv") == {
        "product_name": "DSTV Subscription"
    }


@pytest.mark.parametrize("category", ["airtime", "data"])
def test_airtime_and_data_have_only_the_product_name(category):
    receipt = extract_receipt(delivered("MTN Airtime VTU"), category=category)
    assert receipt == {"product_name": "MTN Airtime VTU"}


# -- without a category ----------------------------------------------------------------------


def test_without_a_category_the_transaction_type_decides():
    body = delivered("WAEC Registration PIN", "Token : 3734623847384", tokens=["3734623847384"])
    body["content"]["transactions"]["type"] = "Education"
    receipt = extract_receipt(body)
    assert receipt["pins"] == [{"pin": "3734623847384"}] and "token" not in receipt


def test_without_a_category_or_type_the_fields_decide():
    assert extract_receipt(delivered("IKEDC", f"Token : {IKEDC_TOKEN}"))["token"] == IKEDC_TOKEN
    assert "token" not in extract_receipt(delivered("JAMB", "Pin : 367574683050773", Pin="1"))


def test_empty_keys_are_omitted():
    assert (
        extract_receipt({"code": "016", "content": None, "purchased_code": None, "cards": []}) == {}
    )
