"""The wallet ledger: every movement of money, as balanced double-entry journals.

A user's money sits in two accounts: `user_available` and `user_held`. Accepting a purchase
holds its amount (available -> held); delivery captures it (held -> vtpass_settlement); failure
releases it (held -> available); a reversal after delivery refunds it (vtpass_settlement ->
available). Admin credits come from the `funding` account. Unique constraints on `journals`
make each movement happen at most once per purchase; balances change only through
conditional UPDATEs here, so no user balance can go below zero.

Only user accounts keep a running balance (the row every movement of that wallet locks). The
two system accounts keep none (`balance IS NULL`, by constraint): their balance is the sum of
their postings (`system_balance`), so captures never queue on one shared settlement row.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Integer, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import audit
from shared.db import new_id, utcnow
from shared.errors import InsufficientFunds
from shared.models import Account, Journal, Posting, Purchase
from shared.models.ledger import MONEY

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
    rows: dict[str, Decimal | None] = dict(
        session.execute(
            select(Account.kind, Account.balance).where(Account.user_id == user_id)
        ).all()
    )
    return Balance(
        available=rows.get(USER_AVAILABLE) or Decimal("0.00"),
        held=rows.get(USER_HELD) or Decimal("0.00"),
    )


# A whole journal in one statement. `locked`: the user's accounts of the movement, locked in
# kind order (two movers of one wallet never deadlock). `moved`: both user balances change
# only if both accounts exist (`:owned` of them) and the debited one covers the amount, as
# read under that lock (all or nothing: otherwise no row changes). The new balance is
# computed from `locked` (the row as read under the lock), never from `a`: after waiting for
# another writer, `a` is first read from the statement's older snapshot, and the CHECK on a
# balance computed from it could refuse a hold the fresh balance covers. `journal` and its
# two postings go in only when every user account of the movement moved, so nothing comes
# back when the money is not there. A system account (funding, VTPass settlement) keeps no
# running balance: its balance is the sum of its postings (`system_balance`), so no capture
# waits on another's lock of one row.
# The journal is kept as common table expressions, for `_POST_JOURNAL` and for statements that
# move money together with other rows (an accept, `shared.purchases.acceptance`): there,
# `journal` holds the new journal's id only when the money moved. Parameters: `journal_params`.
JOURNAL_CTES = """
    locked AS MATERIALIZED (
        SELECT id, kind, balance FROM accounts
        WHERE user_id = :user_id AND kind = ANY(:kinds)
        ORDER BY kind
        FOR UPDATE
    ), moved AS (
        UPDATE accounts AS a
        SET balance = locked.balance
            + CASE WHEN locked.kind = :debit THEN -(:amount) ELSE :amount END
        FROM locked
        WHERE a.id = locked.id
          AND (SELECT count(*) FROM locked) = :owned
          AND NOT EXISTS (SELECT 1 FROM locked WHERE kind = :debit AND balance < :amount)
        RETURNING a.kind, a.id
    ), journal AS (
        INSERT INTO journals (id, kind, user_id, purchase_id, amount, reference, actor, created_at)
        SELECT :journal_id, :kind, :user_id, :purchase_id, :amount, :reference, :actor, :now
        WHERE (SELECT count(*) FROM moved) = :owned
        RETURNING id
    ), posted AS (
        INSERT INTO postings (journal_id, account_id, amount, created_at)
        SELECT journal.id, side.account_id, side.amount, :now
        FROM journal, (VALUES
            (COALESCE((SELECT id FROM moved WHERE kind = :debit),
                      (SELECT id FROM accounts WHERE user_id IS NULL AND kind = :debit)),
             -(:amount)),
            (COALESCE((SELECT id FROM moved WHERE kind = :credit),
                      (SELECT id FROM accounts WHERE user_id IS NULL AND kind = :credit)),
             :amount)
        ) AS side (account_id, amount)
        RETURNING account_id
    )
"""
JOURNAL_TYPES = (bindparam("amount", type_=MONEY), bindparam("owned", type_=Integer))
_POST_JOURNAL = text(f"WITH {JOURNAL_CTES} SELECT account_id FROM posted").bindparams(
    *JOURNAL_TYPES
)

USER_KINDS = (USER_AVAILABLE, USER_HELD)


def journal_params(journal: Journal) -> dict[str, object]:
    """The parameters of `JOURNAL_CTES` that post `journal` (made by `new_journal`)."""
    debit_kind, credit_kind = MOVEMENTS[journal.kind]
    owned = [k for k in (debit_kind, credit_kind) if k in USER_KINDS]
    return {
        "journal_id": journal.id,
        "kind": journal.kind,
        "user_id": journal.user_id,
        "purchase_id": journal.purchase_id,
        "amount": journal.amount,
        "reference": journal.reference,
        "actor": journal.actor,
        "now": journal.created_at,
        "kinds": owned,
        "owned": len(owned),
        "debit": debit_kind,
        "credit": credit_kind,
    }


def new_journal(
    *, kind: str, user_id: str, amount: Decimal, purchase_id: str | None, reference: str | None,
    actor: str,
) -> Journal:  # fmt: skip
    """A journal to post (transient: the statement writes it, the ORM never does)."""
    return Journal(
        id=new_id("jrn"),
        kind=kind,
        user_id=user_id,
        purchase_id=purchase_id,
        amount=amount,
        reference=reference,
        actor=actor,
        created_at=utcnow(),
    )


def journal_audit_detail(journal: Journal) -> dict[str, object]:
    """The detail of a movement's audit entry (`ledger.<kind>`)."""
    return {"journal_id": journal.id, "amount": str(journal.amount), "reference": journal.reference}


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
    journal = new_journal(
        kind=kind,
        user_id=user_id,
        amount=amount,
        purchase_id=purchase_id,
        reference=reference,
        actor=actor,
    )
    # Straight on the connection: the statement is text, nothing for the ORM to do.
    posted = session.connection().execute(_POST_JOURNAL, journal_params(journal)).all()
    if not posted:
        # The debited account does not cover it (or the wallet does not exist): no journal.
        raise InsufficientFunds()
    audit.record(
        session,
        actor=actor,
        action=f"ledger.{kind}",
        purchase_id=purchase_id,
        user_id=user_id,
        detail=journal_audit_detail(journal),
    )
    return journal


def system_balance(session: Session, kind: str) -> Decimal:
    """Return a system account's balance: the sum of its postings (it keeps no running one)."""
    return session.execute(
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(Account, Account.id == Posting.account_id)
        .where(Account.user_id.is_(None), Account.kind == kind)
    ).scalar_one()


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
    # Every user's wallet is made at registration (shared/users.py); one without it has nothing.
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
        .where(Account.balance.is_not(None))
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
        # Review from pending holds the money; review from delivered (a reversal notice no
        # requery settled) keeps its capture until an operator resolves it.
        "review": {none, captured},
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
