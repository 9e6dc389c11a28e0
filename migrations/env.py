"""Alembic environment: migrate the database named by DATABASE_URL (or -x url=...)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

import shared.models  # noqa: F401  (registers every table on Base.metadata)
from shared.db import Base, normalise_database_url

config = context.config
url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("DATABASE_URL", "")
if not url:
    raise SystemExit("DATABASE_URL is not set")


def run_migrations_online() -> None:
    """Run every pending migration in one transaction."""
    engine = create_engine(normalise_database_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
