"""Outgoing VTPass ``transaction-update`` callbacks, fired from a background thread."""

from __future__ import annotations

import threading

import requests

from simulator.responses import transaction_body
from simulator.store import Txn

TIMEOUT_S = 2.0


def _post_repeatedly(url: str, payload: dict, times: int) -> None:
    for _ in range(times):
        try:
            requests.post(url, json=payload, timeout=TIMEOUT_S)
        except requests.RequestException:
            pass


def send_transaction_update(url: str | None, txn: Txn, times: int = 1) -> None:
    """POST a transaction-update callback for txn ``times`` times, unless no URL is set."""
    if not url or times < 1:
        return
    payload = {"type": "transaction-update", "data": transaction_body(txn)}
    threading.Thread(
        target=_post_repeatedly,
        args=(url, payload, times),
        daemon=True,
        name=f"vtpass-sim-callback-{txn.request_id}",
    ).start()
