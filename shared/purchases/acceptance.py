"""Accepting a purchase: idempotency, pricing, and holding the funds with the purchase row."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError

from shared import audit, idempotency, ledger
from shared.db import Database, new_id, utcnow
from shared.errors import IdempotencyInProgress, InsufficientFunds
from shared.models import AuditEntry, IdempotencyKey, Purchase, StatusChange
from shared.purchases.execution import Timing
from shared.purchases.pricing import PricedPurchase, PurchaseRequest, asks_vtpass
from shared.purchases.states import PurchaseStatus
from shared.purchases.views import purchase_object
from shared.vtpass import mint_request_id


@dataclass(frozen=True)
class Acceptance:
    """The response to give, and whether a new purchase now waits to be published."""

    status: int
    body: dict[str, Any]
    purchase_id: str | None
    created: bool


def accept_purchase(
    db: Database,
    *,
    user_id: str,
    idempotency_key: str,
    raw_body: Any,
    request: PurchaseRequest,
    price: Callable[[PurchaseRequest], PricedPurchase],
    timing: Timing,
) -> Acceptance:
    """Record a purchase and hold its funds once per Idempotency-Key.

    A new key (the usual case) is priced first and then claimed, recorded, held and answered
    in one statement (`_accept_at_once`). A key that is already there takes the claim-first
    path instead: it replays the key's stored answer, or refuses a reuse or a duplicate still
    in flight, before any work. So does a request whose pricing asks VTPass (a renewal), so a
    replay never waits for VTPass, and one that does not price (its error is raised once the
    key is known not to have an answer to replay).
    """
    fingerprint = idempotency.request_hash(raw_body)
    claiming_first = functools.partial(
        _accept_claiming_first, db, user_id=user_id, key=idempotency_key,
        fingerprint=fingerprint, request=request, timing=timing,
    )  # fmt: skip
    if asks_vtpass(request):
        return claiming_first(price=price)
    try:
        priced = price(request)
    except Exception as e:  # noqa: BLE001 - raised again below unless the key has an answer
        refusal = e

        def refuse(_: PurchaseRequest) -> PricedPurchase:
            raise refusal

        return claiming_first(price=refuse)
    answered = _accept_at_once(
        db, user_id=user_id, key=idempotency_key, fingerprint=fingerprint, priced=priced,
        timing=timing,
    )  # fmt: skip
    return answered or claiming_first(price=lambda _: priced)


def _accept_claiming_first(
    db: Database,
    *,
    user_id: str,
    key: str,
    fingerprint: str,
    request: PurchaseRequest,
    price: Callable[[PurchaseRequest], PricedPurchase],
    timing: Timing,
) -> Acceptance:
    claimed = idempotency.claim(db, user_id=user_id, key=key, fingerprint=fingerprint)
    if isinstance(claimed, idempotency.StoredResponse):
        purchase_id = claimed.body.get("id") if claimed.status == 202 else None
        return Acceptance(claimed.status, claimed.body, purchase_id, created=False)
    try:
        priced = price(request)
        return _record(db, claim=claimed, priced=priced, timing=timing)
    except InsufficientFunds as e:
        # Like any answer to an accepted key, the refusal is replayed for the same key.
        with db.transaction() as session:
            idempotency.complete(session, claimed, status=e.status, body=_refusal(e))
        raise
    except IdempotencyInProgress:
        raise  # taken over by a retry while this one was slow; nothing of ours was kept
    except BaseException:
        # Nothing was recorded: free the key so the client can correct and retry.
        idempotency.abandon(db, claimed)
        raise


def _refusal(e: InsufficientFunds) -> dict[str, Any]:
    return {"error": {"code": e.code, "message": e.message}}


def _accept_at_once(
    db: Database,
    *,
    user_id: str,
    key: str,
    fingerprint: str,
    priced: PricedPurchase,
    timing: Timing,
) -> Acceptance | None:
    """Claim a new key, record the purchase, hold its funds and store the answer: one statement.

    The statement commits by itself, so all of it happens or none of it does. Its key is a
    plain INSERT: if the key exists (a replay, a duplicate in flight, a crashed holder's
    claim) the statement fails as a whole, holding nothing, and None sends the request down
    the claim-first path. A wallet that does not cover the amount moves nothing and records no
    purchase; the key then stores the refusal, which is replayed like any answer.
    """
    row, accepted = _accepted_row(priced, user_id, timing)
    journal = ledger.new_journal(
        kind="hold",
        user_id=user_id,
        amount=priced.amount,
        purchase_id=row["id"],
        reference=None,
        actor=user_id,
    )
    body = _answer(row, accepted)
    refused = InsufficientFunds()
    params = {
        **ledger.journal_params(journal),
        **{f"p_{name}": value for name, value in row.items()},
        **{f"history_{name}": value for name, value in accepted.items()},
        "hold_detail": audit.clean_detail(ledger.journal_audit_detail(journal)),
        "accepted_detail": audit.clean_detail(_accepted_detail(row, key)),
        "key": key,
        "request_hash": fingerprint,
        "claim_token": secrets.token_hex(16),
        "accepted_body": body,
        "refused_status": refused.status,
        "refused_body": _refusal(refused),
    }
    try:
        with db.autocommit() as conn:
            held = conn.execute(_accept_statement(tuple(row)), params).scalar_one()
    except IntegrityError as e:
        if getattr(e.orig.diag, "constraint_name", None) == _KEYS.primary_key.name:  # type: ignore[union-attr]
            return None
        raise
    if not held:
        raise refused
    return Acceptance(202, body, row["id"], created=True)


def _accepted_row(
    priced: PricedPurchase, user_id: str, timing: Timing
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new purchase's row and its first history line."""
    now = utcnow()
    # (`receipt` and `error` are left out: SQL NULL, not JSON null, until there is one.)
    row: dict[str, Any] = {
        "id": new_id("pur"),
        "user_id": user_id,
        "status": PurchaseStatus.QUEUED.value,
        "category": priced.product.category.value,
        "service_id": priced.product.service_id,
        "amount": priced.amount,
        "phone": priced.phone,
        "customer_id": priced.customer_id,
        "variation_code": priced.variation_code,
        "subscription_type": priced.subscription_type,
        "quantity": priced.quantity,
        "request_id": mint_request_id(now),
        "superseded_request_ids": [],
        "vtpass_transaction_id": None,
        "vtpass_acknowledged_at": None,
        "pay_attempts": 0,
        "requery_attempts": 0,
        "last_pay_at": None,
        "pending_since": None,
        # The API publishes right after commit; the sweeper steps in if that is lost.
        "next_attempt_at": now + timing.queued_grace,
        "float_wait_since": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "completed_at": None,
    }
    return row, {"status": "queued", "reason": "accepted; funds held", "at": now}


def _answer(row: dict[str, Any], accepted: dict[str, Any]) -> dict[str, Any]:
    # The answer shows the row as just written, its history this one entry: no re-read.
    # (A transient object, never added to a session.)
    return purchase_object(Purchase(**row, history=[StatusChange(**accepted)]))


def _accepted_detail(row: dict[str, Any], key: str) -> dict[str, Any]:
    return {"service_id": row["service_id"], "amount": str(row["amount"]), "key": key}


def _record(
    db: Database, *, claim: idempotency.Claim, priced: PricedPurchase, timing: Timing
) -> Acceptance:
    user_id = claim.user_id
    row, accepted = _accepted_row(priced, user_id, timing)
    with db.transaction() as session:
        # Core statements, not the ORM's unit of work: the rows are new, nothing to track.
        session.connection().execute(
            _insert_accepted(tuple(row)),
            {**row, **{f"history_{name}": value for name, value in accepted.items()}},
        )
        ledger.hold(
            session, user_id=user_id, purchase_id=row["id"], amount=priced.amount, actor=user_id
        )
        audit.record(
            session,
            actor=user_id,
            action="purchase.accepted",
            purchase_id=row["id"],
            user_id=user_id,
            detail=_accepted_detail(row, claim.key),
        )
        body = _answer(row, accepted)
        idempotency.complete(session, claim, status=202, body=body, purchase_id=row["id"])
    return Acceptance(202, body, row["id"], created=True)


_PURCHASES = cast(Table, Purchase.__table__)
_HISTORY = cast(Table, StatusChange.__table__)
HISTORY_FIELDS = ("status", "reason", "at")


@functools.cache
def _insert_accepted(columns: tuple[str, ...]) -> Any:
    """INSERT the purchase's `columns` and, from what it returns, its first history line."""
    accepted = (
        insert(_PURCHASES)
        .values({name: bindparam(name, type_=_PURCHASES.c[name].type) for name in columns})
        .returning(_PURCHASES.c.id)
        .cte("accepted")
    )
    return insert(_HISTORY).from_select(
        ["purchase_id", *HISTORY_FIELDS],
        select(
            accepted.c.id,
            *(bindparam(f"history_{name}", type_=_HISTORY.c[name].type) for name in HISTORY_FIELDS),
        ),
    )


_KEYS = cast(Table, IdempotencyKey.__table__)
_AUDIT = cast(Table, AuditEntry.__table__)


@functools.cache
def _accept_statement(columns: tuple[str, ...]) -> Any:
    """The whole accept of a new key as one statement (see `_accept_at_once`).

    The hold is the ledger's own journal (`ledger.JOURNAL_CTES`); the purchase, its history
    line and its audit entries are made from `journal`, so they exist only if the money moved.
    The key comes last and reads whether the purchase went in, which also orders the locks:
    the wallet's accounts first, the key after, like the claim-first path's transaction.
    Returns whether the funds were held.
    """
    names = ", ".join(columns)
    values = ", ".join(f":p_{name}" for name in columns)
    sql = f"""
    WITH {ledger.JOURNAL_CTES}, accepted AS (
        INSERT INTO purchases ({names})
        SELECT {values} FROM journal
        RETURNING id
    ), first_line AS (
        INSERT INTO purchase_status_history (purchase_id, status, reason, at)
        SELECT id, :history_status, :history_reason, :history_at FROM accepted
    ), audited AS (
        INSERT INTO audit_log (at, actor, action, purchase_id, user_id, detail)
        SELECT :now, :actor, entry.action, accepted.id, :user_id, entry.detail
        FROM accepted, (VALUES
            (1, 'ledger.hold', CAST(:hold_detail AS jsonb)),
            (2, 'purchase.accepted', CAST(:accepted_detail AS jsonb))
        ) AS entry (n, action, detail)
        ORDER BY entry.n
    ), outcome AS (
        SELECT EXISTS (SELECT 1 FROM accepted) AS held
    ), answered AS (
        INSERT INTO idempotency_keys (user_id, key, request_hash, locked_until, claim_token,
                                      response_status, response_body, purchase_id, created_at)
        SELECT :user_id, :key, :request_hash, NULL, :claim_token,
               CASE WHEN held THEN 202 ELSE :refused_status END,
               CASE WHEN held THEN :accepted_body ELSE :refused_body END,
               CASE WHEN held THEN :p_id END,
               :now
        FROM outcome
        RETURNING response_status
    )
    SELECT held FROM outcome, answered
    """
    keys = _KEYS.c
    # Whitespace collapsed: psycopg caches its conversion of a query only up to 4096 bytes.
    return text(" ".join(sql.split())).bindparams(
        *ledger.JOURNAL_TYPES,
        *(bindparam(f"p_{name}", type_=_PURCHASES.c[name].type) for name in columns),
        *(bindparam(f"history_{name}", type_=_HISTORY.c[name].type) for name in HISTORY_FIELDS),
        bindparam("hold_detail", type_=_AUDIT.c.detail.type),
        bindparam("accepted_detail", type_=_AUDIT.c.detail.type),
        bindparam("accepted_body", type_=keys.response_body.type),
        bindparam("refused_body", type_=keys.response_body.type),
        bindparam("refused_status", type_=keys.response_status.type),
    )
