"""Schemathesis, in process, against the app's own OpenAPI document: every operation, every
check, a bounded number of examples, real tokens: 0 failures.

Positive data acceptance is the built-in check with one allowance: a schema-valid request may
still be refused for state the document cannot know (an email already taken, a plan VTPass no
longer sells, an amount outside today's catalog limits, a customer VTPass does not know, an
Idempotency-Key used before, the account's endpoint cap, a purchase no longer in review, an
event id the caller never had).
Each is listed below by its error code and message; a refusal of the request's *shape* still
fails the run.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.engine import events
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.transport.wsgi import WSGI_TRANSPORT

MAX_EXAMPLES = 5
# Operations that end the session they are called with get a fresh login each time, and
# those that end other sessions an account of their own (logout-all ends all of its account).
ENDS_SESSIONS = {"/api/v1/auth/logout", "/api/v1/auth/logout-all"}
ENDS_OTHER_SESSIONS = {"/api/v1/auth/password"}
# (error code, field, how the problem starts): refusals that depend on state, not on shape.
STATE_REFUSALS = {
    ("validation_error", "email", "is already registered"),
    ("validation_error", "amount", "must be at least"),
    ("validation_error", "amount", "must be at most"),
    ("validation_error", "variation_code", "no such plan"),
    ("validation_error", "customer_id", "VTPass does not know"),
    ("validation_error", "subscription_type", "this smartcard has nothing to renew"),
    ("validation_error", "reference", "already used"),
    ("validation_error", "url", "at most"),
    ("validation_error", "status", "the purchase is"),  # resolving one not in review
    ("validation_error", "Last-Event-ID", "not an event id"),  # resuming after an unknown event
    ("customer_not_found", None, None),
    ("idempotency_key_reused", None, None),
    ("insufficient_funds", None, None),
}


def state_refusal(response: Any) -> bool:
    """Say whether an error answer refuses the request for state, not for its shape."""
    try:
        error = response.json()["error"]
    except Exception:  # noqa: BLE001 - not our error shape: not a state refusal
        return False
    fields = error.get("fields") or {}
    if not fields:
        return (error["code"], None, None) in STATE_REFUSALS
    return all(
        any(
            (error["code"], field, start) in STATE_REFUSALS and problem.startswith(start)
            for start in (s for _, f, s in STATE_REFUSALS if f == field and s)
        )
        for field, problem in fields.items()
    )


@pytest.fixture
def probes_without_sockets(monkeypatch):
    """Work around schemathesis 4.32.5 sending socket options with its WSGI auth probes."""
    original = WSGI_TRANSPORT.send

    def send(case, *, session=None, **kwargs):
        if not isinstance(session, requests.Session):
            for name in ("max_redirects", "verify", "cert", "proxies"):
                kwargs.pop(name, None)
        return original(case, session=session, **kwargs)

    monkeypatch.setattr(WSGI_TRANSPORT, "send", send)


def test_the_api_holds_up_to_fuzzing_of_its_own_document(
    app, client, admin, fund, make_user, probes_without_sockets
):
    fund(admin, "100000000")
    throwaway = make_user()

    def fresh_session() -> dict[str, Any]:
        # A new login of the throwaway account, minted without the (deliberately slow) hash.
        from api.auth import _new_pair
        from shared.users import get_user, remember_refresh_token

        with app.app_context():
            pair, successor = _new_pair(
                get_user(app.extensions["paylink"].db, throwaway.id), family=uuid.uuid4().hex
            )
            remember_refresh_token(app.extensions["paylink"].db, successor)
        return pair

    @schemathesis.check
    def positive_data_accepted_unless_state(ctx, response, case):
        try:
            return positive_data_acceptance(ctx, response, case)
        except Failure:
            if state_refusal(response):
                return None
            raise

    config = SchemathesisConfig.from_dict(
        {
            "seed": 7,
            # No example database: every run, here and in CI, is the same seeded run (a local
            # .hypothesis directory replayed whatever earlier runs had found, run to run).
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "checks": {"positive_data_acceptance": {"enabled": False}},
        }
    )
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)

    @schema.auth.auth(refresh_interval=None)
    class Tokens:
        def get(self, case, context):
            if case.operation.path in ENDS_SESSIONS:
                return fresh_session()["access_token"]
            if case.operation.path in ENDS_OTHER_SESSIONS:
                return throwaway.access_token
            if case.operation.path == "/api/v1/auth/refresh":
                return fresh_session()["refresh_token"]
            return admin.access_token

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    operations, cases, failures = set(), 0, []
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            operations.add(event.recorder.label)
            cases += len(event.recorder.cases)
            failures.extend(
                describe(event.recorder, case_id, check)
                for case_id, checks in event.recorder.checks.items()
                for check in checks
                if check.failure_info is not None
            )
        elif isinstance(event, events.FatalError | events.NonFatalError):
            failures.append(f"{type(event).__name__}: {getattr(event, 'info', event)}")
    # The figure the issue asks for (operations, cases, failures), shown with -s.
    print(f"schemathesis: {len(operations)} operations, {cases} cases, {len(failures)} failures")
    assert failures == []


def describe(recorder: Any, case_id: str, check: Any) -> str:
    """Say which check failed on which request, and what the server answered."""
    interaction = recorder.interactions.get(case_id)
    sent = answered = None
    if interaction is not None:
        sent = (
            f"{interaction.request.method} {interaction.request.uri} {interaction.request.body!r}"
        )
        if interaction.response is not None:
            answered = f"{interaction.response.status_code} {interaction.response.content[:300]!r}"
    return (
        f"{recorder.label}: {check.name}: {check.failure_info.failure}; sent {sent}; got {answered}"
    )
