"""`python -m shared.bootstrap`: the configured admin exists after start-up."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from tests.conftest import ROOT


def run_bootstrap(database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PAYLINK_ADMIN")}
    return subprocess.run(
        [sys.executable, "-m", "shared.bootstrap"],
        cwd=ROOT,
        env={**clean, "DATABASE_URL": database_url, **env},
        capture_output=True,
        text=True,
        check=True,
    )


def test_bootstrap_creates_the_admin_once(database_url, client):
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    env = {"PAYLINK_ADMIN_EMAIL": email, "PAYLINK_ADMIN_PASSWORD": "operator-pass-123"}
    first = run_bootstrap(database_url, **env)
    second = run_bootstrap(database_url, **env)
    assert first.stdout.strip() == second.stdout.strip()
    assert "operator-pass-123" not in first.stdout + first.stderr
    tokens = client.post(
        "/api/v1/auth/login", json={"email": email, "password": "operator-pass-123"}
    ).get_json()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.get_json()["role"] == "admin"


def test_bootstrap_without_the_variables_does_nothing(database_url):
    assert "no admin" in run_bootstrap(database_url).stdout
