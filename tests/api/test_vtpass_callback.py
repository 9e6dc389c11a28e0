"""The VTPass callback URL: every notice type answers success; only transaction-update requeries."""

from __future__ import annotations

import pytest


@pytest.fixture
def published(monkeypatch) -> list[str]:
    """Record the requeries the callback view publishes instead of sending them."""
    calls: list[str] = []
    monkeypatch.setattr("api.vtpass_callback.publish_requery", calls.append)
    return calls


@pytest.fixture
def notify(client, settings):
    def notify(body):
        url = f"/api/v1/vtpass/callback/{settings.vtpass_callback_token}"
        response = client.post(url, json=body)
        assert (response.status_code, response.get_json()) == (200, {"response": "success"})

    return notify


def plans(client, user, service_id: str):
    response = client.get(f"/api/v1/catalog/services/{service_id}/variations", headers=user.headers)
    assert response.status_code == 200
    return response.headers["X-Cache"]


@pytest.mark.parametrize("kind", ["variations-update", "variation-update"])
def test_variations_update_makes_the_next_catalog_answer_a_miss(
    client, make_user, notify, published, kind
):
    user = make_user()
    plans(client, user, "startimes")
    assert plans(client, user, "startimes") == "HIT"
    notify({"type": kind, "data": {"serviceID": "startimes"}})
    assert plans(client, user, "startimes") == "MISS"
    assert plans(client, user, "startimes") == "HIT"
    assert published == []


@pytest.mark.parametrize(
    "body",
    [
        {"type": "something-new", "data": {"requestId": "202501011200abc"}},
        {"type": 7},
        {"type": "variations-update"},
    ],
)
def test_any_other_notice_is_answered_success_and_requeries_nothing(notify, published, body):
    notify(body)
    assert published == []
