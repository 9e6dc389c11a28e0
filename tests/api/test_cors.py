"""CORS: listed origins get the headers a browser needs, unlisted ones get none."""

from __future__ import annotations

import pytest

from shared.config import ConfigError, load_settings

SHOP = "http://shop.example:5173"


@pytest.fixture(scope="module")
def cors_client(settings):
    from api import create_app

    return create_app(settings.with_overrides(cors_origins=(SHOP,))).test_client()


def preflight(client, origin: str, method: str = "POST", headers: str = ""):
    return client.options(
        "/api/v1/purchases",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_listed_origin_preflight_allows_the_api_headers(cors_client):
    response = preflight(cors_client, SHOP, headers="authorization, content-type, idempotency-key")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "content-type", "idempotency-key"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_listed_origin_can_read_location_retry_after_and_x_cache(cors_client, make_user):
    user = make_user()
    response = cors_client.get("/api/v1/me", headers={**user.headers, "Origin": SHOP})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Location", "Retry-After", "X-Cache"} <= exposed


def test_unlisted_origin_gets_no_cors_headers(cors_client, make_user):
    response = preflight(cors_client, "http://evil.example", headers="authorization")
    assert "Access-Control-Allow-Origin" not in response.headers
    user = make_user()
    response = cors_client.get(
        "/api/v1/me", headers={**user.headers, "Origin": "http://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_no_origin_is_allowed_by_default(client):
    response = preflight(client, SHOP, headers="authorization")
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("origin", ["*", "http://shop.example/path", "shop.example", "http://*.x"])
def test_wildcards_and_paths_are_refused_at_start(origin):
    with pytest.raises(ConfigError):
        load_settings({"PAYLINK_CORS_ORIGINS": f"http://ok.example, {origin}"}).validate()
