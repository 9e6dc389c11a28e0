"""Schemathesis, in process, against the app's own OpenAPI document: every operation, every
check, a bounded number of examples, real tokens. The document must state every constraint the
server enforces, so a client generated from it sends only requests that are accepted.
"""

from __future__ import annotations

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login

MAX_EXAMPLES = 10
# Operations that end the session they are called with get a login of their own each time.
ENDS_SESSIONS = {"/api/v1/auth/logout", "/api/v1/auth/logout-all", "/api/v1/auth/password"}


def test_the_api_holds_up_to_fuzzing_of_its_own_document(app, client, admin, fund):
    fund(admin, "100000000")
    config = SchemathesisConfig.from_dict({"seed": 7, "generation": {"max-examples": MAX_EXAMPLES}})
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)

    @schema.auth.auth(refresh_interval=None)
    class Tokens:
        def get(self, case, context):
            if case.operation.path in ENDS_SESSIONS:
                return login(client, ADMIN_EMAIL, ADMIN_PASSWORD)["access_token"]
            if case.operation.path == "/api/v1/auth/refresh":
                return login(client, ADMIN_EMAIL, ADMIN_PASSWORD)["refresh_token"]
            return admin.access_token

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    operations, cases, failures = set(), 0, []
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            operations.add(event.recorder.label)
            cases += len(event.recorder.cases)
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.failure_info is not None:
                        interaction = event.recorder.interactions.get(case_id)
                        resp = interaction.response if interaction else None
                        req = interaction.request if interaction else None
                        failures.append(
                            (
                                event.recorder.label,
                                check.name,
                                str(check.failure_info.failure)[:200],
                                getattr(resp, "status_code", None),
                                (getattr(resp, "content", b"") or b"")[:300],
                                getattr(req, "body", None) and req.body[:300],
                                getattr(req, "uri", None),
                            )
                        )
        elif isinstance(event, events.FatalError | events.NonFatalError):
            info = getattr(event, "info", None)
            failures.append(
                (
                    "error",
                    type(event).__name__,
                    getattr(event, "label", None),
                    str(getattr(info, "traceback", info))[-1500:],
                )
            )
    print(f"schemathesis: {len(operations)} operations, {cases} cases, {len(failures)} failures")
    for f in sorted(set(failures), key=str):
        print(f)
    assert not failures
