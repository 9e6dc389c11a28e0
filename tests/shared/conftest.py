"""Fixtures for the webhook delivery tests."""

from __future__ import annotations

import pytest

from shared.webhooks import endpoints


@pytest.fixture
def slow_retries(settings):
    """Settings whose next retry is an hour away: the test makes every attempt itself."""
    return settings.with_overrides(webhook_retry_delays=(3600.0,))


@pytest.fixture
def endpoint(runtime, make_user):
    def create(url: str) -> tuple[str, str]:
        user = make_user()
        made, secret = endpoints.create_endpoint(
            runtime.db, user_id=user.id, url=url, events=None, allow_private=True
        )
        return made.id, secret

    return create
