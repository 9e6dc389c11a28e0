"""Audit entries are written with the transaction that records them, and only with it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from shared import audit
from shared.models import AuditEntry


def actions(runtime, marker: str) -> list[str]:
    with runtime.db.sessions() as session:
        rows = session.execute(
            select(AuditEntry.action).where(AuditEntry.actor == marker).order_by(AuditEntry.id)
        )
        return list(rows.scalars())


def test_entries_commit_with_their_transaction_in_order(runtime):
    marker = uuid.uuid4().hex[:16]
    with runtime.db.transaction() as session:
        for action in ("first", "second", "third"):
            audit.record(session, actor=marker, action=action, detail={"password": "x"})
        assert actions(runtime, marker) == []  # not before the commit
    assert actions(runtime, marker) == ["first", "second", "third"]
    with runtime.db.sessions() as session:
        detail = session.execute(
            select(AuditEntry.detail).where(AuditEntry.actor == marker).limit(1)
        ).scalar_one()
    assert detail == {"password": "***"}


def test_a_rolled_back_transaction_writes_none(runtime):
    marker = uuid.uuid4().hex[:16]
    with pytest.raises(RuntimeError), runtime.db.transaction() as session:
        audit.record(session, actor=marker, action="lost")
        raise RuntimeError
    with runtime.db.sessions() as session, session.begin():
        audit.record(session, actor=marker, action="kept")
    assert actions(runtime, marker) == ["kept"]


def test_a_rolled_back_savepoint_drops_only_its_own_entries(runtime):
    marker = uuid.uuid4().hex[:16]
    with runtime.db.transaction() as session:
        audit.record(session, actor=marker, action="outer")
        with pytest.raises(RuntimeError), session.begin_nested():
            audit.record(session, actor=marker, action="inner")
            raise RuntimeError
    assert actions(runtime, marker) == ["outer"]


@pytest.mark.parametrize("count", [1, 8, 9, 40])
def test_every_entry_is_written_whatever_their_number(runtime, count):
    """A few entries go in as one multi-row INSERT, many through executemany: all of them."""
    marker = uuid.uuid4().hex[:16]
    with runtime.db.transaction() as session:
        for i in range(count):
            audit.record(session, actor=marker, action=f"a{i}", detail={"i": i, "n": [i]})
    assert actions(runtime, marker) == [f"a{i}" for i in range(count)]
    with runtime.db.sessions() as session:
        details = session.execute(
            select(AuditEntry.detail).where(AuditEntry.actor == marker).order_by(AuditEntry.id)
        ).scalars()
        assert list(details) == [{"i": i, "n": [i]} for i in range(count)]


def test_a_released_savepoint_inside_a_rolled_back_one_keeps_the_outer_entries(runtime):
    """Releasing a savepoint writes nothing yet: the outer entries survive an enclosing rollback."""
    marker = uuid.uuid4().hex[:16]
    with runtime.db.transaction() as session:
        audit.record(session, actor=marker, action="outer")
        with pytest.raises(RuntimeError), session.begin_nested():
            with session.begin_nested():
                audit.record(session, actor=marker, action="inner")
            raise RuntimeError
        with session.begin_nested():
            audit.record(session, actor=marker, action="released")
        assert actions(runtime, marker) == []  # still nothing before the outer commit
    assert actions(runtime, marker) == ["outer", "released"]


def test_a_transaction_left_with_a_savepoint_open_commits_nothing(runtime):
    """Committing with a savepoint still open is a bug: refused, so nothing half-done commits."""
    marker = uuid.uuid4().hex[:16]
    with pytest.raises(RuntimeError, match="savepoint"), runtime.db.transaction() as session:
        audit.record(session, actor=marker, action="outer")
        session.begin_nested()
        audit.record(session, actor=marker, action="inner")
    assert actions(runtime, marker) == []


def test_a_savepoint_whose_flush_failed_drops_its_entries(runtime):
    """A failed flush leaves the savepoint inactive and closed, not rolled back by name."""
    from sqlalchemy.exc import IntegrityError

    marker = uuid.uuid4().hex[:16]
    with runtime.db.transaction() as session:
        audit.record(session, actor=marker, action="seed")
    with runtime.db.sessions() as session:
        taken = session.execute(
            select(AuditEntry.id).where(AuditEntry.actor == marker)
        ).scalar_one()
    with runtime.db.transaction() as session:
        audit.record(session, actor=marker, action="outer")
        with pytest.raises(IntegrityError), session.begin_nested():
            audit.record(session, actor=marker, action="inner")
            session.add(AuditEntry(id=taken, actor="x", action="duplicate id"))
            session.flush()
        with session.begin_nested():
            audit.record(session, actor=marker, action="released")
    assert actions(runtime, marker) == ["seed", "outer", "released"]
