"""The worker settings RELIABILITY.md asks for, as configured (workers/celery_app.py)."""

from __future__ import annotations

from api.metrics import broker_gauges
from tests.conftest import rabbitmq_queues
from workers.celery_app import QUEUES, RETRY_BACKOFF_MAX, VISIBILITY_TIMEOUT, celery_config
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


def test_redis_stays_the_default_broker(settings):
    assert settings.celery_broker_url == ""
    assert celery_config(settings)["broker_url"] == settings.redis_url


def test_rabbitmq_gets_quorum_queues_confirms_and_late_acks(settings):
    config = celery_config(settings.with_overrides(celery_broker_url="amqp://u:p@mq:5672/x"))
    assert config["broker_url"] == "amqp://u:p@mq:5672/x"
    assert config["broker_transport_options"]["confirm_publish"] is True
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    queues = {q.name: q for q in config["task_queues"]}
    assert set(queues) == set(QUEUES)
    for q in queues.values():
        # Quorum queues are durable and take no priorities.
        assert q.durable and q.queue_arguments == {"x-queue-type": "quorum"}
        assert q.max_priority is None
    assert config["task_routes"]["purchases.pay"]["queue"] == "purchases"


def test_a_purchase_published_to_rabbitmq_waits_confirmed_in_a_quorum_queue(
    settings, rabbitmq_vhost
):
    from api import create_app
    from workers.publish import publish_pay

    app = create_app(settings.with_overrides(celery_broker_url=rabbitmq_vhost))
    try:
        with app.app_context():
            assert publish_pay("pur_rabbit") is True
        # RabbitMQ's own word on the queue type (its message counts lag: the gauge below
        # asks the queue itself).
        assert rabbitmq_queues(rabbitmq_vhost)["purchases"][0] == "quorum"
        depth = {
            s.labels["queue"]: s.value
            for m in broker_gauges(app.extensions["paylink"])
            for s in m.samples
            if s.name == "paylink_celery_queue_depth"
        }
        assert depth == {"purchases": 1, "requeries": 0, "webhooks": 0, "maintenance": 0}
    finally:
        app.extensions["paylink"].close()


def test_a_publish_rabbitmq_cannot_take_is_reported_not_lost_silently(settings):
    from api import create_app
    from workers.publish import publish_pay

    # Nothing listens on port 1: the publish fails fast and is left to the sweeper.
    app = create_app(settings.with_overrides(celery_broker_url="amqp://guest:guest@127.0.0.1:1//"))
    try:
        with app.app_context():
            assert publish_pay("pur_nowhere") is False
    finally:
        app.extensions["paylink"].close()


def test_a_worker_runs_as_many_threads_as_its_database_pool_is_sized_for(settings):
    """Without --concurrency a worker runs PAYLINK_WORKER_CONCURRENCY threads, the figure the
    pool is sized from (shared/runtime.py); with a larger one it is held to it before its
    pool is built, so no thread waits for a connection and loses VTPass's answer."""
    from types import SimpleNamespace

    from workers.celery_app import keep_threads_within_the_database_pool

    config = celery_config(settings.with_overrides(worker_concurrency=32))
    assert config["worker_concurrency"] == 32
    worker = SimpleNamespace(app=SimpleNamespace(conf=config), concurrency=160)
    keep_threads_within_the_database_pool(sender=worker)
    assert worker.concurrency == 32
    fewer = SimpleNamespace(app=SimpleNamespace(conf=config), concurrency=8)
    keep_threads_within_the_database_pool(sender=fewer)
    assert fewer.concurrency == 8


def test_no_launcher_hard_codes_the_purchase_worker_s_threads():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for name in ("Procfile", "docker-compose.yml"):
        for line in (root / name).read_text().splitlines():
            if "workers.entry worker" in line and "purchases" in line:
                assert "--concurrency" not in line, f"{name}: {line.strip()}"
