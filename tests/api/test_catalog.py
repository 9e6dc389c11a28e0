"""The catalog through the API: six categories, cached services and plans, stale on failure."""

from __future__ import annotations

import pytest

from shared.products import PRODUCTS
from shared.vtpass import VTPassNotSent


@pytest.fixture(autouse=True)
def empty_cache(runtime, monkeypatch):
    # These tests age Redis entries by hand, so the in-process copy must not hide them.
    monkeypatch.setattr(runtime.cache, "local_ttl", 0)
    runtime.cache._local.clear()
    for key in runtime.redis.scan_iter("paylink:cache:*"):
        runtime.redis.delete(key)


def test_six_categories(client, make_user):
    user = make_user()
    response = client.get("/api/v1/catalog/categories", headers=user.headers)
    assert response.status_code == 200
    assert response.headers["X-Cache"] in {"HIT", "MISS"}
    ids = [c["id"] for c in response.get_json()["data"]]
    assert ids == ["airtime", "data", "electricity", "tv", "internet", "education"]


def test_services_are_cached_and_mapped(client, make_user):
    user = make_user()
    first = client.get("/api/v1/catalog/services?category=airtime", headers=user.headers)
    second = client.get("/api/v1/catalog/services?category=airtime", headers=user.headers)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    services = first.get_json()["data"]
    assert [s["service_id"] for s in services] == ["mtn", "glo", "airtel", "etisalat"]
    mtn = services[0]
    assert mtn["category"] == "airtime"
    assert mtn["min_amount"] == "50.00" and mtn["max_amount"] == "50000.00"
    assert first.get_json() == second.get_json()


def test_internet_comes_from_vtpass_data_category(client, make_user):
    user = make_user()
    internet = client.get("/api/v1/catalog/services?category=internet", headers=user.headers)
    assert {s["service_id"] for s in internet.get_json()["data"]} == {"smile-direct", "spectranet"}
    data = client.get("/api/v1/catalog/services?category=data", headers=user.headers)
    assert "smile-direct" not in {s["service_id"] for s in data.get_json()["data"]}


def test_every_category_lists_services(client, make_user):
    user = make_user()
    everything = client.get("/api/v1/catalog/services", headers=user.headers).get_json()["data"]
    assert {s["category"] for s in everything} == {
        "airtime",
        "data",
        "electricity",
        "tv",
        "internet",
        "education",
    }
    assert len({s["service_id"] for s in everything}) == len(everything) == len(PRODUCTS)


def test_variations_parse_quirks(client, make_user):
    user = make_user()
    response = client.get("/api/v1/catalog/services/glo-data/variations", headers=user.headers)
    assert response.headers["X-Cache"] == "MISS"
    plans = response.get_json()["data"]
    assert plans[0] == {
        "variation_code": "glo100",
        "name": plans[0]["name"],
        "amount": "100.00",
        "fixed_price": True,
    }


def test_bad_category_and_unknown_service(client, make_user):
    user = make_user()
    bad = client.get("/api/v1/catalog/services?category=food", headers=user.headers)
    assert (bad.status_code, bad.get_json()["error"]["code"]) == (422, "validation_error")
    missing = client.get("/api/v1/catalog/services/nope/variations", headers=user.headers)
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (404, "not_found")


def test_stale_copy_when_vtpass_fails(client, make_user, runtime, monkeypatch):
    user = make_user()
    url = "/api/v1/catalog/services/mtn-data/variations"
    fresh = client.get(url, headers=user.headers)
    for key in runtime.redis.scan_iter("paylink:cache:variations:mtn-data"):
        raw = runtime.redis.get(key)
        runtime.redis.set(key, raw.replace('"fresh_until": ', '"fresh_until": 0, "x": '))

    def down(*args, **kwargs):
        raise VTPassNotSent("connection refused")

    monkeypatch.setattr(runtime.vtpass, "variations", down)
    stale = client.get(url, headers=user.headers)
    assert stale.status_code == 200
    assert stale.headers["X-Cache"] == "STALE"
    assert stale.get_json() == fresh.get_json()
    runtime.redis.delete("paylink:cache:variations:mtn-data")
    unavailable = client.get(url, headers=user.headers)
    assert (unavailable.status_code, unavailable.get_json()["error"]["code"]) == (
        503,
        "upstream_unavailable",
    )


def test_catalog_needs_a_token(client):
    assert client.get("/api/v1/catalog/categories").status_code == 401
