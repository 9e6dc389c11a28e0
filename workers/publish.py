"""Publishing tasks from the edges, after commit; a failed publish is left to the sweeper."""

from __future__ import annotations

import logging

from celery import Task

log = logging.getLogger(__name__)


def publish_pay(purchase_id: str) -> bool:
    """Queue the pay task for a purchase; return whether the broker took it."""
    from workers.tasks import pay

    return _publish(pay, purchase_id)


def publish_requery(purchase_id: str) -> bool:
    """Queue a requery for a purchase; return whether the broker took it."""
    from workers.tasks import requery

    return _publish(requery, purchase_id)


def _publish(task: Task, purchase_id: str) -> bool:
    try:
        task.apply_async(args=(purchase_id,), retry=True)
        return True
    except Exception:  # noqa: BLE001 - the row is committed; the sweeper will drive it
        log.warning("could not publish %s for %s; the sweeper will", task.name, purchase_id)
        return False
