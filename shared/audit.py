"""The append-only audit log."""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import Table, TextClause, bindparam, event, insert, text
from sqlalchemy.orm import Session, SessionTransaction

from shared.db import utcnow
from shared.formats import iso
from shared.models import AuditEntry

REDACTED_KEYS = frozenset(
    {
        "api-key",
        "secret-key",
        "public-key",
        "password",
        "secret",
        "authorization",
        "access_token",
        "refresh_token",
    }
)


def redact(value: Any) -> Any:
    """Return a copy with any secret-looking keys masked."""
    if isinstance(value, dict):
        return {
            k: "***" if str(k).lower() in REDACTED_KEYS else redact(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def storable(value: Any, *, max_chars: int = 4000) -> Any:
    """Return outside data (VTPass answers, callbacks) in a form PostgreSQL always accepts.

    JSONB and text columns refuse the NUL character and lone surrogates (not UTF-8), and one
    odd answer must never make the write that records it fail (the purchase would stay
    pending for ever): strip NULs, replace surrogates, and bound string lengths.
    """
    if isinstance(value, str):
        clean = value.replace("\x00", "")[:max_chars]
        return clean.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {
            storable(str(k), max_chars=200): storable(v, max_chars=max_chars)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [storable(v, max_chars=max_chars) for v in value]
    return value


_PENDING = "paylink.audit_pending"
AUDIT_LOG = cast(Table, AuditEntry.__table__)


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    purchase_id: str | None = None,
    user_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry to the caller's transaction (written when it commits)."""
    session.info.setdefault(_PENDING, []).append(
        {
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "purchase_id": purchase_id,
            "user_id": user_id,
            "detail": clean_detail(detail),
        }
    )


def clean_detail(detail: dict[str, Any] | None) -> Any:
    """An entry's detail as stored: secrets masked, outside text made storable."""
    return storable(redact(detail or {}))


# Each open savepoint -> how many entries were pending when it began.
_MARKS = "paylink.audit_savepoints"


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        session.info.setdefault(_MARKS, {})[transaction] = len(session.info.get(_PENDING, ()))


@event.listens_for(Session, "after_commit")
def _note_released(session: Session) -> None:
    # Fires for a savepoint's release too, while it is still the innermost transaction.
    released = session.get_nested_transaction()
    if released is not None:
        session.info.get(_MARKS, {}).pop(released, None)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    # A transaction's entries go in as one statement just before it commits, so they
    # commit with the work they describe, or not at all. Releasing a savepoint fires this
    # too: the entries wait for the outermost commit, so an enclosing savepoint that rolls
    # back still drops its own and never takes the outer ones with it. (`Database.transaction`
    # refuses to commit with a savepoint open, which would end up here too.)
    if session.in_nested_transaction():
        return
    rows = session.info.pop(_PENDING, None)
    if rows:
        # One INSERT ... VALUES (...), (...), built once per row count: cheaper than the
        # driver's executemany (a settle writes three entries, an accept two).
        if len(rows) > _ROWS_AT_ONCE:
            session.connection().execute(insert(AUDIT_LOG), rows)
            return
        params = {f"{name}_{i}": row[name] for i, row in enumerate(rows) for name in _FIELDS}
        session.connection().execute(_insert_rows(len(rows)), params)


_ROWS_AT_ONCE = 8
_FIELDS = ("at", "actor", "action", "purchase_id", "user_id", "detail")


@functools.lru_cache(maxsize=_ROWS_AT_ONCE)
def _insert_rows(count: int) -> TextClause:
    # As text: SQLAlchemy compiles a multi-row `insert().values([...])` afresh every time.
    rows = ", ".join(
        "(" + ", ".join(f":{name}_{i}" for name in _FIELDS) + ")" for i in range(count)
    )
    return text(f"INSERT INTO audit_log ({', '.join(_FIELDS)}) VALUES {rows}").bindparams(
        *(
            bindparam(f"{name}_{i}", type_=AUDIT_LOG.c[name].type)
            for i in range(count)
            for name in _FIELDS
        )
    )


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        # A savepoint ended without being released (rolled back, or closed inactive after a
        # failed flush): the entries recorded inside it describe work that is gone.
        mark = session.info.get(_MARKS, {}).pop(transaction, None)
        if mark is not None:
            del session.info.get(_PENDING, [])[mark:]
    elif transaction.parent is None:
        # The outermost transaction ended without a commit writing them: they go with it.
        session.info.pop(_PENDING, None)
        session.info.pop(_MARKS, None)


def audit_object(entry: AuditEntry) -> dict[str, Any]:
    """Return one audit entry as the admin API shows it."""
    return {
        "id": str(entry.id),
        "at": iso(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "purchase_id": entry.purchase_id,
        "user_id": entry.user_id,
        "detail": entry.detail,
    }
