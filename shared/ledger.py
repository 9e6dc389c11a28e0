"""The wallet ledger: every movement of money, as balanced double-entry journals.

A user's money sits in two accounts: `user_available` and `user_held`. Accepting a purchase
holds its amount (available -> held); delivery captures it (held -> vtpass_settlement); failure
releases it (held -> available); a reversal after delivery refunds it (vtpass_settlement ->
available). Admin credits come from the `funding` account. Unique constraints on `journals`
make each movement happen at most once per purchase; balances change only through
conditional UPDATEs here, so no user balance can go below zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import audit
from shared.errors import InsufficientFunds
from shared.models import Account, Journal, Posting, Purchase

USER_AVAILABLE = "user_available"
USER_HELD = "user_held"
FUNDING = "funding"
VTPASS_SETTLEMENT = "vtpass_settlement"

# (debited account, credited account) for each journal kind.
MOVEMENTS = {
    "credit": (FUNDING, USER_AVAILABLE),
    "hold": (USER_AVAILABLE, USER_HELD),
    "capture": (USER_HELD, VTPASS_SETTLEMENT),
    "release": (USER_HELD, USER_AVAILABLE),
    "refund": (VTPASS_SETTLEMENT, USER_AVAILABLE),
}


@dataclass(frozen=True)
class Balance:
    available: Decimal
    held: Decimal


def ensure_wallet(session: Session, user_id: str) -> None:
    """Create the user's two accounts if they do not exist yet."""
    session.execute(
        insert(Account)
        .values(
            [{"user_id": user_id, "kind": k, "balance": 0} for k in (USER_AVAILABLE, USER_HELD)]
        )
        .on_conflict_do_nothing()
    )


def balance(session: Session, user_id: str) -> Balance:
    """Return the user's available and held money."""
    rows = dict(
        session.execute(
            select(Account.kind, Account.balance).where(Account.user_id == user_id)
        ).all()
    )
    return Balance(
        available=rows.get(USER_AVAILABLE, Decimal("0.00")),
        held=rows.get(USER_HELD, Decimal("0.00")),
    )


def _lock_accounts(session: Session, user_id: str, kinds: tuple[str, str]) -> dict[str, Account]:
    """Lock the two accounts of a movement, always in id order so movers never deadlock."""
    owned = [k for k in kinds if k in (USER_AVAILABLE, USER_HELD)]
    system = [k for k in kinds if k not in owned]
    query = select(Account).where(
        ((Account.user_id == user_id) & Account.kind.in_(owned))
        | (Account.user_id.is_(None) & Account.kind.in_(system))
    )
    rows = session.execute(
        query.order_by(Account.id).with_for_update().execution_options(populate_existing=True)
    ).scalars()
    return {account.kind: account for account in rows}


def _post(
    session: Session,
    *,
    kind: str,
    user_id: str,
    amount: Decimal,
    purchase_id: str | None,
    reference: str | None,
    actor: str,
) -> Journal:
    debit_kind, credit_kind = MOVEMENTS[kind]
    accounts = _lock_accounts(session, user_id, (debit_kind, credit_kind))
    debit, credit_ = accounts[debit_kind], accounts[credit_kind]
    if debit_kind in (USER_AVAILABLE, USER_HELD) and debit.balance < amount:
        raise InsufficientFunds()
    debit.balance -= amount
    credit_.balance += amount
    debit_id, credit_id = debit.id, credit_.id
    journal = Journal(
        kind=kind,
        user_id=user_id,
        purchase_id=purchase_id,
        amount=amount,
        reference=reference,
        actor=actor,
    )
    session.add(journal)
    session.flush()
    session.add_all(
        [
            Posting(journal_id=journal.id, account_id=debit_id, amount=-amount),
            Posting(journal_id=journal.id, account_id=credit_id, amount=amount),
        ]
    )
    audit.record(
        session,
        actor=actor,
        action=f"ledger.{kind}",
        purchase_id=purchase_id,
        user_id=user_id,
        detail={"journal_id": journal.id, "amount": str(amount), "reference": reference},
    )
    return journal


def credit(
    session: Session, *, user_id: str, amount: Decimal, reference: str, actor: str
) -> tuple[Journal, bool]:
    """Fund a wallet once per reference; return the journal and whether it is new."""
    existing = _credit_with_reference(session, user_id, reference)
    if existing is not None:
        return existing, False
    ensure_wallet(session, user_id)
    try:
        # A savepoint, so a concurrent credit with the same reference loses cleanly.
        with session.begin_nested():
            journal = _post(
                session,
                kind="credit",
                user_id=user_id,
                amount=amount,
                purchase_id=None,
                reference=reference,
                actor=actor,
            )
    except IntegrityError:
        winner = _credit_with_reference(session, user_id, reference)
        if winner is None:
            raise
        return winner, False
    return journal, True


def _credit_with_reference(session: Session, user_id: str, reference: str) -> Journal | None:
    return session.execute(
        select(Journal).where(
            Journal.kind == "credit", Journal.user_id == user_id, Journal.reference == reference
        )
    ).scalar_one_or_none()


def hold(session: Session, *, user_id: str, purchase_id: str, amount: Decimal, actor: str) -> None:
    """Hold a purchase's amount; raises InsufficientFunds when the wallet does not cover it."""
    ensure_wallet(session, user_id)
    _post(
        session,
        kind="hold",
        user_id=user_id,
        amount=amount,
        purchase_id=purchase_id,
        reference=None,
        actor=actor,
    )


def settle(
    session: Session, *, kind: str, user_id: str, purchase_id: str, amount: Decimal, actor: str
) -> None:
    """Capture, release or refund a purchase's money (each at most once, by constraint)."""
    if kind not in ("capture", "release", "refund"):
        raise ValueError(f"not a settlement: {kind}")
    _post(
        session,
        kind=kind,
        user_id=user_id,
        amount=amount,
        purchase_id=purchase_id,
        reference=None,
        actor=actor,
    )


def check_invariants(session: Session) -> list[str]:
    """Return every broken ledger invariant (an empty list means the books balance)."""
    problems: list[str] = []
    total = session.execute(select(func.coalesce(func.sum(Posting.amount), 0))).scalar_one()
    if total != 0:
        problems.append(f"postings sum to {total}, not 0")
    for journal_id, s in session.execute(
        select(Posting.journal_id, func.sum(Posting.amount))
        .group_by(Posting.journal_id)
        .having(func.sum(Posting.amount) != 0)
    ):
        problems.append(f"journal {journal_id} sums to {s}")
    for account_id, cached, posted in session.execute(
        select(Account.id, Account.balance, func.coalesce(func.sum(Posting.amount), 0))
        .outerjoin(Posting, Posting.account_id == Account.id)
        .group_by(Account.id)
        .having(Account.balance != func.coalesce(func.sum(Posting.amount), 0))
    ):
        problems.append(f"account {account_id} balance {cached} != postings {posted}")
    for account_id, kind, bal in session.execute(
        select(Account.id, Account.kind, Account.balance).where(
            Account.kind.in_((USER_AVAILABLE, USER_HELD)), Account.balance < 0
        )
    ):
        problems.append(f"account {account_id} ({kind}) is negative: {bal}")
    problems.extend(_purchase_invariants(session))
    return problems


def _purchase_invariants(session: Session) -> list[str]:
    problems = []
    counts = (
        select(
            Purchase.id,
            Purchase.status,
            func.count().filter(Journal.kind == "hold").label("holds"),
            func.count().filter(Journal.kind == "capture").label("captures"),
            func.count().filter(Journal.kind == "release").label("releases"),
            func.count().filter(Journal.kind == "refund").label("refunds"),
        )
        .outerjoin(Journal, Journal.purchase_id == Purchase.id)
        .group_by(Purchase.id)
    )
    none, captured, released, refunded = (0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 0, 1)
    # status -> the (captures, releases, refunds) it may have
    allowed = {
        "queued": {none},
        "processing": {none},
        "pending": {none},
        "review": {none},
        "delivered": {captured},
        "failed": {released},
        "reversed": {released, refunded},
    }
    for pid, status, holds, captures, releases, refunds in session.execute(counts):
        if holds != 1:
            problems.append(f"purchase {pid} has {holds} holds")
        got = (captures, releases, refunds)
        if got not in allowed[status]:
            problems.append(f"purchase {pid} is {status} with captures/releases/refunds {got}")
    return problems
