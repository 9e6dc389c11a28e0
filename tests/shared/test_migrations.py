"""The Alembic migrations: they round-trip, and they describe exactly the models."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from standalone import services
from tests.conftest import ROOT


@pytest.fixture
def scratch_database(pg_admin_url):
    name = f"paylink_migrations_{os.getpid()}"
    services.drop_database(pg_admin_url, name)
    yield services.ensure_database(pg_admin_url, name)
    services.drop_database(pg_admin_url, name)


def alembic(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
    )


def test_upgrade_downgrade_upgrade_and_no_drift(scratch_database):
    for step in (["upgrade", "head"], ["downgrade", "base"], ["upgrade", "head"]):
        result = alembic(scratch_database, *step)
        assert result.returncode == 0, result.stderr
    check = alembic(scratch_database, "check")
    assert check.returncode == 0, check.stdout + check.stderr
