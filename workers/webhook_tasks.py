"""Webhook tasks on the `webhooks` queue: sweep due deliveries, make one attempt at each.

The sweeper leases due rows and publishes; a lost message costs one lease (the row comes due
again), and a duplicate one finds the delivery already settled or re-claimed.
"""

from __future__ import annotations

import functools

import requests
from celery import shared_task
from flask import current_app

from shared.runtime import Runtime
from shared.webhooks import delivery
from shared.webhooks.transport import webhook_session
from workers.publish import DELIVER_WEBHOOK, publish_due_webhooks


def _runtime() -> Runtime:
    return current_app.extensions["paylink"]


@functools.cache
def _http(allow_private: bool) -> requests.Session:
    # One pooled session per worker process, shared by its threads.
    return webhook_session(allow_private=allow_private)


@shared_task(name=DELIVER_WEBHOOK)
def deliver(delivery_id: str) -> str:
    """Make one signed attempt at a webhook delivery."""
    rt = _runtime()
    return delivery.deliver(
        rt.db,
        delivery_id,
        settings=rt.settings,
        http=_http(rt.settings.webhook_allow_private),
        slots=rt.delivery_slots,
    )


@shared_task(name="webhooks.sweep_deliveries")
def sweep_deliveries() -> int:
    """Lease every due webhook delivery and queue an attempt for each."""
    return publish_due_webhooks()
