"""Celery wired the Flask way, and every worker setting chosen on purpose.

Why these settings (RELIABILITY.md section 1):
- PostgreSQL is the truth and Redis only carries hints. Tasks take ids, re-read the row and
  are safe to run twice; a lost message only delays a purchase, because the sweeper (a beat
  task every few seconds) re-drives anything whose `next_attempt_at` has passed.
- `task_acks_late` + `task_reject_on_worker_lost`: a message is acknowledged after its task
  ran, so a worker killed mid-task leaves the message to be redelivered (and the row to the
  sweeper, whichever comes first).
- `worker_prefetch_multiplier = 1`: a worker reserves no more than it is running, so a hung
  worker does not sit on other purchases' messages.
- `visibility_timeout` (1 h) is far longer than any countdown we use: Celery retries back off
  for at most `RETRY_BACKOFF_MAX` seconds, and every long wait (requery schedules, webhook
  retries) is a row's `next_attempt_at`, never a countdown. Kombu redelivers an unacked
  message after this timeout, so a countdown past it would run twice.
- Separate queues: `purchases` (pay calls), `requeries`, `webhooks`, `maintenance` (the
  sweeper), so a slow webhook receiver or a requery backlog never delays a new purchase.
- Pool: VTPass calls are I/O-bound and VTPass sometimes stalls for a minute, so the worker
  runs the `threads` pool with many slots (`PAYLINK_WORKER_CONCURRENCY`, 128 by default):
  a hundred hanging calls still leave slots for other purchases. The threads pool cannot
  enforce Celery time limits; every VTPass call has explicit connect and read timeouts
  instead, and the sweeper's processing lease (connect + read + 30 s) covers the rest.
  Measured (`bench.purchases`, 200 ms VTPass, one loaded 2-core machine, same hour): threads
  1 x 64 settled a backlog at 30/s for 24 ms of worker CPU each; gevent 1 x 64 at 11/s for
  37 ms each (the hub's switching and kombu's polling under gevent cost more than the
  threads' GIL hand-offs); 2 processes x 32 threads gave no more on two cores already busy
  with PostgreSQL, Redis and the API. A process is bound to one core by the GIL, so on a
  bigger host run one worker process per spare core, each with threads, rather than more
  threads.
  Fewer threads are cheaper while a backlog keeps them all busy (2026-12-02, same code, runs
  alternated: 16 threads settled 31/s at 27 ms of worker CPU each, 64 threads 22/s at 36 ms:
  they contend for the GIL between round trips), but the slots are there for VTPass stalls,
  so the default stays 128. Measured again on 2026-12-04 (same bench, a backlog of ~4000):
  1 x 64 threads settled 83-98/s, 2 x 32 113-126/s at 8.3-9.6 ms of CPU each, 3 x 21 120/s
  at 9.8 ms, 4 x 16 114/s at 11.7 ms; 2 x 64 collapsed to 13/s because the two pools
  outgrew PostgreSQL's 100 connections. So: one process per core, threads within what the
  database's `max_connections` leaves (README "Capacity"). Holding task threads to 8 "run
  slots" outside their VTPass wait was tried and measured no better than the noise between
  runs, so it was not kept; so was
  kombu's `ack_emulation: False` (no unacked bookkeeping on Redis: about 5% of worker CPU in
  alternated runs, not worth giving up the redelivery of reserved messages at shutdown).
- A publish that fails (Redis down) is retried briefly, then left to the sweeper.
- Broker: `CELERY_BROKER_URL` (default `REDIS_URL`). On RabbitMQ (`amqp://`) the same four
  queues are durable quorum queues (replicated; quorum queues are always durable and take no
  message priorities, so none are set), bound to topic exchanges so Celery's countdowns use
  RabbitMQ's native delayed delivery; publisher confirms are on (a publish returns only once
  the broker has the message, waiting at most `CONFIRM_TIMEOUT_S`); acks stay late. Redis
  stays the cache, the token blocklist and the rate-limit store whichever broker is used.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from celery import Celery, Task, signals
from celery.schedules import crontab
from flask import Flask
from kombu import Exchange, Queue

from shared import logs, telemetry
from shared.config import Settings
from workers.redis_broker import reuse_channel_clients

log = logging.getLogger(__name__)

RETRY_BACKOFF_MAX = 30
VISIBILITY_TIMEOUT = 3600

QUEUES = ("purchases", "requeries", "webhooks", "maintenance")
# The message header that carries the HTTP request id to the worker's log lines.
REQUEST_ID_HEADER = "paylink_request_id"
# How long a publish waits for RabbitMQ's confirm before it counts as failed (sweeper's turn).
CONFIRM_TIMEOUT_S = 5.0


def quorum_queues() -> list[Queue]:
    """The four queues as RabbitMQ quorum queues, each on a topic exchange of its own name."""
    return [
        Queue(
            name,
            Exchange(name, type="topic", durable=True),
            routing_key=name,
            durable=True,
            queue_arguments={"x-queue-type": "quorum"},
        )
        for name in QUEUES
    ]


def broker_config(settings: Settings) -> dict[str, Any]:
    """The broker half of Celery's configuration: Redis (default) or RabbitMQ."""
    if not settings.broker_is_amqp:
        return {
            "broker_url": settings.broker_url,
            "broker_transport_options": {
                "visibility_timeout": VISIBILITY_TIMEOUT,
                "socket_timeout": 10,
                "socket_connect_timeout": 5,
            },
        }
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": {"confirm_publish": True},
        "broker_connection_timeout": 5,
        "broker_heartbeat": 30,
        "task_queues": quorum_queues(),
        "task_create_missing_queues": False,
        "task_default_queue_type": "quorum",
        "task_default_exchange_type": "topic",
        "worker_detect_quorum_queues": True,
    }


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return Celery's configuration for these settings."""
    assert RETRY_BACKOFF_MAX * 10 < VISIBILITY_TIMEOUT
    return {
        **broker_config(settings),
        "broker_connection_retry_on_startup": True,
        "task_ignore_result": True,
        "result_backend": None,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # Threads per worker: what the database pool is sized from (shared/runtime.py). A
        # worker started without --concurrency runs this many; with more, it is held to it.
        "worker_concurrency": settings.worker_concurrency,
        "paylink_worker_concurrency": settings.worker_concurrency,
        "worker_hijack_root_logger": False,
        "task_default_queue": "maintenance",
        "task_routes": {
            "purchases.pay": {"queue": "purchases"},
            "purchases.requery": {"queue": "requeries"},
            "webhooks.*": {"queue": "webhooks"},
            "maintenance.*": {"queue": "maintenance"},
        },
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "beat_schedule": {
            "sweep-purchases": {
                "task": "maintenance.sweep_purchases",
                "schedule": settings.sweep_interval_s,
            },
            "sweep-webhook-deliveries": {
                "task": "webhooks.sweep_deliveries",
                "schedule": settings.sweep_interval_s,
            },
            "check-vtpass-float": {
                "task": "maintenance.check_vtpass_float",
                "schedule": settings.float_poll_s,
            },
            # A time of day, not an interval: a beat restarted daily (an empty schedule file
            # in a new container) would otherwise never reach a 24 h interval.
            "reconcile-with-vtpass": {
                "task": "maintenance.reconcile",
                "schedule": crontab(
                    hour=settings.reconcile_time[0], minute=settings.reconcile_time[1]
                ),
            },
            # A run a killed worker left unfinished continues from its cursor (shared/reconcile).
            "resume-reconciliation": {
                "task": "maintenance.reconcile",
                "schedule": 600.0,
                "kwargs": {"resume_only": True},
            },
            "purge-idempotency-keys": {
                "task": "maintenance.purge_idempotency_keys",
                "schedule": 3600.0,
            },
        },
        "beat_schedule_filename": str(Path(tempfile.gettempdir()) / "paylink-beat-schedule"),
    }


@signals.task_prerun.connect
def bind_task_context(task_id: str, task: Task, args: tuple[Any, ...] = (), **_: Any) -> None:
    """Every line a task logs carries its task id, its purchase and the HTTP request id."""
    logs.clear()
    context: dict[str, Any] = {"task_id": task_id, "task": task.name}
    # A worker sees custom message headers as request attributes; `apply` keeps them apart.
    request_id = task.request.get(REQUEST_ID_HEADER) or (task.request.headers or {}).get(
        REQUEST_ID_HEADER
    )
    if request_id:
        context["request_id"] = request_id
    if task.name.startswith("purchases.") and args:
        context["purchase_id"] = args[0]
    logs.bind(**context)


@signals.task_postrun.connect
def unbind_task_context(**_: Any) -> None:
    logs.clear()


@signals.worker_init.connect
def keep_threads_within_the_database_pool(sender: Any, **_: Any) -> None:
    """Never run more task threads than PAYLINK_WORKER_CONCURRENCY, the figure the database
    pool is sized from: a thread that found no pooled connection would lose VTPass's answer
    to a pool timeout. Runs before the worker's pool is built, so the cap takes effect."""
    limit = sender.app.conf.get("paylink_worker_concurrency")
    if (
        isinstance(limit, int)
        and isinstance(sender.concurrency, int)
        and sender.concurrency > limit
    ):
        log.error(
            "--concurrency %s exceeds PAYLINK_WORKER_CONCURRENCY=%s (the database pool's size);"
            " running %s threads",
            sender.concurrency,
            limit,
            limit,
        )
        sender.concurrency = limit


@signals.worker_process_init.connect
def trace_in_pool_child(**_: Any) -> None:
    """A prefork pool's child keeps the tracing its parent's `create_app` set up."""
    telemetry.after_worker_fork()


def is_amqp(celery_app: Celery) -> bool:
    """Whether this Celery app's broker is RabbitMQ."""
    return str(celery_app.conf.broker_url or "").startswith(("amqp://", "amqps://", "pyamqp://"))


def celery_init_app(app: Flask, settings: Settings) -> Celery:
    """Create the Celery app for a Flask app; every task runs inside its app context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    if not settings.broker_is_amqp:
        reuse_channel_clients()
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(settings))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
