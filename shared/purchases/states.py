"""The purchase state machine: the one place that says which status may follow which.

Every change is a compare-and-set (`UPDATE ... WHERE id = :id AND status = :expected`) that
appends to the history and the audit log, and moves the money that the new status implies,
all in the caller's transaction. A caller that loses the race gets False and does nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Table,
    bindparam,
    column,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ClauseElement

from shared import audit, ledger
from shared.db import utcnow
from shared.models import Journal, Purchase, StatusChange
from shared.streams.publish import note_status_change
from shared.webhooks.events import record_purchase_event


class PurchaseStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    REVERSED = "reversed"
    REVIEW = "review"


S = PurchaseStatus

ALLOWED: dict[PurchaseStatus, frozenset[PurchaseStatus]] = {
    # queued -> failed: the pay request provably never reached VTPass and we gave up.
    S.QUEUED: frozenset({S.PROCESSING, S.FAILED}),
    # processing -> queued: connect refused, the request never left; try again.
    S.PROCESSING: frozenset({S.DELIVERED, S.FAILED, S.REVERSED, S.PENDING, S.QUEUED, S.REVIEW}),
    # pending -> queued: a requery proved VTPass never saw the request_id (015).
    S.PENDING: frozenset({S.DELIVERED, S.FAILED, S.REVERSED, S.REVIEW, S.QUEUED}),
    # review: funds stay held until a requery concludes or an operator resolves it.
    # A review entered from delivered (a reversal notice no requery confirmed) has its money
    # captured: it can only return to delivered or be reversed (refunded), never fail.
    S.REVIEW: frozenset({S.DELIVERED, S.FAILED, S.REVERSED}),
    # delivered -> review: VTPass noticed a reversal that no follow-up requery settled.
    S.DELIVERED: frozenset({S.REVERSED, S.REVIEW}),
    S.FAILED: frozenset(),
    S.REVERSED: frozenset(),
}

FINAL = frozenset({S.DELIVERED, S.FAILED, S.REVERSED})
ACTIVE = frozenset({S.QUEUED, S.PROCESSING, S.PENDING})
# What a requery can still change: pending and review conclude, delivered may be reversed.
REQUERYABLE = frozenset({S.PENDING, S.REVIEW, S.DELIVERED})


class IllegalTransition(ValueError):
    """A status change the state machine does not allow (a bug in the caller)."""


def settlement_for(
    from_status: PurchaseStatus, to_status: PurchaseStatus, *, captured: bool = False
) -> str | None:
    """Return the ledger movement a transition implies, if any.

    `captured`: the purchase's money was already captured (a review entered from delivered).
    """
    if captured or from_status == S.DELIVERED:
        if to_status == S.FAILED:
            raise IllegalTransition(f"{from_status} -> {to_status} after capture")
        return "refund" if to_status == S.REVERSED else None
    if to_status == S.DELIVERED:
        return "capture"
    if to_status == S.FAILED:
        return "release"
    if to_status == S.REVERSED:
        return "release"
    return None


def captured(session: Session, purchase_id: str) -> bool:
    """Whether the purchase's money was captured (it was delivered at some point)."""
    found = session.execute(
        select(Journal.id).where(Journal.purchase_id == purchase_id, Journal.kind == "capture")
    ).first()
    return found is not None


# What the audit log says of every status change, wherever it is written.
STATUS_ACTION = "purchase.status"


def _status_detail(
    from_status: PurchaseStatus, to_status: PurchaseStatus, reason: str
) -> dict[str, str]:
    return {"from": from_status.value, "to": to_status.value, "reason": reason}


# The tables behind the ORM classes: a transition writes with Core statements (the ORM's
# bulk-update and unit-of-work machinery was a third of a settle's CPU, profiled).
_PURCHASES = cast(Table, Purchase.__table__)
_HISTORY = cast(Table, StatusChange.__table__)
# Attribute name -> column of every mapped column of a purchase, for UPDATE ... RETURNING.
_COLUMNS = {prop.key: _PURCHASES.c[prop.columns[0].name] for prop in inspect(Purchase).column_attrs}


# queued -> processing, the step before every pay request, in one statement: the row is
# locked first (the CTE), so the lease counts from the moment it is taken, after any wait for
# the lock; the history line and the audit entry go in with it, so the statement is atomic
# on its own and needs no transaction around it. Times are the caller's clock (`:now`, as
# every other timestamp) plus however long the statement itself took, lock wait included.
# Only for a request_id minted on the current Lagos day (`today`) and a purchase the caller's
# `sendable` condition on the row `p` lets through (the VTPass float gate): the one row that
# always comes back says whether the purchase is queued with an older id (`renew`: renewing
# it is `transition`'s job) and whether `sendable` held it back (`held`), so a caller holding
# a stale message (the purchase started or settled already) knows at once there is nothing
# to do.
@functools.lru_cache(maxsize=4)
def _start_statement(sendable: str) -> Any:
    return (
        text(
            f"""
    WITH locked AS (
        SELECT p.id FROM purchases p
        WHERE p.id = :purchase_id AND p.status = 'queued' AND starts_with(p.request_id, :today)
          AND ({sendable})
        FOR UPDATE
    ), moved AS (
        UPDATE purchases p SET
            status = 'processing',
            pay_attempts = p.pay_attempts + 1,
            last_pay_at = taken.at,
            next_attempt_at = taken.at + :lease,
            updated_at = taken.at,
            version = p.version + 1
        FROM locked
        CROSS JOIN LATERAL (
            SELECT CAST(:now AS timestamptz) + (clock_timestamp() - statement_timestamp()) AS at
            WHERE locked.id IS NOT NULL
        ) taken
        WHERE p.id = locked.id AND p.status = 'queued'
        RETURNING {", ".join(f"p.{column.name}" for column in _COLUMNS.values())}
    ), noted AS (
        INSERT INTO purchase_status_history (purchase_id, status, reason, at)
        SELECT id, 'processing', :reason, updated_at FROM moved
    ), audited AS (
        INSERT INTO audit_log (at, actor, action, purchase_id, user_id, detail)
        SELECT updated_at, :actor, :action, id, user_id, :detail FROM moved
    )
    SELECT probe.renew, probe.held, moved.*
    FROM (
        SELECT EXISTS (
            SELECT 1 FROM purchases p
            WHERE p.id = :purchase_id AND p.status = 'queued'
              AND NOT starts_with(p.request_id, :today)
        ) AS renew, EXISTS (
            SELECT 1 FROM purchases p
            WHERE p.id = :purchase_id AND p.status = 'queued' AND NOT ({sendable})
        ) AS held
    ) probe
    LEFT JOIN moved ON true
    """
        )
        .bindparams(bindparam("detail", type_=audit.AUDIT_LOG.c.detail.type))
        .columns(column("renew", Boolean), column("held", Boolean), *_COLUMNS.values())
    )


# The one move `start_processing` makes outside `transition`: the state machine allows it.
assert S.PROCESSING in ALLOWED[S.QUEUED]


@dataclass(frozen=True)
class Start:
    """What `start_processing` did: the purchase as written if it started; else whether it
    is queued with an older request_id (`renew`) or was held back by `sendable` (`held`)."""

    purchase: Purchase | None
    renew: bool = False
    held: bool = False


def start_processing(
    session: Session,
    purchase_id: str,
    *,
    today: str,
    lease: timedelta,
    reason: str,
    actor: str,
    sendable: str,
    sendable_params: dict[str, Any],
) -> Start:
    """`transition(queued -> processing)` for a purchase whose request_id is of `today` and
    that the SQL condition `sendable` (on its row `p`, with `sendable_params`) lets through.

    One statement, atomic by itself: `session` may be an autocommit one
    (`Database.autocommit_session`). The purchase it returns is not attached to the session.
    """
    row = (
        session.connection()
        .execute(
            _start_statement(sendable),
            {
                "purchase_id": purchase_id,
                "today": today,
                "lease": lease,
                "reason": reason,
                "now": utcnow(),
                "actor": actor,
                "action": STATUS_ACTION,
                "detail": audit.clean_detail(_status_detail(S.QUEUED, S.PROCESSING, reason)),
                **_own(sendable_params),
            },
        )
        .mappings()
        .one()
    )
    if row["id"] is None:
        return Start(None, renew=bool(row["renew"]), held=bool(row["held"]))
    purchase = Purchase(**{key: value for key, value in row.items() if key not in PROBES})
    note_status_change(
        session, purchase_id=purchase.id, user_id=purchase.user_id, status=S.PROCESSING.value
    )
    return Start(purchase)


PROBES = ("renew", "held")
_START_PARAMS = frozenset(
    {"purchase_id", "today", "lease", "reason", "now", "actor", "action", "detail"}
)


def _own(sendable_params: dict[str, Any]) -> dict[str, Any]:
    # The condition's parameters must not replace the statement's own.
    assert not _START_PARAMS & set(sendable_params), sendable_params
    return sendable_params


@functools.lru_cache(maxsize=128)
def _move_statement(columns: tuple[str, ...], versioned: bool, noted: bool) -> Any:
    """The compare-and-set UPDATE setting `columns` (and, if `noted`, its history line).

    Built once per shape, not per call: building the CTE's columns was a tenth of a settle.
    """
    c = _PURCHASES.c
    return _build_move(
        {name: bindparam(f"set_{name}", type_=c[name].type) for name in columns}, versioned, noted
    )


def _build_move(assigned: dict[str, Any], versioned: bool, noted: bool) -> Any:
    c = _PURCHASES.c
    guard = [
        c.id == bindparam("guard_id", type_=c.id.type),
        c.status == bindparam("guard_status", type_=c.status.type),
    ]
    if versioned:
        guard.append(c.version == bindparam("guard_version", type_=c.version.type))
    statement: Any = (
        update(_PURCHASES)
        .where(*guard)
        .values({**assigned, "version": c.version + 1})
        .returning(*_COLUMNS.values())
    )
    if not noted:
        return statement
    # The history line goes in with the UPDATE, and only if the row moved. The statement also
    # returns the purchase's whole history, for its event: the lines before this one (the
    # statement cannot see the line it writes) and then this one.
    moved = statement.cte("moved")
    h = _HISTORY.c
    line = (
        insert(_HISTORY)
        .from_select(
            ["purchase_id", "status", "reason", "at"],
            select(
                moved.c.id,
                moved.c.status,
                bindparam("note_reason", type_=h.reason.type),
                moved.c.updated_at,
            ),
        )
        .returning(h.id, h.status, h.reason, h.at)
        .cte("noted")
    )
    history = (
        func.array_cat(
            select(func.array_agg(aggregate_order_by(h[name], h.id)))
            .where(h.purchase_id == moved.c.id)
            .scalar_subquery(),
            select(func.array_agg(line.c[name])).scalar_subquery(),
        ).label(f"history_{name}")
        for name in HISTORY_COLUMNS
    )
    return select(moved, *history)


HISTORY_COLUMNS = ("id", "status", "reason", "at")


def transition(
    session: Session,
    purchase: Purchase,
    to_status: PurchaseStatus,
    *,
    expected: PurchaseStatus | None = None,
    expected_version: int | None = None,
    reason: str,
    actor: str,
    changes: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Move a purchase to `to_status` if it is still in `expected`; return whether it moved.

    With `expected_version`, it must also be unchanged since the caller read it: an answer
    about an earlier attempt can never settle a later one that is in the same status.
    The purchase's history comes back with the change (for its event); it is complete when
    the caller holds the row or passes `expected_version`, as every caller that can race does.
    """
    from_status = S(expected or purchase.status)
    if to_status != from_status and to_status not in ALLOWED[from_status]:
        raise IllegalTransition(f"{from_status} -> {to_status}")
    was_captured = from_status == S.REVIEW and captured(session, purchase.id)
    # Raises before anything is written if the move would undo a capture the wrong way.
    movement = (
        settlement_for(from_status, to_status, captured=was_captured)
        if to_status != from_status
        else None
    )
    now = now or utcnow()
    values: dict[str, Any] = {_COLUMNS[name].name: value for name, value in (changes or {}).items()}
    values.update(status=to_status.value, updated_at=now)
    if to_status in FINAL and from_status not in FINAL:
        values["completed_at"] = now
        values["next_attempt_at"] = None
    elif to_status in (S.REVIEW,):
        values["next_attempt_at"] = None
    noted, versioned = to_status != from_status, expected_version is not None
    if any(
        isinstance(value, ClauseElement) or hasattr(value, "__clause_element__")
        for value in values.values()
    ):
        # A change computed in SQL (`column + 1`): a statement of its own, built this once.
        statement = _build_move(values, versioned, noted)
        values = {}
    else:
        # Plain values: parameters of a statement built once per shape.
        statement = _move_statement(tuple(sorted(values)), versioned, noted)
    params = {f"set_{name}": value for name, value in values.items()}
    params.update(guard_id=purchase.id, guard_status=from_status.value)
    params.update(guard_version=expected_version, note_reason=reason)
    # Changes the caller made to ORM objects reach the database first, as autoflush would.
    session.flush()
    moved = session.connection().execute(statement, params).first()
    if moved is None:
        return False
    # The row as written comes back with the UPDATE: no second round trip to refresh it.
    for key, value in zip(_COLUMNS, moved[: len(_COLUMNS)], strict=True):
        set_committed_value(purchase, key, value)
    if noted:
        # And its history, with the line just written (for the event: no re-read).
        ids, statuses, reasons, times = moved[len(_COLUMNS) :]
        set_committed_value(
            purchase,
            "history",
            [
                StatusChange(id=i, purchase_id=purchase.id, status=st, reason=r, at=at)
                for i, st, r, at in zip(ids, statuses, reasons, times, strict=True)
            ],
        )
    else:
        session.expire(purchase, ["history"])
    if to_status != from_status:
        audit.record(
            session,
            actor=actor,
            action=STATUS_ACTION,
            purchase_id=purchase.id,
            user_id=purchase.user_id,
            detail=_status_detail(from_status, to_status, reason),
        )
        record_purchase_event(session, purchase, to_status.value)
        # Live streams hear of it once this transaction has committed, never before.
        note_status_change(
            session, purchase_id=purchase.id, user_id=purchase.user_id, status=to_status.value
        )
        if movement:
            ledger.settle(
                session,
                kind=movement,
                user_id=purchase.user_id,
                purchase_id=purchase.id,
                amount=purchase.amount,
                actor=actor,
            )
    return True
