"""Live status streams: the current purchase at once, each change in order, resume, limits."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shared.models import Purchase
from shared.purchases.states import PurchaseStatus as S
from shared.purchases.states import transition
from tests.streams import Collector, parse_events
from tests.support import wait_for


@pytest.fixture(scope="module")
def stream_app(settings):
    from api import create_app

    return create_app(settings.with_overrides(stream_heartbeat_s=0.3, streams_per_user=2))


@pytest.fixture
def stream_client(stream_app):
    return stream_app.test_client()


@pytest.fixture
def queued(stream_client, make_user, fund, buy):
    user = make_user()
    fund(user, "1000")
    purchase = buy(user, service_id="mtn", phone="08011111111", amount=100).get_json()
    return user, purchase


def move(runtime, purchase_id: str, to: S, reason: str = "test") -> None:
    with runtime.db.transaction() as session:
        purchase = session.get(Purchase, purchase_id)
        assert transition(session, purchase, to, reason=reason, actor="test")


def open_stream(client, user, path: str, last_event_id: str | None = None):
    headers = dict(user.headers)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return client.get(path, headers=headers, buffered=False)


def history_ids(runtime, purchase_id: str) -> list[str]:
    with runtime.db.sessions() as session:
        return [str(h.id) for h in session.get(Purchase, purchase_id).history]


def test_stream_sends_the_purchase_then_each_change_in_order_and_closes_when_final(
    stream_client, runtime, queued
):
    user, purchase = queued
    response = open_stream(stream_client, user, f"/api/v1/purchases/{purchase['id']}/stream")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    reader = Collector(response)
    wait_for(lambda: reader.events, what="the current purchase")
    first = reader.events[0]
    assert (first.event, first.data["status"], first.data["id"]) == (
        "purchase",
        "queued",
        purchase["id"],
    )
    for status in (S.PROCESSING, S.PENDING, S.DELIVERED):
        move(runtime, purchase["id"], status)
        wait_for(lambda s=status: s in reader.statuses(), what=f"the {status} event")
    assert reader.ended.wait(10), "the stream stays open after the final status"
    assert reader.statuses() == ["queued", "processing", "pending", "delivered"]
    assert [e.event for e in reader.events[1:]] == ["status"] * 3
    assert [e.id for e in reader.events] == history_ids(runtime, purchase["id"])
    assert reader.events[-1].data["purchase"]["status"] == "delivered"


def test_resuming_with_last_event_id_skips_nothing(stream_client, runtime, queued):
    user, purchase = queued
    path = f"/api/v1/purchases/{purchase['id']}/stream"
    first = next(e for e in parse_events(open_stream(stream_client, user, path).response) if e)
    move(runtime, purchase["id"], S.PROCESSING)
    move(runtime, purchase["id"], S.PENDING)
    move(runtime, purchase["id"], S.FAILED)
    resumed = [
        e for e in parse_events(open_stream(stream_client, user, path, first.id).response) if e
    ]
    assert [e.data["status"] for e in resumed] == ["processing", "pending", "failed"]
    assert [e.id for e in resumed] == history_ids(runtime, purchase["id"])[1:]
    middle = [
        e for e in parse_events(open_stream(stream_client, user, path, resumed[0].id).response) if e
    ]
    assert [e.data["status"] for e in middle] == ["pending", "failed"]
    done = [
        e
        for e in parse_events(open_stream(stream_client, user, path, resumed[-1].id).response)
        if e
    ]
    assert done == []  # nothing after the final event: the stream just closes


def test_a_lost_pubsub_message_is_still_sent_from_postgresql(
    stream_client, runtime, queued, monkeypatch
):
    user, purchase = queued
    reader = Collector(
        open_stream(stream_client, user, f"/api/v1/purchases/{purchase['id']}/stream")
    )
    wait_for(lambda: reader.events, what="the current purchase")
    monkeypatch.setattr("shared.streams.publish.publish", lambda client, notes: None)
    move(runtime, purchase["id"], S.PROCESSING)
    move(runtime, purchase["id"], S.DELIVERED)
    assert reader.ended.wait(10), "the heartbeat's look at PostgreSQL never found the changes"
    assert reader.statuses() == ["queued", "processing", "delivered"]
    assert reader.heartbeats >= 1


def test_heartbeats_keep_an_idle_stream_alive(stream_client, queued):
    user, purchase = queued
    response = open_stream(stream_client, user, f"/api/v1/purchases/{purchase['id']}/stream")
    reader = Collector(response)
    wait_for(lambda: reader.heartbeats >= 2, what="two heartbeats")
    assert not reader.ended.is_set()
    reader.stop()


def test_only_the_owner_may_stream(stream_client, queued, make_user, admin):
    _, purchase = queued
    for other in (make_user(), admin):
        response = stream_client.get(
            f"/api/v1/purchases/{purchase['id']}/stream", headers=other.headers
        )
        assert (response.status_code, response.get_json()["error"]["code"]) == (404, "not_found")
    assert stream_client.get(f"/api/v1/purchases/{purchase['id']}/stream").status_code == 401


def test_a_bad_last_event_id_is_a_validation_error(stream_client, queued):
    user, purchase = queued
    response = open_stream(
        stream_client, user, f"/api/v1/purchases/{purchase['id']}/stream", "evt_not-ours"
    )
    assert response.status_code == 422
    assert "Last-Event-ID" in response.get_json()["error"]["fields"]


def test_open_streams_per_user_are_capped(stream_client, queued):
    user, purchase = queued
    path = f"/api/v1/purchases/{purchase['id']}/stream"
    first, second = open_stream(stream_client, user, path), open_stream(stream_client, user, path)
    assert (first.status_code, second.status_code) == (200, 200)
    refused = open_stream(stream_client, user, path)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    first.close()
    again = open_stream(stream_client, user, path)
    assert again.status_code == 200
    again.close()
    second.close()


def test_events_stream_sends_the_callers_events_in_order_and_resumes(
    stream_client, runtime, make_user, fund, buy
):
    user = make_user()
    fund(user, "1000")
    ids = [
        buy(user, service_id="mtn", phone="08011111111", amount=100).get_json()["id"]
        for _ in range(2)
    ]
    response = open_stream(stream_client, user, "/api/v1/events/stream")
    assert response.status_code == 200
    reader = Collector(response)
    wait_for(lambda: reader.heartbeats, what="the stream to open")
    move(runtime, ids[0], S.PROCESSING)  # not an event type: no event
    move(runtime, ids[0], S.DELIVERED)
    move(runtime, ids[1], S.PROCESSING)
    move(runtime, ids[1], S.PENDING)
    move(runtime, ids[1], S.FAILED)
    wait_for(lambda: len(reader.events) == 3, what="three events")
    reader.stop()
    assert [(e.event, e.data["data"]["id"]) for e in reader.events] == [
        ("purchase.delivered", ids[0]),
        ("purchase.pending", ids[1]),
        ("purchase.failed", ids[1]),
    ]
    assert [e.id for e in reader.events] == [e.data["id"] for e in reader.events]
    listed = stream_client.get("/api/v1/events", headers=user.headers).get_json()["data"]
    assert [e["id"] for e in reversed(listed)] == [e.id for e in reader.events]
    resumed = open_stream(stream_client, user, "/api/v1/events/stream", reader.events[0].id)
    again = Collector(resumed)
    wait_for(lambda: len(again.events) == 2, what="the two later events")
    again.stop()
    assert [e.id for e in again.events] == [e.id for e in reader.events[1:]]


def test_status_changes_publish_after_commit_and_never_on_rollback(runtime, queued, monkeypatch):
    _, purchase = queued
    published: list[tuple[list, str]] = []

    def record(client, notes):
        with runtime.db.sessions() as other:
            status = other.scalar(select(Purchase.status).where(Purchase.id == purchase["id"]))
        published.append((notes, status))

    monkeypatch.setattr("shared.streams.publish.publish", record)
    with pytest.raises(RuntimeError), runtime.db.transaction() as session:
        transition(
            session, session.get(Purchase, purchase["id"]), S.PROCESSING, reason="x", actor="t"
        )
        raise RuntimeError("rolled back")
    assert published == []
    move(runtime, purchase["id"], S.PROCESSING)
    # Published once, and by then another connection already sees the committed status.
    assert len(published) == 1
    notes, status_seen = published[0]
    assert [(n[0], n[2]) for n in notes] == [(purchase["id"], "processing")]
    assert status_seen == "processing"


def test_redis_unreachable_never_fails_a_status_change(runtime, queued, monkeypatch):
    import redis

    _, purchase = queued
    dead = redis.Redis(port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setitem(runtime.__dict__, "stream_redis", dead)
    move(runtime, purchase["id"], S.PROCESSING)
    move(runtime, purchase["id"], S.DELIVERED)
    with runtime.db.sessions() as session:
        assert session.get(Purchase, purchase["id"]).status == "delivered"


def test_the_threaded_api_refers_streams_to_the_stream_process(settings, queued):
    from api import create_app

    user, purchase = queued
    client = create_app(settings.with_overrides(stream_url="http://127.0.0.1:8001")).test_client()
    response = client.get(f"/api/v1/purchases/{purchase['id']}/stream", headers=user.headers)
    assert response.status_code == 404
    assert "http://127.0.0.1:8001" in response.get_json()["error"]["message"]
