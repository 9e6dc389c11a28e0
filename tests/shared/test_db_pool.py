"""Pooled connections: pinged only after sitting idle, and a dead one is replaced, not used."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared import db as dbmod


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def terminate(runtime, pid: int) -> None:
    with runtime.db.engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()


@pytest.fixture
def engine(database_url):
    engine = dbmod.make_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def test_an_idle_connection_that_died_is_replaced_before_use(runtime, engine, monkeypatch):
    first = backend_pid(engine)
    terminate(runtime, first)
    monkeypatch.setattr(dbmod, "PING_AFTER_IDLE_S", 0.0)  # as if it sat idle past the limit
    assert backend_pid(engine) != first


def test_a_connection_in_steady_use_is_not_pinged_and_a_dead_one_fails_once(
    runtime, engine, monkeypatch
):
    monkeypatch.setattr(dbmod, "PING_AFTER_IDLE_S", 3600.0)
    pings = []
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or True)
    first = backend_pid(engine)
    assert backend_pid(engine) == first and pings == []
    terminate(runtime, first)
    with pytest.raises(DBAPIError) as failed:
        backend_pid(engine)
    assert failed.value.connection_invalidated
    assert backend_pid(engine) != first  # the pool was invalidated: the next one is fresh
