"""Reconciliation with VTPass on real PostgreSQL: against the simulator, and with scripted
answers for what the simulator cannot do (charge another amount, deliver a failed purchase).

What each test proves:
- a silent reversal at VTPass (no callback) is found, alone, and refunded once;
- a window where everything agrees reports 0 disagreements;
- disagreements that are not "VTPass did not deliver" move no money; a failed answer about a
  delivered purchase refunds it once;
- a killed run resumes from its cursor and records every purchase exactly once;
- never two runs at once (the lock, and the unique index behind it);
- the pacer spaces requeries; the counter shows what the runs found.

The module has a database of its own: a worker another test left running sweeps the session's
database, and would finish other purchases inside these windows.
"""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from shared import ledger, users
from shared.db import utcnow
from shared.models import (
    AuditEntry,
    FloatReading,
    Journal,
    Purchase,
    ReconciliationFinding,
    ReconciliationRun,
)
from shared.products import PRODUCTS
from shared.purchases import execution
from shared.purchases.acceptance import accept_purchase
from shared.purchases.pricing import PricedPurchase, PurchaseRequest
from shared.reconcile import Pacer, RunInProgress, reconcile
from shared.reconcile.run import exclusive
from shared.runtime import Runtime
from shared.vtpass import Outcome, OutcomeKind
from standalone import services
from tests.conftest import migrated_database

K = OutcomeKind
FAST = 1000.0  # requeries per second: the tests do not wait on the rate limit


@pytest.fixture(scope="module")
def runtime(pg_admin_url, settings):
    """This module's own database (migrated with Alembic), with the session's simulator."""
    name = f"paylink_recon_{os.getpid()}"
    url = migrated_database(pg_admin_url, name)
    rt = Runtime(settings.with_overrides(database_url=url))
    yield rt
    rt.close()
    services.drop_database(pg_admin_url, name)


@pytest.fixture
def ledger_ok(runtime):
    def check() -> None:
        with runtime.db.sessions() as session:
            assert ledger.check_invariants(session) == []

    return check


_users = itertools.count()


@pytest.fixture
def make_user(runtime):
    def make():
        return users.register_user(
            runtime.db,
            email=f"recon{next(_users)}-{uuid.uuid4().hex[:8]}@example.com",
            password="correct-horse-42",
        )

    return make


@pytest.fixture(autouse=True)
def no_run_left_over(runtime, simulator):
    """Each test starts with no unfinished run, a float that pays, and ends likewise."""

    def finish_all() -> None:
        with runtime.db.transaction() as session:
            session.execute(
                update(ReconciliationRun)
                .where(ReconciliationRun.status == "running")
                .values(status="completed", finished_at=utcnow())
            )

    finish_all()
    simulator.control("POST", "config", BALANCE=100_000_000)
    with runtime.db.transaction() as session:
        session.add(FloatReading(balance=Decimal("100000000"), checked_at=utcnow()))
    yield
    finish_all()


@dataclass
class ScriptedVTPass:
    """Answers pay with `pay_answer`, and requery per request id from `requery_answers`."""

    pay_answer: Outcome | None = None
    requery_answers: dict[str, Outcome] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def pay(self, *, request_id: str, **_: object) -> Outcome:
        assert self.pay_answer is not None
        return self.pay_answer

    def requery(self, request_id: str) -> Outcome:
        self.asked.append(request_id)
        return self.requery_answers[request_id]


def answer(kind: OutcomeKind, amount: str | None = "100", **kw) -> Outcome:
    return Outcome(
        kind=kind,
        code=kw.pop("code", "000"),
        description=kw.pop("description", str(kind)),
        amount=None if amount is None else Decimal(amount),
        http_status=kw.pop("http_status", 200),
        **kw,
    )


@pytest.fixture
def bought(runtime, make_user):
    """Buy one purchase of 100 from a wallet of 1000 (from the simulator unless `vtpass`)."""

    def buy(phone: str = "08011111111", vtpass=None) -> str:
        user = make_user()
        with runtime.db.transaction() as session:
            ledger.credit(
                session,
                user_id=user.id,
                amount=Decimal("1000"),
                reference=uuid.uuid4().hex,
                actor="test",
            )
        amount = Decimal("100.00")
        purchase_id = accept_purchase(
            runtime.db,
            user_id=user.id,
            idempotency_key=uuid.uuid4().hex,
            raw_body={},
            request=PurchaseRequest(service_id="mtn", phone=phone, amount=amount),
            price=lambda r: PricedPurchase(PRODUCTS["mtn"], amount, phone, None, None, None, None),
            timing=runtime.timing,
        ).purchase_id
        execution.pay_purchase(
            runtime.db, vtpass or runtime.vtpass, purchase_id, timing=runtime.timing
        )
        return purchase_id

    return buy


def load(runtime, purchase_id) -> Purchase:
    with runtime.db.sessions() as session:
        return session.get(Purchase, purchase_id)


def journals(runtime, purchase_id) -> list[str]:
    with runtime.db.sessions() as session:
        return sorted(
            session.execute(select(Journal.kind).where(Journal.purchase_id == purchase_id))
            .scalars()
            .all()
        )


def findings(runtime, run_id) -> list[ReconciliationFinding]:
    with runtime.db.sessions() as session:
        return list(
            session.execute(
                select(ReconciliationFinding).where(ReconciliationFinding.run_id == run_id)
            ).scalars()
        )


def run(runtime, vtpass, since, **kw):
    return reconcile(
        runtime.db,
        vtpass,
        since=since,
        until=kw.pop("until", utcnow()),
        started_by="test",
        timing=runtime.timing,
        pacer=kw.pop("pacer", Pacer(FAST)),
        **kw,
    )


def test_a_silent_reversal_at_vtpass_is_found_alone_and_refunded_once(
    runtime, bought, simulator, ledger_ok, caplog
):
    since = utcnow()
    ids = [bought() for _ in range(3)] + [bought(phone="08099990000")]
    assert [load(runtime, i).status for i in ids] == ["delivered"] * 3 + ["failed"]
    reversed_one = ids[1]
    request_id = load(runtime, reversed_one).request_id
    # VTPass reverses it and tells nobody: no callback, so PayLink still shows delivered.
    simulator.control("POST", f"transactions/{request_id}/reverse", repeat_callbacks=0)
    assert load(runtime, reversed_one).status == "delivered"

    [summary] = run(runtime, runtime.vtpass, since)

    assert (summary.status, summary.checked, summary.disagreements) == ("completed", 4, 1)
    assert (summary.agreed, summary.refunded, summary.inconclusive) == (3, 1, 0)
    [found] = findings(runtime, summary.id)
    assert (found.purchase_id, found.finding, found.action) == (
        reversed_one,
        "reversed_at_vtpass",
        "refunded",
    )
    assert (found.paylink_status, found.vtpass_status) == ("delivered", "reversed")
    purchase = load(runtime, reversed_one)
    assert purchase.status == "reversed"
    assert journals(runtime, reversed_one) == ["capture", "hold", "refund"]
    with runtime.db.sessions() as session:
        assert ledger.balance(session, purchase.user_id) == ledger.Balance(
            Decimal("1000.00"), Decimal("0.00")
        )
    assert any(r.levelname == "ERROR" and reversed_one in r.getMessage() for r in caplog.records)
    ledger_ok()

    # A second run over the same window: VTPass and PayLink now agree; still one refund.
    [again] = run(runtime, runtime.vtpass, since, until=summary.window_end)
    assert (again.checked, again.disagreements, again.refunded) == (4, 0, 0)
    assert journals(runtime, reversed_one) == ["capture", "hold", "refund"]
    ledger_ok()


def test_a_window_where_everything_agrees_reports_no_disagreement(runtime, bought, ledger_ok):
    since = utcnow()
    ids = [bought() for _ in range(3)] + [bought(phone="08099990001") for _ in range(2)]
    [summary] = run(runtime, runtime.vtpass, since)
    assert (summary.checked, summary.agreed, summary.disagreements) == (len(ids), len(ids), 0)
    assert findings(runtime, summary.id) == []
    ledger_ok()


def test_disagreements_other_than_not_delivered_move_no_money(runtime, bought, ledger_ok):
    since = utcnow()
    vtpass = ScriptedVTPass(pay_answer=answer(K.DELIVERED))
    mismatch, delivered_failed = bought(vtpass=vtpass), bought(vtpass=vtpass)
    unknown = bought(vtpass=vtpass)
    vtpass.pay_answer = answer(K.FAILED, amount=None, code="016")
    failed_delivered = bought(vtpass=vtpass)
    before = {i: journals(runtime, i) for i in (mismatch, unknown, failed_delivered)}
    rid = {i: load(runtime, i).request_id for i in (mismatch, delivered_failed, unknown)}
    vtpass.requery_answers = {
        rid[mismatch]: answer(K.DELIVERED, "150"),
        rid[delivered_failed]: answer(K.FAILED, amount=None, code="016"),
        rid[unknown]: answer(K.NOT_FOUND, amount=None, code="015"),
        load(runtime, failed_delivered).request_id: answer(K.DELIVERED),
    }

    [summary] = run(runtime, vtpass, since)

    assert (summary.checked, summary.disagreements, summary.refunded) == (4, 4, 1)
    got = {f.purchase_id: (f.finding, f.action) for f in findings(runtime, summary.id)}
    assert got == {
        mismatch: ("amount_mismatch", "reported"),
        delivered_failed: ("failed_at_vtpass", "refunded"),
        unknown: ("unknown_at_vtpass", "reported"),
        failed_delivered: ("delivered_at_vtpass", "reported"),
    }
    # Reported ones keep their status and their money exactly as they were.
    assert [load(runtime, i).status for i in (mismatch, unknown, failed_delivered)] == [
        "delivered",
        "delivered",
        "failed",
    ]
    assert {i: journals(runtime, i) for i in before} == before
    # VTPass says it failed a purchase PayLink delivered: reversed, refunded once.
    assert load(runtime, delivered_failed).status == "reversed"
    assert (
        load(runtime, delivered_failed)
        .history[-1]
        .reason.startswith("VTPass reports it failed after delivery")
    )
    assert journals(runtime, delivered_failed) == ["capture", "hold", "refund"]
    with runtime.db.sessions() as session:
        contradiction = session.execute(
            select(AuditEntry).where(
                AuditEntry.purchase_id == failed_delivered,
                AuditEntry.action == "vtpass.contradiction",
            )
        ).scalar_one()
    assert contradiction.detail["answer"] == "delivered"
    ledger_ok()


class Killed(Exception):
    """Stands in for the process dying."""


@dataclass
class DiesAfter:
    """A VTPass client that dies after its `k`-th answer arrived, before it was recorded."""

    inner: object
    k: int
    asked: list[str] = field(default_factory=list)

    def requery(self, request_id: str) -> Outcome:
        self.asked.append(request_id)
        outcome = self.inner.requery(request_id)  # type: ignore[attr-defined]
        if len(self.asked) == self.k:
            raise Killed
        return outcome


def reconciliation_exchanges(runtime, run_id) -> dict[str, int]:
    with runtime.db.sessions() as session:
        rows = session.execute(
            select(AuditEntry.purchase_id).where(
                AuditEntry.action == "vtpass.requery",
                AuditEntry.actor == f"reconciliation:{run_id}",
            )
        ).scalars()
        counts: dict[str, int] = {}
        for purchase_id in rows:
            counts[purchase_id] = counts.get(purchase_id, 0) + 1
        return counts


def test_a_killed_run_resumes_from_its_cursor_and_checks_every_purchase_once(
    runtime, bought, ledger_ok
):
    since = utcnow()
    ids = [bought() for _ in range(6)]
    dying = DiesAfter(runtime.vtpass, k=4)
    with pytest.raises(Killed):
        run(runtime, dying, since)
    with runtime.db.sessions() as session:
        left = session.execute(
            select(ReconciliationRun).where(ReconciliationRun.status == "running")
        ).scalar_one()
    assert left.checked == 3  # the 4th answer arrived but was never recorded

    resumer = DiesAfter(runtime.vtpass, k=10**6)
    [summary] = run(runtime, resumer, since=None)  # the beat's resume: no new window

    assert (summary.id, summary.status, summary.resumed) == (left.id, "completed", True)
    assert (summary.checked, summary.agreed) == (6, 6)
    # The resumed run asked only what was not yet recorded: the 4th again, then the rest.
    assert dying.asked[3] == resumer.asked[0]
    assert len(resumer.asked) == 3
    assert reconciliation_exchanges(runtime, left.id) == {i: 1 for i in ids}
    ledger_ok()


def test_a_run_stopped_after_k_purchases_is_resumed_before_a_new_one_starts(runtime, bought):
    since = utcnow()
    ids = [bought() for _ in range(5)]
    until = utcnow()
    [first] = run(runtime, runtime.vtpass, since, until=until, limit=2)
    assert (first.status, first.checked) == ("running", 2)
    later = run(runtime, runtime.vtpass, since, until=until)
    assert [(s.id, s.status, s.checked, s.resumed) for s in later] == [
        (first.id, "completed", 5, True),
        (later[1].id, "completed", 5, False),
    ]
    assert reconciliation_exchanges(runtime, first.id) == {i: 1 for i in ids}


def test_never_two_runs_at_once(runtime, bought):
    since = utcnow()
    bought(), bought()
    entered, release = threading.Event(), threading.Event()

    def held_sleep(_seconds: float) -> None:
        entered.set()
        assert release.wait(30)

    # The first run holds the lock while it waits on its rate limit between two requeries.
    pacer = Pacer(0.001, sleep=held_sleep)
    results: list = []
    first = threading.Thread(
        target=lambda: results.append(run(runtime, runtime.vtpass, since, pacer=pacer))
    )
    first.start()
    try:
        assert entered.wait(30)
        with pytest.raises(RunInProgress):
            run(runtime, runtime.vtpass, since)
    finally:
        release.set()
        first.join(30)
    [summary] = results[0]
    assert (summary.status, summary.checked) == ("completed", 2)


def test_the_database_refuses_a_second_running_run(runtime):
    now = utcnow()
    with runtime.db.transaction() as session:
        session.add(
            ReconciliationRun(
                window_start=now - timedelta(hours=1), window_end=now, started_by="test"
            )
        )
    with pytest.raises(IntegrityError), runtime.db.transaction() as session:
        session.add(
            ReconciliationRun(
                window_start=now - timedelta(hours=1), window_end=now, started_by="test"
            )
        )


def test_the_lock_is_free_again_after_a_run_fails(runtime):
    """Seen from another engine (its own connection): the pool would hand the same
    connection back to this process, which re-enters a lock it still holds."""
    from sqlalchemy import create_engine, text

    from shared.reconcile.run import LOCK_KEY

    other = create_engine(runtime.settings.database_url, poolclass=NullPool)
    held = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND ((classid::bigint << 32) | objid::bigint) = :key"
    )
    try:
        with pytest.raises(ZeroDivisionError), exclusive(runtime.db):
            with other.connect() as conn:
                assert conn.execute(held, {"key": LOCK_KEY}).scalar() == 1
            raise ZeroDivisionError
        with other.connect() as conn:
            assert conn.execute(held, {"key": LOCK_KEY}).scalar() == 0
            key = {"key": LOCK_KEY}
            assert conn.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar()
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), key)
    finally:
        other.dispose()
    with exclusive(runtime.db):
        pass


def test_the_pacer_spaces_calls_by_the_configured_rate():
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait()
    assert slept == [0.25, 0.25]
    now[0] += 10  # a slow VTPass answer already spent the wait
    pacer.wait()
    assert slept == [0.25, 0.25]


def test_the_counter_shows_disagreements_by_finding(runtime, bought):
    from api.metrics import reconciliation_metrics

    def counted() -> dict[str, float]:
        [counter, _age, _inconclusive] = reconciliation_metrics(runtime)
        return {s.labels["finding"]: s.value for s in counter.samples if s.name.endswith("_total")}

    before = counted()
    assert set(before) == {
        "amount_mismatch",
        "reversed_at_vtpass",
        "failed_at_vtpass",
        "unknown_at_vtpass",
        "delivered_at_vtpass",
        "superseded_delivered",
    }
    since = utcnow()
    vtpass = ScriptedVTPass(pay_answer=answer(K.DELIVERED))
    purchase_id = bought(vtpass=vtpass)
    vtpass.requery_answers = {load(runtime, purchase_id).request_id: answer(K.DELIVERED, "7")}
    run(runtime, vtpass, since)
    after = counted()
    assert after["amount_mismatch"] == before["amount_mismatch"] + 1
    assert {k: v for k, v in after.items() if k != "amount_mismatch"} == {
        k: v for k, v in before.items() if k != "amount_mismatch"
    }


def _balance(runtime, purchase_id) -> ledger.Balance:
    with runtime.db.sessions() as session:
        return ledger.balance(session, load(runtime, purchase_id).user_id)


@pytest.mark.parametrize("first", ["operator", "vtpass"])
def test_an_operator_reversal_and_a_vtpass_reversal_refund_once_whichever_comes_first(
    runtime, bought, simulator, ledger_ok, first
):
    """The README's remedy for `unknown_at_vtpass` is the operator's reversal (a state-machine
    transition), never a credit by hand: a reversal VTPass reports later refunds nothing more,
    and the operator's reversal after VTPass's is refused."""
    from shared.errors import ValidationFailed
    from shared.purchases.operator import resolve_purchase

    since = utcnow()
    purchase_id = bought()
    request_id = load(runtime, purchase_id).request_id

    def operator() -> None:
        resolve_purchase(
            runtime.db,
            purchase_id=purchase_id,
            status="reversed",
            note="VTPass confirmed nothing was delivered",
            operator_id="op1",
        )

    def vtpass() -> None:
        simulator.control("POST", f"transactions/{request_id}/reverse", repeat_callbacks=0)
        run(runtime, runtime.vtpass, since)

    if first == "operator":
        operator()
        vtpass()
    else:
        vtpass()
        with pytest.raises(ValidationFailed):
            operator()
    purchase = load(runtime, purchase_id)
    assert purchase.status == "reversed"
    assert journals(runtime, purchase_id) == ["capture", "hold", "refund"]
    assert _balance(runtime, purchase_id) == ledger.Balance(Decimal("1000.00"), Decimal("0.00"))
    with runtime.db.sessions() as session:
        resolved = (
            session.execute(
                select(AuditEntry).where(
                    AuditEntry.purchase_id == purchase_id, AuditEntry.action == "operator.resolve"
                )
            )
            .scalars()
            .all()
        )
    assert [a.actor for a in resolved] == (["admin:op1"] if first == "operator" else [])
    ledger_ok()


@dataclass
class RawVTPass:
    """Answers each requery with a raw HTTP status and body, classified as the client does."""

    answers: dict[str, tuple[int, str]] = field(default_factory=dict)

    def requery(self, request_id: str) -> Outcome:
        from shared.vtpass import classify_pay_response

        status, body = self.answers[request_id]
        return classify_pay_response(
            status, body, operation="requery", expected_request_id=request_id
        )


FAILED_016 = '{"code": "016", "response_description": "TRANSACTION FAILED"}'
FAILED_000 = '{"code": "000", "content": {"transactions": {"status": "failed"}}}'
REVERSED_040 = '{"code": "040", "response_description": "TRANSACTION REVERSAL"}'


def test_only_a_2xx_answer_reverses_a_delivered_purchase(runtime, bought, ledger_ok):
    """A 404/429/500 whose body looks failed is inconclusive: nothing moves; a 200 refunds."""
    since = utcnow()
    ids = [bought() for _ in range(4)]
    rid = [load(runtime, i).request_id for i in ids]
    vtpass = RawVTPass(
        {
            rid[0]: (404, FAILED_016),
            rid[1]: (429, FAILED_000),
            rid[2]: (404, REVERSED_040),
            rid[3]: (200, FAILED_016),
        }
    )
    [summary] = run(runtime, vtpass, since)
    assert (summary.checked, summary.inconclusive, summary.disagreements) == (4, 3, 1)
    assert summary.refunded == 1
    got = {f.purchase_id: (f.finding, f.action) for f in findings(runtime, summary.id)}
    assert got == {
        ids[0]: ("inconclusive", "none"),
        ids[1]: ("inconclusive", "none"),
        ids[2]: ("inconclusive", "none"),
        ids[3]: ("failed_at_vtpass", "refunded"),
    }
    assert [load(runtime, i).status for i in ids] == ["delivered"] * 3 + ["reversed"]
    assert [journals(runtime, i) for i in ids[:3]] == [["capture", "hold"]] * 3
    assert journals(runtime, ids[3]) == ["capture", "hold", "refund"]
    ledger_ok()


def _completed_at(runtime, purchase_id, when) -> None:
    with runtime.db.transaction() as session:
        session.execute(
            update(Purchase).where(Purchase.id == purchase_id).values(completed_at=when)
        )


# Windows far ahead of every real purchase: only those a test moves there are in them.
AHEAD = utcnow() + timedelta(days=400)


def test_a_reversal_at_vtpass_days_after_delivery_is_found_by_the_trailing_recheck(
    runtime, bought, simulator, ledger_ok
):
    week = timedelta(days=7)
    old, too_old, failed = bought(), bought(), bought(phone="08099990002")
    _completed_at(runtime, old, AHEAD - timedelta(days=3))
    _completed_at(runtime, too_old, AHEAD - timedelta(days=9))
    _completed_at(runtime, failed, AHEAD - timedelta(days=3))
    for purchase_id in (old, too_old):
        request_id = load(runtime, purchase_id).request_id
        simulator.control("POST", f"transactions/{request_id}/reverse", repeat_callbacks=0)
    window = {"since": AHEAD - timedelta(hours=25), "until": AHEAD}

    [without] = run(runtime, runtime.vtpass, **window)
    assert without.checked == 0  # the day's window alone never sees a 3-day-old purchase

    [summary] = run(runtime, runtime.vtpass, **window, recheck=week)
    # The delivered one 3 days back is asked again and refunded; the failed one and the one
    # past the recheck period are not asked.
    assert (summary.checked, summary.disagreements, summary.refunded) == (1, 1, 1)
    assert [(f.purchase_id, f.finding) for f in findings(runtime, summary.id)] == [
        (old, "reversed_at_vtpass")
    ]
    assert (load(runtime, old).status, load(runtime, too_old).status) == ("reversed", "delivered")
    assert journals(runtime, old) == ["capture", "hold", "refund"]
    ledger_ok()


def test_an_inconclusive_answer_is_asked_again_by_the_next_run(runtime, bought, ledger_ok):
    vtpass = ScriptedVTPass(pay_answer=answer(K.FAILED, amount=None, code="016"))
    failed = bought(vtpass=vtpass)
    first_window = {"since": AHEAD + timedelta(days=1), "until": AHEAD + timedelta(days=2)}
    _completed_at(runtime, failed, first_window["since"] + timedelta(hours=1))
    request_id = load(runtime, failed).request_id
    vtpass.requery_answers = {request_id: answer(K.PENDING, amount=None, code="099")}
    [first] = run(runtime, vtpass, **first_window, recheck=timedelta(days=7))
    assert (first.checked, first.inconclusive) == (1, 1)

    # The next day's window no longer holds it: it is carried forward, and now concludes.
    vtpass.requery_answers = {request_id: answer(K.FAILED, amount=None, code="016")}
    vtpass.asked.clear()
    next_window = {"since": first_window["until"], "until": first_window["until"] + timedelta(1)}
    [second] = run(runtime, vtpass, **next_window, recheck=timedelta(days=7))
    assert vtpass.asked == [request_id]
    assert (second.checked, second.agreed, second.inconclusive) == (1, 1, 0)
    ledger_ok()


def test_a_run_that_could_not_tell_is_not_a_completed_one(runtime, bought):
    """All (or mostly) inconclusive answers: status `inconclusive`, the age gauge is not reset,
    the inconclusive gauge says so, and the command exits 4."""
    from api.metrics import reconciliation_metrics

    def gauges() -> tuple[float | None, float]:
        [_counter, age, could_not_tell] = reconciliation_metrics(runtime)
        return (
            next((s.value for s in age.samples), None),
            next(s.value for s in could_not_tell.samples),
        )

    vtpass = ScriptedVTPass(pay_answer=answer(K.DELIVERED))
    ids = [bought(vtpass=vtpass) for _ in range(3)]
    window = {"since": AHEAD + timedelta(days=10), "until": AHEAD + timedelta(days=11)}
    for purchase_id in ids:
        _completed_at(runtime, purchase_id, window["since"] + timedelta(hours=1))
    empty = {"since": AHEAD + timedelta(days=20), "until": AHEAD + timedelta(days=21)}
    [ok] = run(runtime, ScriptedVTPass(), **empty)  # nothing in it
    assert ok.status == "completed"
    age_before, flag = gauges()
    assert flag == 0.0
    vtpass.requery_answers = {
        load(runtime, i).request_id: Outcome(kind=K.PENDING, description="timed out")
        for i in ids[:2]
    }
    vtpass.requery_answers[load(runtime, ids[2]).request_id] = answer(K.DELIVERED)
    [summary] = run(runtime, vtpass, **window)
    assert (summary.status, summary.checked, summary.inconclusive) == ("inconclusive", 3, 2)
    age_after, flag = gauges()
    assert flag == 1.0
    assert age_after is not None and age_before is not None and age_after >= age_before
    # A new run of the same window that concludes clears it.
    vtpass.requery_answers = {load(runtime, i).request_id: answer(K.DELIVERED) for i in ids}
    [again] = run(runtime, vtpass, **window)
    assert (again.status, gauges()[1]) == ("completed", 0.0)


def test_the_command_exits_4_when_the_run_could_not_tell(monkeypatch, capsys):
    import shared.reconcile.__main__ as command
    from shared.reconcile import RunSummary

    now = utcnow()
    told = RunSummary("rec_x", "inconclusive", now, now, 5, 1, 0, 4, 0, resumed=False)

    class FakeRuntime:
        def __init__(self, _settings) -> None:
            self.db = self.vtpass = self.timing = None

        def close(self) -> None:
            pass

    monkeypatch.setattr(command, "Runtime", FakeRuntime)
    monkeypatch.setattr(command, "reconcile", lambda *a, **kw: [told])
    assert command.main(["--since", "1h"]) == 4
    monkeypatch.setattr(command, "reconcile", lambda *a, **kw: [replace(told, disagreements=1)])
    assert command.main(["--since", "1h"]) == 1


def test_a_superseded_request_id_vtpass_delivered_after_all_is_reported(runtime, bought, ledger_ok):
    """A purchase re-paid under a new request id after a 015: if VTPass delivered the old one
    too, the float paid twice. Reported, nobody charged; both ids were asked (rate-limited)."""
    vtpass = ScriptedVTPass(pay_answer=answer(K.DELIVERED))
    twice, once = bought(vtpass=vtpass), bought(vtpass=vtpass)
    window = {"since": AHEAD + timedelta(days=30), "until": AHEAD + timedelta(days=31)}
    for purchase_id, old_id in ((twice, "OLD-TWICE"), (once, "OLD-ONCE")):
        _completed_at(runtime, purchase_id, window["since"] + timedelta(hours=1))
        with runtime.db.transaction() as session:
            session.execute(
                update(Purchase)
                .where(Purchase.id == purchase_id)
                .values(superseded_request_ids=[old_id])
            )
    vtpass.requery_answers = {
        load(runtime, twice).request_id: answer(K.DELIVERED),
        load(runtime, once).request_id: answer(K.DELIVERED),
        "OLD-TWICE": answer(K.DELIVERED, transaction_id="T-OLD"),
        "OLD-ONCE": answer(K.NOT_FOUND, amount=None, code="015"),
    }
    before = {i: journals(runtime, i) for i in (twice, once)}
    waits: list[float] = []
    pacer = Pacer(FAST, sleep=waits.append)
    [summary] = run(runtime, vtpass, **window, pacer=pacer)
    assert sorted(vtpass.asked) == sorted(vtpass.requery_answers)
    assert (summary.checked, summary.agreed, summary.disagreements) == (2, 1, 1)
    [found] = findings(runtime, summary.id)
    assert (found.purchase_id, found.finding, found.action) == (
        twice,
        "superseded_delivered",
        "reported",
    )
    assert "OLD-TWICE" in found.note and found.vtpass_transaction_id == "T-OLD"
    assert {i: journals(runtime, i) for i in (twice, once)} == before
    assert [load(runtime, i).status for i in (twice, once)] == ["delivered", "delivered"]
    ledger_ok()
