"""The browser pages: served by the app from web/, the storefront only in sandbox mode."""

from __future__ import annotations


def test_demo_and_console_are_served_with_their_scripts(settings):
    from api import create_app

    client = create_app(
        settings.with_overrides(stream_url="http://streams.example:8001")
    ).test_client()
    demo = client.get("/demo")
    assert demo.status_code == 200 and demo.mimetype == "text/html"
    page = demo.get_data(as_text=True)
    assert 'content="http://streams.example:8001"' in page
    assert '<script type="module" src="/static/demo.js">' in page
    console = client.get("/console")
    assert console.status_code == 200 and "/static/console.js" in console.get_data(as_text=True)
    script = client.get("/static/paylink.js")
    assert script.status_code == 200 and "javascript" in script.mimetype
    assert "followPurchase" in script.get_data(as_text=True)


def test_demo_is_a_404_in_live_mode(settings):
    from api import create_app

    client = create_app(settings.with_overrides(vtpass_mode="live")).test_client()
    response = client.get("/demo")
    assert (response.status_code, response.get_json()["error"]["code"]) == (404, "not_found")
    assert client.get("/console").status_code == 200


def test_openapi_describes_the_streams(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    stream = spec["paths"]["/api/v1/purchases/{purchase_id}/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert "Last-Event-ID" in [p["name"] for p in stream["parameters"]]
    assert stream["security"] == [{"bearer": []}]
    assert "/api/v1/admin/search" in spec["paths"]
    assert "/api/v1/admin/purchases/{purchase_id}" in spec["paths"]
