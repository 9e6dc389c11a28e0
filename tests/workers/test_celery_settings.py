"""The worker settings RELIABILITY.md asks for, as configured (workers/celery_app.py)."""

from __future__ import annotations

from workers.celery_app import RETRY_BACKOFF_MAX, VISIBILITY_TIMEOUT, celery_config
from workers.tasks import PayNotSent, pay


def test_late_acks_one_message_at_a_time_and_long_visibility(settings):
    config = celery_config(settings)
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["worker_prefetch_multiplier"] == 1
    assert config["broker_transport_options"]["visibility_timeout"] == VISIBILITY_TIMEOUT
    # Every countdown stays far below the visibility timeout, or kombu would run it twice.
    assert RETRY_BACKOFF_MAX * 10 < VISIBILITY_TIMEOUT
    assert config["beat_schedule"]["sweep-purchases"]["schedule"] < 60


def test_queues_keep_purchases_requeries_and_webhooks_apart(settings):
    routes = celery_config(settings)["task_routes"]
    assert routes["purchases.pay"]["queue"] == "purchases"
    assert routes["purchases.requery"]["queue"] == "requeries"
    assert routes["webhooks.*"]["queue"] == "webhooks"


def test_only_a_pay_that_never_left_is_retried_with_capped_jittered_backoff():
    assert pay.autoretry_for == (PayNotSent,)
    assert pay.retry_jitter is True
    assert pay.retry_backoff and pay.retry_backoff_max == RETRY_BACKOFF_MAX
