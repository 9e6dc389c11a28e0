"""Logs you can follow (issue 13 item 3): X-Request-ID in and out, one purchase's journey
carries the request id, purchase id, VTPass request id and task id; secrets never appear.
"""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest

from shared.logs import configure_logging


@pytest.fixture
def captured(settings):
    """Every log line of this process, as PayLink writes them in production (JSON)."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(settings, stream=stream, json=True)
    yield stream
    for handler in list(root.handlers):
        if handler not in before:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/nowhere", "/api/v1/purchases"])
def test_every_response_carries_a_request_id(client, path):
    sent = "trace-" + uuid.uuid4().hex
    response = client.get(path, headers={"X-Request-ID": sent})
    assert response.headers["X-Request-ID"] == sent
    generated = client.get(path).headers["X-Request-ID"]
    assert len(generated) == 32 and int(generated, 16) >= 0


@pytest.mark.parametrize(
    "unsafe",
    ["x" * 129, "has space", 'quote"break', "new\u2028line", "tab\tid", "ünïcode", "a/b"],
)
def test_an_unsafe_request_id_is_replaced_not_echoed(client, unsafe):
    response = client.get("/healthz", headers={"X-Request-ID": unsafe})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] != unsafe
    assert len(response.headers["X-Request-ID"]) == 32


def test_one_purchase_journey_carries_every_id_and_no_secret(
    app, client, make_user, fund, captured, settings
):
    user = make_user()
    fund(user, "1000")
    trace = "support-" + uuid.uuid4().hex[:12]
    response = client.post(
        "/api/v1/purchases",
        json={"service_id": "mtn", "phone": "+234 801 111 1111", "amount": 100},
        headers={**user.headers, "Idempotency-Key": uuid.uuid4().hex, "X-Request-ID": trace},
    )
    assert response.status_code in (201, 202), response.get_json()
    purchase_id = response.get_json()["id"]
    # The worker's side, in process: the task carries the request id in its headers.
    from workers import tasks  # noqa: F401  (registers the tasks)
    from workers.celery_app import REQUEST_ID_HEADER

    task = app.extensions["celery"].tasks["purchases.pay"]
    with app.app_context():
        task.apply(args=(purchase_id,), headers={REQUEST_ID_HEADER: trace}, task_id="task-" + trace)

    records = lines(captured)
    journey = [r for r in records if r.get("purchase_id") == purchase_id]
    assert any(r["event"] == "purchase accepted" for r in journey)
    vtpass = [r for r in journey if r["event"].startswith("vtpass pay")]
    assert [r["event"].split(":")[0] for r in vtpass] == ["vtpass pay sent", "vtpass pay answered"]
    for record in vtpass:
        assert record["request_id"] == trace
        assert record["task_id"] == "task-" + trace
        # VTPass request ids start with the Lagos date and time (YYYYMMDDHHMM...).
        assert record["vtpass_request_id"][:12].isdigit(), record
        assert record["level"] == "info" and record["timestamp"]
    assert vtpass[1]["outcome"] and vtpass[1]["vtpass_code"] != "***"
    assert all(r["request_id"] == trace for r in journey)

    text = captured.getvalue()
    for secret in (
        user.password,
        user.access_token,
        user.refresh_token,
        settings.vtpass_api_key,
        settings.vtpass_secret_key,
        settings.vtpass_public_key,
        settings.jwt_secret_key,
    ):
        if secret:
            assert secret not in text


def test_secret_fields_and_values_are_masked_wherever_they_appear(settings, captured):
    log = logging.getLogger("paylink.test")
    api_key = settings.vtpass_api_key
    assert api_key, "the test settings carry a VTPass API key"
    log.warning("calling VTPass with %s", api_key, extra={"password": "hunter2hunter2"})
    log.info("token", extra={"api_key": api_key, "Authorization": "Bearer abcdefgh12345678"})
    text = captured.getvalue()
    assert api_key not in text and "hunter2hunter2" not in text and "abcdefgh12345678" not in text
    first, second = lines(captured)[-2:]
    assert first["password"] == "***" and first["event"] == "calling VTPass with ***"
    assert second["api_key"] == "***" and second["Authorization"] == "***"


def test_standalone_lines_are_readable_not_json(settings):
    root = logging.getLogger()
    before = list(root.handlers)
    stream = io.StringIO()
    try:
        configure_logging(settings.with_overrides(env="development"), stream=stream)
        logging.getLogger("paylink.test").info("hello operator")
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
    line = stream.getvalue().strip().splitlines()[-1]
    assert "hello operator" in line and not line.startswith("{")
