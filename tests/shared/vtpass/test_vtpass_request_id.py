"""Request ids carry today's Lagos date; VTPass rejects them (085) after Lagos midnight."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from shared.vtpass import LAGOS, is_stale, mint_request_id, request_id_date


def test_format_is_lagos_minute_then_random_alphanumeric_suffix():
    request_id = mint_request_id(datetime(2025, 3, 10, 8, 5, tzinfo=UTC))
    assert re.fullmatch(r"202503100905[0-9a-f]{12}", request_id)
    assert 12 < len(request_id) <= 40


def test_ids_minted_in_the_same_minute_differ():
    now = datetime(2025, 3, 10, 8, 5, tzinfo=UTC)
    assert len({mint_request_id(now) for _ in range(1000)}) == 1000


def test_2330_utc_is_the_next_day_in_lagos():
    request_id = mint_request_id(datetime(2025, 3, 10, 23, 30, tzinfo=UTC))
    assert request_id.startswith("202503110030")
    assert request_id_date(request_id) == date(2025, 3, 11)


def test_other_zones_are_converted_to_lagos():
    new_york = timezone(timedelta(hours=-5))
    request_id = mint_request_id(datetime(2025, 12, 31, 19, 0, tzinfo=new_york))
    assert request_id.startswith("202601010100")


def test_default_now_is_today_in_lagos():
    assert request_id_date(mint_request_id()) == datetime.now(LAGOS).date()


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError):
        mint_request_id(datetime(2025, 3, 10, 8, 5))


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "2025031",
        "abcdefghijklmnop",
        "202513011200abc",
        "202503102460x",
        "202503101200" + "x" * 29,
        "202503101200 with spaces",
    ],
)
def test_malformed_ids_are_rejected(bad):
    with pytest.raises(ValueError):
        request_id_date(bad)


def test_hyphenated_suffix_is_accepted():
    assert request_id_date("202503101200-abc-1") == date(2025, 3, 10)


def test_not_stale_on_the_same_lagos_day():
    request_id = mint_request_id(datetime(2025, 3, 10, 0, 1, tzinfo=LAGOS))
    assert not is_stale(request_id, datetime(2025, 3, 10, 23, 59, tzinfo=LAGOS))


def test_stale_just_after_lagos_midnight():
    # 22:59 UTC is 23:59 in Lagos; 23:00 UTC is already the next Lagos day.
    request_id = mint_request_id(datetime(2025, 3, 10, 22, 59, tzinfo=UTC))
    assert not is_stale(request_id, datetime(2025, 3, 10, 22, 59, 59, tzinfo=UTC))
    assert is_stale(request_id, datetime(2025, 3, 10, 23, 0, tzinfo=UTC))


def test_not_stale_at_utc_midnight_when_lagos_day_is_unchanged():
    request_id = mint_request_id(datetime(2025, 3, 10, 23, 30, tzinfo=UTC))
    assert not is_stale(request_id, datetime(2025, 3, 11, 0, 30, tzinfo=UTC))
