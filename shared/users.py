"""Users: registration, password checks and changes, refresh-token rotation, the admin account.

Passwords are refused when short, without letters and digits, or on the list of common
passwords shipped beside this module (`common-passwords.txt`: the 20,000 most common passwords
as collected by Royce Williams, the list Django's CommonPasswordValidator ships, lowercased).
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shared import audit, ledger, sessions
from shared.db import Database, utcnow
from shared.errors import InvalidCredentials, TokenRevoked, ValidationFailed
from shared.models import RefreshToken, User

_hasher = PasswordHasher()
# A real hash to verify against when the email is unknown, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
# Printable ASCII but `@` on each side of one `@`, a dot in the domain (the API states it too).
EMAIL_PATTERN = r"^[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+$"
_EMAIL = re.compile(EMAIL_PATTERN)
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common-passwords.txt")
MIN_PASSWORD, MAX_PASSWORD = 10, 256
# A letter and a digit somewhere (no NUL); the lengths are checked on their own.
PASSWORD_PATTERN = (
    r"^(?:[^\x00]*[A-Za-z][^\x00]*[0-9][^\x00]*|[^\x00]*[0-9][^\x00]*[A-Za-z][^\x00]*)$"
)


@functools.cache
def common_passwords() -> frozenset[str]:
    """Return the shipped list of common passwords (lowercase), read once."""
    return frozenset(COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").split())


def password_problem(password: str) -> str | None:
    """Say what is weak about a password, or None if it is acceptable."""
    if len(password) < MIN_PASSWORD:
        return f"must be at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"must be at most {MAX_PASSWORD} characters"
    if not re.search(r"[A-Za-z]", password) or not re.search(r"[0-9]", password):
        return "must contain letters and digits"
    if password.lower() in common_passwords():
        return "is one of the most common passwords"
    return None


def register_user(db: Database, *, email: str, password: str, role: str = "user") -> User:
    """Create a user and an empty wallet; raise ValidationFailed for bad or taken input."""
    email = email.strip().lower()
    problems = {}
    if not _EMAIL.match(email) or len(email) > 320:
        problems["email"] = "must be an email address"
    if (problem := password_problem(password)) is not None:
        problems["password"] = problem
    if problems:
        raise ValidationFailed(fields=problems)
    try:
        with db.transaction() as session:
            user = User(email=email, password_hash=_hasher.hash(password), role=role)
            session.add(user)
            session.flush()
            ledger.ensure_wallet(session, user.id)
            audit.record(session, actor=user.id, action="user.registered", user_id=user.id)
    except IntegrityError:
        raise ValidationFailed(fields={"email": "is already registered"}) from None
    return user


def authenticate(db: Database, *, email: str, password: str) -> User:
    """Return the user with these credentials or raise InvalidCredentials."""
    with db.sessions() as session:
        user = session.execute(
            select(User).where(User.email == email.strip().lower())
        ).scalar_one_or_none()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise InvalidCredentials() from None
    if user is None:
        raise InvalidCredentials()
    return user


def get_user(db: Database, user_id: str) -> User | None:
    """Load a user by id."""
    with db.sessions() as session:
        return session.get(User, user_id)


def change_password(
    db: Database,
    *,
    user_id: str,
    current: str,
    new: str,
    end_sessions: Callable[[list[str]], None],
    keep_family: str | None,
    access_lifetime: timedelta,
) -> None:
    """Change a password after checking the current one; end every other session of the user.

    `end_sessions` blocklists the logins' access tokens (Redis); it runs before anything is
    stored, so a failure there changes nothing and the client can simply try again.
    """
    if (problem := password_problem(new)) is not None:
        raise ValidationFailed(fields={"new_password": problem})
    with db.transaction() as session:
        # FOR NO KEY UPDATE: serialises password changes without making the user's accepts
        # (whose foreign keys take KEY SHARE on this row) wait while holding their wallet.
        user = session.get(User, user_id, with_for_update={"key_share": True})
        if user is None:
            raise InvalidCredentials()
        try:
            _hasher.verify(user.password_hash, current)
        except (VerificationError, InvalidHashError):
            raise InvalidCredentials("The current password is wrong.") from None
        end_sessions(
            sessions.live_families(
                session, user_id=user_id, within=access_lifetime, keep=keep_family
            )
        )
        sessions.revoke_refresh_tokens(session, user_id=user_id, keep=keep_family)
        user.password_hash = _hasher.hash(new)
        audit.record(session, actor=user_id, action="user.password_changed", user_id=user_id)


def end_all_sessions(
    db: Database,
    *,
    user_id: str,
    end_sessions: Callable[[list[str]], None],
    access_lifetime: timedelta,
) -> None:
    """End every session of a user (logout everywhere)."""
    with db.transaction() as session:
        end_sessions(sessions.live_families(session, user_id=user_id, within=access_lifetime))
        sessions.revoke_refresh_tokens(session, user_id=user_id)


def ensure_admin(
    db: Database,
    *,
    email: str,
    password: str,
    end_sessions: Callable[[list[str]], None] | None = None,
    access_lifetime: timedelta = timedelta(minutes=16),
) -> tuple[User, bool]:
    """Make sure this admin exists with this password; return it and whether it was created.

    Promoting an existing user, or resetting the admin's password, ends every session it had
    (refresh tokens here; access tokens through `end_sessions`, when given).
    """
    with db.transaction() as session:
        user = session.execute(
            select(User).where(User.email == email.strip().lower())
        ).scalar_one_or_none()
        if user is not None:
            # Promoting keeps no password but the configured one: whoever registered this
            # email first must not become an operator with their own password.
            if user.role != "admin" or not _verifies(user.password_hash, password):
                if end_sessions is not None:
                    end_sessions(
                        sessions.live_families(session, user_id=user.id, within=access_lifetime)
                    )
                sessions.revoke_refresh_tokens(session, user_id=user.id)
                user.password_hash = _hasher.hash(password)
            user.role = "admin"
            return user, False
    return register_user(db, email=email, password=password, role="admin"), True


def _verifies(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class IssuedRefresh:
    """A refresh token just signed, to be recorded so rotation can spend it once."""

    jti: str
    user_id: str
    family_id: str
    expires_at: datetime


def remember_refresh_token(db: Database, issued: IssuedRefresh) -> None:
    """Record a refresh token issued at login."""
    with db.transaction() as session:
        session.add(RefreshToken(**asdict(issued)))


def rotate_refresh_token(db: Database, *, jti: str, successor: IssuedRefresh) -> None:
    """Spend a refresh token and record its successor in one step; reuse revokes the login."""
    now = utcnow()
    with db.transaction() as session:
        spent = session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.jti == jti,
                RefreshToken.family_id == successor.family_id,
                RefreshToken.revoked_at.is_(None),
            )
            .values(revoked_at=now)
            .returning(RefreshToken.jti)
        ).first()
        if spent is not None:
            session.add(RefreshToken(**asdict(successor)))
            return
        # A spent token came back: someone holds a stolen copy. End the whole login.
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == successor.family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    raise TokenRevoked()


def revoke_refresh_family(db: Database, *, family_id: str) -> None:
    """Revoke every refresh token of one login (logout)."""
    with db.transaction() as session:
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
