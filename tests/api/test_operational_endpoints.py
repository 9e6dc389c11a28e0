"""Operational endpoints under attack: a scraper without the token, scrape floods, odd
methods and paths meant to grow memory, and probe floods.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event

TOKEN = "metrics-token-" + "m" * 32


@pytest.fixture
def guarded(settings):
    """An app whose /metrics needs a bearer token and whose gauges wait an hour between runs."""
    from api import create_app

    app = create_app(settings.with_overrides(metrics_token=TOKEN, metrics_interval_s=3600.0))
    yield app
    app.extensions["paylink"].close()


def statements_in_this_thread(engine):
    """Count the SQL statements this thread sends through `engine` from now on."""
    me, counted = threading.get_ident(), []

    def count(*_args):
        if threading.get_ident() == me:
            counted.append(1)

    event.listen(engine, "before_cursor_execute", count)
    return counted, lambda: event.remove(engine, "before_cursor_execute", count)


def scrape(client, token: str | None = TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get("/metrics", headers=headers)


def test_metrics_answer_only_with_the_bearer_token(guarded):
    client = guarded.test_client()
    missing = scrape(client, None)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.get_json()["error"]["code"] == "token_missing"
    assert scrape(client, "not-the-token").status_code == 401
    assert scrape(client, TOKEN[:-1]).status_code == 401
    shown = scrape(client)
    assert shown.status_code == 200
    assert "paylink_purchases" in shown.get_data(as_text=True)


def test_scrapes_never_scan_the_database(guarded):
    client = guarded.test_client()
    assert scrape(client).status_code == 200  # the timer's first sample is taken
    counted, stop = statements_in_this_thread(guarded.extensions["paylink"].db.engine)
    try:
        for _ in range(30):
            assert "paylink_webhook_deliveries" in scrape(client).get_data(as_text=True)
    finally:
        stop()
    assert counted == [], "a scrape ran SQL"


def test_odd_methods_and_paths_fold_into_a_fixed_set_of_labels(guarded):
    client = guarded.test_client()
    for n in range(40):
        client.open(f"/nowhere/{n}", method=f"BREW{n}")
        client.open(f"/api/v1/purchases/pur_{n}", method=f"X-{n}")
        client.get(f"/random-{n}")
    metrics = guarded.extensions["metrics"]
    samples = [
        s
        for family in metrics.registry.collect()
        if family.name == "paylink_http_requests"
        for s in family.samples
    ]
    methods = {s.labels["method"] for s in samples}
    routes = {s.labels["endpoint"] for s in samples}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "other" in methods
    known = {rule.rule for rule in guarded.url_map.iter_rules()}
    assert routes <= known | {"other"}
    assert len(samples) < 20


def test_a_probe_flood_checks_the_dependencies_at_most_once(guarded):
    client = guarded.test_client()
    counted, stop = statements_in_this_thread(guarded.extensions["paylink"].db.engine)
    try:
        answers = {client.get("/readyz").status_code for _ in range(50)}
    finally:
        stop()
    assert answers == {200}
    assert len(counted) <= 1
