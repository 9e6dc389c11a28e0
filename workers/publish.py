"""Publishing tasks from the edges, after commit; a failed publish is left to the sweeper."""

from __future__ import annotations

import logging

from flask import current_app

log = logging.getLogger(__name__)

PAY = "purchases.pay"
REQUERY = "purchases.requery"


def publish_pay(purchase_id: str) -> bool:
    """Queue the pay task for a purchase; return whether the broker took it."""
    return _publish(PAY, purchase_id)


def publish_requery(purchase_id: str) -> bool:
    """Queue a requery for a purchase; return whether the broker took it."""
    return _publish(REQUERY, purchase_id)


def _publish(task_name: str, purchase_id: str) -> bool:
    # The app's own Celery (not a process-wide default), so every app publishes to its broker.
    try:
        current_app.extensions["celery"].send_task(task_name, args=(purchase_id,), retry=True)
        return True
    except Exception:  # noqa: BLE001 - the row is committed; the sweeper will drive it
        log.warning("could not publish %s for %s; the sweeper will", task_name, purchase_id)
        return False
