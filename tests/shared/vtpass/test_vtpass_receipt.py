"""Receipt extraction: one test per product shape VTPass answers with."""

from __future__ import annotations

from typing import Any

from shared.vtpass import extract_receipt


def delivered(product_name: str, purchased_code: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "code": "000",
        "purchased_code": purchased_code,
        "content": {"transactions": {"status": "delivered", "product_name": product_name}},
        **extra,
    }


def test_electricity_token_and_units_from_purchased_code_and_units():
    body = delivered(
        "Ikeja Electric Payment - IKEDC",
        "Token : 26362054405982757802",
        units="79.9 kWh",
        mainToken="99999999999999999999",
    )
    receipt = extract_receipt(body)
    assert receipt == {
        "product_name": "Ikeja Electric Payment - IKEDC",
        "purchased_code": "Token : 26362054405982757802",
        "token": "26362054405982757802",
        "units": "79.9 kWh",
    }


def test_electricity_token_text_with_units_appended():
    receipt = extract_receipt(delivered("EKEDC", "Token : 2636-2054-4059-8275-7802 : 79.9 kWh"))
    assert receipt["token"] == "2636-2054-4059-8275-7802"
    assert receipt["units"] == "79.9 kWh"


def test_electricity_token_from_disco_field_when_purchased_code_is_empty():
    receipt = extract_receipt(delivered("AEDC", "", Token="1234 5678 9012 3456 7890", Units=12.5))
    assert receipt["token"] == "1234 5678 9012 3456 7890"
    assert receipt["units"] == "12.5"


def test_electricity_main_token_and_units():
    receipt = extract_receipt(
        delivered("KEDCO", mainToken="11112222333344445555", mainTokenUnits="20")
    )
    assert receipt["token"] == "11112222333344445555"
    assert receipt["units"] == "20"


def test_electricity_token_inside_content_transactions():
    body = delivered("PHED")
    body["content"]["transactions"]["token"] = "55556666777788889999"
    assert extract_receipt(body)["token"] == "55556666777788889999"


def test_waec_result_checker_cards_for_each_quantity():
    cards = [
        {"Serial": "WRN182134400", "Pin": "491588610526"},
        {"Serial": "WRN182134401", "Pin": "491588610527"},
        {"Serial": "WRN182134402", "Pin": "491588610528"},
    ]
    receipt = extract_receipt(
        delivered(
            "WAEC Result Checker PIN", "Serial No:WRN182134400, pin: 491588610526", cards=cards
        )
    )
    assert receipt["pins"] == [
        {"serial": "WRN182134400", "pin": "491588610526"},
        {"serial": "WRN182134401", "pin": "491588610527"},
        {"serial": "WRN182134402", "pin": "491588610528"},
    ]
    assert receipt["purchased_code"].startswith("Serial No:")


def test_waec_registration_tokens_become_pins():
    receipt = extract_receipt(
        delivered(
            "WAEC Registration PIN", "Token : 3734623847384", tokens=["3734623847384", "99887766"]
        )
    )
    assert receipt["pins"] == [{"pin": "3734623847384"}, {"pin": "99887766"}]


def test_jamb_pin_becomes_a_pin():
    receipt = extract_receipt(
        delivered(
            "JAMB PIN VENDING (UTME & Direct Entry)", "Pin : 367574683050773", Pin="367574683050773"
        )
    )
    assert receipt["pins"] == [{"pin": "367574683050773"}]


def test_spectranet_cards_become_pins():
    cards = [{"serialNumber": "S01", "pin": "P01", "expiresOn": "2026-01-01"}]
    receipt = extract_receipt(delivered("Spectranet Internet Data", cards=cards))
    assert receipt["pins"] == [{"serial": "S01", "pin": "P01"}]


def test_showmax_voucher():
    receipt = extract_receipt(delivered("ShowMax", "SHMX-8UD7-AYDF", Voucher="SHMX-8UD7-AYDF"))
    assert receipt["voucher"] == "SHMX-8UD7-AYDF"
    assert receipt["purchased_code"] == "SHMX-8UD7-AYDF"


def test_airtime_has_only_the_product_name():
    assert extract_receipt(delivered("MTN Airtime VTU")) == {"product_name": "MTN Airtime VTU"}


def test_empty_keys_are_omitted():
    assert (
        extract_receipt({"code": "016", "content": None, "purchased_code": None, "cards": []}) == {}
    )
