"""The VTPass float: the merchant wallet PayLink buys from, watched so no purchase dies of it.

- `check_balance` asks VTPass `balance` and stores the figure with its time (the beat runs it
  every `PAYLINK_FLOAT_POLL_S`, and a `018` "insufficient funds" answer runs it at once).
  Below `PAYLINK_FLOAT_LOW` it logs at ERROR; the `paylink_vtpass_float_*` gauges show it.
- `hold_for_float` is the gate before a pay request: while the last known float (a reading
  younger than `STALE_AFTER`) is below the purchase's amount, the purchase stays `queued`,
  with the reason in its history, instead of being sent to fail with `018`. It is re-driven
  when a reading shows enough float again (`waiting_purchases`), and fails through the state
  machine, funds released, once it has waited `Timing.float_wait`. The statement that starts
  a purchase asks the gate's question first (`SENDABLE`), so `hold_for_float` runs only for a
  purchase that statement held back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from shared.db import Database, utcnow
from shared.models import FloatReading, Purchase, StatusChange
from shared.purchases.states import PurchaseStatus as S
from shared.purchases.states import transition

log = logging.getLogger(__name__)

# A reading older than this is not "known": the gate lets purchases through rather than
# holding them on a figure nobody refreshed (the poll runs every minute).
STALE_AFTER = timedelta(minutes=5)
# How often a held purchase is looked at again if no reading re-drives it first.
RECHECK = timedelta(seconds=60)
INSUFFICIENT_FUNDS = "018"
BATCH = 500


class BalanceSource(Protocol):
    """What the float needs of a VTPass client."""

    def balance(self) -> Decimal: ...


@dataclass(frozen=True)
class Float:
    balance: Decimal
    checked_at: datetime

    def is_known(self, now: datetime) -> bool:
        return now - self.checked_at < STALE_AFTER


def latest(session: Session) -> Float | None:
    """Return the newest stored reading, if any."""
    row = session.execute(
        select(FloatReading)
        .order_by(FloatReading.checked_at.desc(), FloatReading.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if row is None else Float(row.balance, row.checked_at)


def check_balance(db: Database, vtpass: BalanceSource, *, low: Decimal) -> Float:
    """Read the float from VTPass, store it, and alert when it is below `low`."""
    balance = vtpass.balance()
    now = utcnow()
    with db.transaction() as session:
        session.add(FloatReading(balance=balance, checked_at=now))
    if balance < low:
        log.error("VTPass float is low: %s naira (threshold %s); top up the wallet", balance, low)
    return Float(balance, now)


def waiting_purchases(db: Database, reading: Float) -> list[str]:
    """Return the held purchases this float can now pay for; their pay should be published."""
    with db.transaction() as session:
        return list(
            session.execute(
                select(Purchase.id)
                .where(
                    Purchase.status == S.QUEUED,
                    Purchase.float_wait_since.is_not(None),
                    Purchase.amount <= reading.balance,
                )
                .order_by(Purchase.float_wait_since)
                .limit(BATCH)
            ).scalars()
        )


def waiting_count(session: Session) -> int:
    """How many queued purchases are held for the float."""
    return len(
        session.execute(
            select(Purchase.id).where(
                Purchase.status == S.QUEUED, Purchase.float_wait_since.is_not(None)
            )
        ).all()
    )


# The gate's question as SQL about a purchase row `p`, asked by the statement that starts it
# (`shared.purchases.states.start_processing`), so a purchase the float covers is started in
# that one statement: it may be sent unless it is held already, or the newest reading is
# known (`STALE_AFTER`) and below its amount. Its parameters: `sendable_params`.
SENDABLE = """p.float_wait_since IS NULL AND NOT EXISTS (
    SELECT 1 FROM (
        SELECT balance, checked_at FROM vtpass_float_readings
        ORDER BY checked_at DESC, id DESC LIMIT 1
    ) newest
    WHERE newest.checked_at > :float_known_since AND newest.balance < p.amount
)"""


def sendable_params(now: datetime) -> dict[str, datetime]:
    """The parameters of `SENDABLE` at `now`."""
    return {"float_known_since": now - STALE_AFTER}


def hold_for_float(db: Database, purchase_id: str, *, wait: timedelta) -> bool:
    """Keep a queued purchase back while the known float cannot pay it; True if held/failed.

    Asked only for a purchase the start statement held back (`SENDABLE` said no), so it goes
    straight to the row, locked.
    """
    now = utcnow()
    with db.transaction() as session:
        purchase = session.get(
            Purchase, purchase_id, with_for_update=True, options=[lazyload(Purchase.history)]
        )
        if purchase is None or purchase.status != S.QUEUED:
            return False
        reading = latest(session)
        short = _short(reading, purchase.amount, now)
        if not short:
            if purchase.float_wait_since is not None:
                purchase.float_wait_since = None
                _note(session, purchase, "the VTPass float is back; sending the purchase", now)
            return False
        assert reading is not None
        since = purchase.float_wait_since or now
        if now - since >= wait:
            transition(
                session,
                purchase,
                S.FAILED,
                expected=S.QUEUED,
                reason=(
                    f"the VTPass float stayed below {purchase.amount} for {wait}; "
                    "nothing was sent, the funds are back in the wallet"
                ),
                actor="worker",
                changes={
                    "float_wait_since": None,
                    "error": {
                        "code": "upstream_unavailable",
                        "message": "This service is briefly unavailable; you were not charged.",
                    },
                },
                now=now,
            )
            return True
        if purchase.float_wait_since is None:
            purchase.float_wait_since = now
            _note(
                session,
                purchase,
                f"waiting: the VTPass float ({reading.balance}) is below this purchase's amount; "
                "it is sent when the float is topped up",
                now,
            )
        purchase.next_attempt_at = min(now + RECHECK, since + wait)
        return True


def _short(reading: Float | None, amount: Decimal, now: datetime) -> bool:
    return reading is not None and reading.is_known(now) and reading.balance < amount


def holds_back(session: Session, purchase: Purchase, now: datetime) -> bool:
    """Whether the gate keeps this purchase (its row locked by the caller) from being sent:
    `SENDABLE`'s question, for a caller that did not ask it in its statement."""
    return purchase.float_wait_since is not None or _short(latest(session), purchase.amount, now)


def _note(session: Session, purchase: Purchase, reason: str, now: datetime) -> None:
    # A history line without a status change: the purchase stays queued.
    session.add(
        StatusChange(purchase_id=purchase.id, status=purchase.status, reason=reason, at=now)
    )
