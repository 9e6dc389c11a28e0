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
- A publish that fails (Redis down) is retried briefly, then left to the sweeper.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from celery import Celery, Task
from flask import Flask

from shared.config import Settings

RETRY_BACKOFF_MAX = 30
VISIBILITY_TIMEOUT = 3600

QUEUES = ("purchases", "requeries", "webhooks", "maintenance")


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return Celery's configuration for these settings."""
    assert RETRY_BACKOFF_MAX * 10 < VISIBILITY_TIMEOUT
    return {
        "broker_url": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
        },
        "task_ignore_result": True,
        "result_backend": None,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
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
            "purge-idempotency-keys": {
                "task": "maintenance.purge_idempotency_keys",
                "schedule": 3600.0,
            },
        },
        "beat_schedule_filename": str(Path(tempfile.gettempdir()) / "paylink-beat-schedule"),
    }


def celery_init_app(app: Flask, settings: Settings) -> Celery:
    """Create the Celery app for a Flask app; every task runs inside its app context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(settings))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
