"""Thread-safe in-memory ledger: transactions, scripts and the merchant wallet."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from simulator.faults import Script, default_script, is_magic

CHARGED_STATUSES = frozenset({"delivered", "pending", "reversed"})


@dataclass
class Txn:
    request_id: str
    service_id: str
    customer: str
    phone: str
    variation_code: str | None
    unit_price: Decimal
    quantity: int
    amount: Decimal
    commission: Decimal
    transaction_id: str
    created_at: datetime
    extras: dict = field(default_factory=dict)  # product fields shown once delivered
    status: str = "initiated"
    processing: bool = False  # requery answers 099 while pending
    requeries_left: int | None = None  # None: no automatic resolution
    final_status: str = "delivered"
    pay_calls: int = 1
    answer_format: str | None = None  # None: the service's own (see responses.py)
    requery_stalls: int = 0  # how many of the next requeries stall before answering
    requery_stall_s: float | None = None  # None: the app's TIMEOUT_STALL_S

    @property
    def total_amount(self) -> Decimal:
        """Return what the merchant wallet pays: amount less commission."""
        return self.amount - self.commission

    @property
    def charged(self) -> bool:
        """Return True when the merchant's money was taken for this transaction."""
        return self.status in CHARGED_STATUSES

    def record(self) -> dict:
        """Return the /_sim/transactions view of this transaction."""
        return {
            "request_id": self.request_id,
            "service_id": self.service_id,
            "customer": self.customer,
            "phone": self.phone,
            "variation_code": self.variation_code,
            "quantity": self.quantity,
            "amount": float(self.amount),
            "total_amount": float(self.total_amount),
            "status": self.status,
            "charged": self.charged,
            "created_at": self.created_at.isoformat(),
            "pay_calls": self.pay_calls,
            "transaction_id": self.transaction_id,
        }


class Ledger:
    """All mutable simulator state, guarded by one lock."""

    def __init__(self, initial_balance: Decimal) -> None:
        self._lock = threading.Lock()
        self._initial_balance = initial_balance
        self._txns: dict[str, Txn] = {}
        self._scripts: list[Script] = []
        self._recent: dict[tuple[str, str], float] = {}
        self._balance = initial_balance

    def reset(self) -> None:
        """Forget every transaction and script and refill the wallet."""
        with self._lock:
            self._txns.clear()
            self._scripts.clear()
            self._recent.clear()
            self._balance = self._initial_balance

    @property
    def balance(self) -> Decimal:
        """Return the merchant wallet balance."""
        with self._lock:
            return self._balance

    def set_balance(self, value: Decimal) -> None:
        """Overwrite the merchant wallet balance."""
        with self._lock:
            self._balance = value

    def note_call(self, request_id: str) -> bool:
        """Count a pay call for a known request_id; return whether it is known."""
        with self._lock:
            txn = self._txns.get(request_id)
            if txn is not None:
                txn.pay_calls += 1
            return txn is not None

    def accept(self, draft: Txn, guard_s: float) -> tuple[Txn, Script] | str:
        """Record a pay call atomically; return (txn, script) or a rejection code."""
        with self._lock:
            existing = self._txns.get(draft.request_id)
            if existing is not None:
                existing.pay_calls += 1
                return "014"
            scripted = self._peek_script(draft.customer)
            key = (draft.service_id, draft.customer)
            now = time.monotonic()
            if scripted is None and not is_magic(draft.customer) and guard_s > 0:
                last = self._recent.get(key)
                if last is not None and now - last < guard_s:
                    return "019"
            script = scripted or default_script(draft.customer)
            if script.charges and self._balance < draft.total_amount:
                return "018"
            if scripted is not None:
                self._consume_script(scripted)
                if scripted.behaviour == "lose":
                    # Lost on the way in: VTPass never records it, so a requery says 015.
                    return replace(draft), scripted
            draft.status = script.initial_status
            draft.processing = script.behaviour == "processing"
            draft.requeries_left = script.resolve_after_requeries
            draft.final_status = script.final_status
            draft.answer_format = script.format
            if script.fields is not None:
                draft.extras = dict(script.fields)
            if draft.charged:
                self._balance -= draft.total_amount
            self._txns[draft.request_id] = draft
            self._recent[key] = now
            return replace(draft), script

    def get(self, request_id: str) -> Txn | None:
        """Return a snapshot of one transaction."""
        with self._lock:
            txn = self._txns.get(request_id)
            return replace(txn) if txn else None

    def all(self) -> list[Txn]:
        """Return snapshots of every transaction, oldest first."""
        with self._lock:
            return [replace(t) for t in self._txns.values()]

    def requery(self, request_id: str) -> tuple[Txn, bool] | None:
        """Apply one requery; return (snapshot, status_changed), or None if unknown."""
        with self._lock:
            txn = self._txns.get(request_id)
            if txn is None:
                return None
            changed = False
            if txn.status == "pending" and txn.requeries_left is not None:
                if txn.requeries_left == 0:
                    self._set_status(txn, txn.final_status)
                    changed = True
                else:
                    txn.requeries_left -= 1
            return replace(txn), changed

    def transition(
        self,
        request_id: str,
        status: str,
        allowed_from: frozenset[str],
        *,
        stall_requeries: int = 0,
        stall_s: float | None = None,
    ) -> Txn | str:
        """Move a transaction to a new status; return the snapshot or an error message.

        `stall_requeries` makes that many of the next requeries stall (`stall_s`) first, set
        in the same step so no requery can come between the change and the stall.
        """
        with self._lock:
            txn = self._txns.get(request_id)
            if txn is None:
                return f"unknown request_id {request_id!r}"
            if txn.status not in allowed_from:
                return f"cannot move a {txn.status} transaction to {status}"
            self._set_status(txn, status)
            if stall_requeries:
                txn.requery_stalls, txn.requery_stall_s = stall_requeries, stall_s
            return replace(txn)

    def take_requery_stall(self, request_id: str, default_s: float) -> float | None:
        """Return how long this requery stalls, if a stall is still owed, and count it."""
        with self._lock:
            txn = self._txns.get(request_id)
            if txn is None or txn.requery_stalls <= 0:
                return None
            txn.requery_stalls -= 1
            return txn.requery_stall_s if txn.requery_stall_s is not None else default_s

    def add_script(self, script: Script) -> None:
        """Queue a scripted behaviour for a customer value (first queued applies first)."""
        with self._lock:
            self._scripts.append(script)

    def scripts(self) -> list[Script]:
        """Return the queued scripts."""
        with self._lock:
            return [replace(s) for s in self._scripts]

    def clear_scripts(self, customer: str | None = None) -> None:
        """Drop queued scripts, all of them or one customer's."""
        with self._lock:
            self._scripts = [
                s for s in self._scripts if customer is not None and s.customer != customer
            ]

    def _peek_script(self, customer: str) -> Script | None:
        return next((s for s in self._scripts if s.customer == customer), None)

    def _consume_script(self, script: Script) -> None:
        if script.times is None:
            return
        script.times -= 1
        if script.times == 0:
            self._scripts = [s for s in self._scripts if s is not script]

    def _set_status(self, txn: Txn, status: str) -> None:
        was_charged = txn.charged
        txn.status = status
        if was_charged and status in ("failed", "reversed"):
            self._balance += txn.total_amount
