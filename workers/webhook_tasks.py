"""Webhook tasks on the `webhooks` queue: sweep due deliveries, make one attempt at each.

The sweeper leases due rows and publishes; a lost message costs one lease (the row comes due
again), and a duplicate one finds the delivery already settled or re-claimed.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

import requests
from celery import shared_task
from flask import current_app

from shared.runtime import Runtime
from shared.webhooks import delivery
from shared.webhooks.transport import webhook_session

log = logging.getLogger(__name__)


def _runtime() -> Runtime:
    return current_app.extensions["paylink"]


@functools.cache
def _http(allow_private: bool) -> requests.Session:
    # One pooled session per worker process, shared by its threads.
    return webhook_session(allow_private=allow_private)


@shared_task(name="webhooks.deliver")
def deliver(delivery_id: str) -> str:
    """Make one signed attempt at a webhook delivery."""
    rt = _runtime()
    return delivery.deliver(
        rt.db,
        delivery_id,
        settings=rt.settings,
        http=_http(rt.settings.webhook_allow_private),
    )


@shared_task(name="webhooks.sweep_deliveries")
def sweep_deliveries() -> int:
    """Lease every due webhook delivery and queue an attempt for each."""
    rt = _runtime()
    lease = timedelta(seconds=rt.settings.publish_lease_s)
    due = delivery.lease_due_deliveries(rt.db, lease=lease)
    for delivery_id in due:
        try:
            deliver.apply_async(args=(delivery_id,), retry=True)
        except Exception:  # noqa: BLE001 - the lease lapses and a later sweep publishes again
            log.warning("could not publish webhooks.deliver for %s; will retry", delivery_id)
    return len(due)
