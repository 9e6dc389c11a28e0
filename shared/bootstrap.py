"""Start-up command: make sure the operator named by the environment exists.

    PAYLINK_ADMIN_EMAIL=... PAYLINK_ADMIN_PASSWORD=... python -m shared.bootstrap

Run after migrations (the Procfile's release step, compose's migrate service, standalone).
Prints the admin's user id; does nothing when the two variables are not both set.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import redis

from shared import sessions
from shared.config import load_settings
from shared.db import Database
from shared.users import ensure_admin


def main() -> int:
    """Ensure the configured admin exists (its password is the configured one)."""
    settings = load_settings()
    if not (settings.paylink_admin_email and settings.paylink_admin_password):
        print("PAYLINK_ADMIN_EMAIL/PAYLINK_ADMIN_PASSWORD not set; no admin to ensure")
        return 0
    db = Database(settings.database_url, pool_size=1, max_overflow=0)
    lifetime = timedelta(minutes=settings.jwt_access_minutes + 1)

    def end_sessions(families: list[str]) -> None:
        # A reset password ends the admin's sessions; the access tokens through the blocklist.
        if families and settings.redis_url:
            client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5)
            sessions.blocklist(client, families=families, ttl=lifetime)

    user, created = ensure_admin(
        db,
        email=settings.paylink_admin_email,
        password=settings.paylink_admin_password,
        end_sessions=end_sessions,
        access_lifetime=lifetime,
    )
    db.dispose()
    print(user.id)
    print("admin created" if created else "admin present", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
