"""Users: registration, password checks, refresh-token rotation, the admin account."""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shared import audit, ledger
from shared.db import Database, utcnow
from shared.errors import InvalidCredentials, TokenRevoked, ValidationFailed
from shared.models import RefreshToken, User

_hasher = PasswordHasher()
# A real hash to verify against when the email is unknown, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
COMMON_PASSWORDS = frozenset({"password123", "1234567890", "qwertyuiop", "password1234"})


def password_problem(password: str) -> str | None:
    """Say what is weak about a password, or None if it is acceptable."""
    if len(password) < 10:
        return "must be at least 10 characters"
    if len(password) > 256:
        return "must be at most 256 characters"
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        return "must contain letters and digits"
    if password.lower() in COMMON_PASSWORDS:
        return "is too common"
    return None


def register_user(db: Database, *, email: str, password: str, role: str = "user") -> User:
    """Create a user and an empty wallet; raise ValidationFailed for bad or taken input."""
    email = email.strip().lower()
    problems = {}
    if not _EMAIL.fullmatch(email) or len(email) > 320:
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


def ensure_admin(db: Database, *, email: str, password: str) -> tuple[User, bool]:
    """Make sure this admin exists (promoting the user if needed); return it and if created."""
    with db.transaction() as session:
        user = session.execute(
            select(User).where(User.email == email.strip().lower())
        ).scalar_one_or_none()
        if user is not None:
            # Promoting keeps no password but the configured one: whoever registered this
            # email first must not become an operator with their own password.
            if user.role != "admin":
                session.execute(
                    update(RefreshToken)
                    .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=utcnow())
                )
            user.role = "admin"
            user.password_hash = _hasher.hash(password)
            return user, False
    return register_user(db, email=email, password=password, role="admin"), True


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
