"""Service endpoints: health, readiness, metrics, the OpenAPI document and the docs page."""

from __future__ import annotations

import inspect
import re

from api.openapi import REQUEST_BODIES


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}


def test_readiness_fails_when_redis_is_down(app, client, monkeypatch):
    import redis

    def down():
        raise redis.ConnectionError("down")

    monkeypatch.setattr(app.extensions["paylink"].redis, "ping", down)
    app.extensions.pop("readiness", None)  # an answer is reused for a moment
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "service_unavailable"
    assert response.get_json()["checks"]["redis"] == "unreachable"


def test_metrics_count_requests_and_report_purchases(client, make_user, fund, buy):
    user = make_user()
    fund(user, "500")
    buy(user, service_id="mtn", phone="08011111111", amount=100)
    client.get("/healthz")
    text = client.get("/metrics").get_data(as_text=True)
    assert re.search(
        r'paylink_http_requests_total\{endpoint="/healthz",method="GET",status="200"\}', text
    )
    assert re.search(r'paylink_purchases\{status="\w+"\} [1-9]', text)
    assert "paylink_oldest_unsettled_purchase_seconds" in text
    assert "paylink_webhook_deliveries" in text


def test_openapi_lists_every_route_with_its_body_schema(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(p, m) for p, ops in spec["paths"].items() for m in ops}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented
    create = spec["paths"]["/api/v1/purchases"]["post"]
    assert "202" in create["responses"]
    schema = spec["components"]["schemas"][
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    ]
    # One shape per product, each naming what that product needs.
    shapes = [spec["components"]["schemas"][s["$ref"].rsplit("/", 1)[-1]] for s in schema["oneOf"]]
    assert all({"service_id", "phone"} <= set(shape["required"]) for shape in shapes)
    airtime = next(s for s in shapes if s["properties"]["service_id"].get("const") == "mtn")
    assert "amount" in airtime["required"] and "customer_id" not in airtime["properties"]


def test_every_view_that_reads_a_body_has_its_schema_documented(app):
    for endpoint, view in app.view_functions.items():
        source = inspect.getsource(view)
        used = re.search(r"parse_body\((\w+)", source)
        if used:
            assert REQUEST_BODIES.get(endpoint).__name__ == used.group(1), endpoint
        else:
            assert endpoint not in REQUEST_BODIES, endpoint


def test_docs_page_is_self_contained(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    body = page.get_data(as_text=True)
    assert "/api/v1/purchases" in body and "<script" not in body


def test_rate_limit_answers_429_with_retry_after(settings):
    from api import create_app

    app = create_app(settings.with_overrides(rate_limit_auth="3/minute"))
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.9.{id(app) % 250}.7"  # a fresh counter
    body = {"email": "nobody@example.com", "password": "wrong-password-1"}
    codes = [client.post("/api/v1/auth/login", json=body).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    limited = client.post("/api/v1/auth/login", json=body)
    assert limited.get_json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    assert client.get("/healthz").status_code == 200  # probes are never limited
