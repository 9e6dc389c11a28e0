"""Database engine, sessions and the declarative base (PostgreSQL only)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event, exc
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """Mint an opaque, time-ordered id such as `pur_01jd...` (sortable like a ULID)."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def normalise_database_url(url: str) -> str:
    """Point SQLAlchemy at psycopg 3 whatever scheme the operator wrote."""
    for old in ("postgres://", "postgresql://"):
        if url.startswith(old):
            return "postgresql+psycopg://" + url[len(old) :]
    return url


# A pooled connection idle longer than this is pinged before use (PostgreSQL restarted, a
# proxy dropped it). One in steady use is not: under load a ping per transaction was a round
# trip per transaction (five per purchase), and a connection that dies while in use fails
# its statement, which invalidates the whole pool, like a failed ping would.
PING_AFTER_IDLE_S = 1.0


def make_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 20, pool_timeout: float = 10
) -> Engine:
    """Create the process's engine; sessions are short, never held across a VTPass call."""
    engine = create_engine(
        normalise_database_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
    )

    @event.listens_for(engine, "checkin")
    def _note_idle(_dbapi: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi)
        except Exception as e:
            # The pool drops this connection and checks out another (a fresh one if need be).
            raise exc.DisconnectionError("the pooled connection is gone") from e

    return engine


class Database:
    """One engine and session factory per process."""

    def __init__(
        self, url: str, *, pool_size: int = 10, max_overflow: int = 20, pool_timeout: float = 10
    ) -> None:
        self.engine = make_engine(
            url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout
        )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Yield a session inside one transaction: commit on success, roll back on error."""
        with self.sessions() as session, session.begin():
            yield session
            if session.in_nested_transaction():
                # A savepoint left open would commit with the transaction, half-finished.
                raise RuntimeError("a savepoint is still open at the end of the transaction")

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """Yield a connection whose every statement commits on its own (no BEGIN, no COMMIT).

        For a single statement that is atomic by itself: it saves the transaction's two round
        trips. Anything that must see or change several rows together uses `transaction()`.
        """
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn

    @contextmanager
    def autocommit_session(self) -> Iterator[Session]:
        """Yield a session whose statements each commit on their own (no BEGIN, no COMMIT).

        For work that is one atomic statement but wants the session's after-commit hooks
        (live-stream notes). Nothing recorded for the commit itself (`audit.record`) belongs
        here: it would be a statement of its own, not atomic with the work.
        """
        with self.sessions() as session, session.begin():
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session

    def dispose(self) -> None:
        """Close every pooled connection (after fork, at exit)."""
        self.engine.dispose()
