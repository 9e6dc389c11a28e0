"""Test-only controls under ``/_sim/`` (no auth): the charge record, scripts and knobs."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import Blueprint, Response, jsonify, request

from simulator.callbacks import send_transaction_update
from simulator.faults import parse_script
from simulator.state import RUNTIME_KEYS, current, validate_runtime

bp = Blueprint("sim_controls", __name__, url_prefix="/_sim")

REVERSIBLE = frozenset({"delivered", "pending"})
SETTLEABLE = frozenset({"pending"})


def _json() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _error(message: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": message}), status


@bp.get("/transactions")
def list_transactions() -> Response:
    """List every transaction the simulator accepted."""
    return jsonify({"data": [t.record() for t in current().ledger.all()]})


@bp.get("/transactions/<request_id>")
def get_transaction(request_id: str) -> Response | tuple[Response, int]:
    """Show one transaction."""
    txn = current().ledger.get(request_id)
    return (
        jsonify({"data": txn.record()})
        if txn
        else _error(f"unknown request_id {request_id!r}", 404)
    )


def _repeat_callbacks(body: dict) -> int | None:
    value = body.get("repeat_callbacks", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _stall(body: dict) -> tuple[int, float | None] | str:
    count, seconds = body.get("stall_requeries", 0), body.get("stall_s")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return "stall_requeries must be an integer >= 0"
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0
    ):
        return "stall_s must be a number >= 0"
    return count, seconds


def _transition(
    request_id: str, status: str, allowed_from: frozenset[str]
) -> Response | tuple[Response, int]:
    sim = current()
    body = _json()
    repeat = _repeat_callbacks(body)
    if repeat is None:
        return _error("repeat_callbacks must be an integer >= 0", 400)
    stall = _stall(body)
    if isinstance(stall, str):
        return _error(stall, 400)
    result = sim.ledger.transition(
        request_id, status, allowed_from, stall_requeries=stall[0], stall_s=stall[1]
    )
    if isinstance(result, str):
        return _error(result, 404 if result.startswith("unknown") else 409)
    send_transaction_update(sim.config["CALLBACK_URL"], result, repeat)
    return jsonify({"data": result.record()})


@bp.post("/transactions/<request_id>/reverse")
def reverse(request_id: str) -> Response | tuple[Response, int]:
    """Reverse a delivered or pending transaction, refund the wallet and send callbacks.

    `{"stall_requeries": n, "stall_s": s}` makes the next n requeries of it stall first (a
    requery timing out just after the notice).
    """
    return _transition(request_id, "reversed", REVERSIBLE)


@bp.post("/transactions/<request_id>/settle")
def settle(request_id: str) -> Response | tuple[Response, int]:
    """Resolve a pending transaction to delivered or failed and send callbacks."""
    status = _json().get("status")
    if status not in ("delivered", "failed"):
        return _error("status must be 'delivered' or 'failed'", 400)
    return _transition(request_id, status, SETTLEABLE)


@bp.post("/reset")
def reset() -> Response:
    """Clear transactions, scripts and the duplicate guard, and refill the wallet."""
    current().ledger.reset()
    return jsonify({"status": "ok"})


@bp.post("/release")
def release() -> Response:
    """Answer every call charge_then_hang is stalling now, instead of after its stall."""
    current().release_stalled()
    return jsonify({"status": "ok"})


@bp.get("/config")
def get_config() -> Response:
    """Show the runtime-settable config and the wallet balance."""
    sim = current()
    shown = {key: sim.config[key] for key in RUNTIME_KEYS}
    return jsonify({"data": {**shown, "BALANCE": float(sim.ledger.balance)}})


@bp.post("/config")
def set_config() -> Response | tuple[Response, int]:
    """Change runtime config keys and/or the wallet BALANCE."""
    sim = current()
    body = dict(_json())
    balance = None
    if "BALANCE" in body:
        raw = body.pop("BALANCE")
        try:
            balance = None if isinstance(raw, bool) else Decimal(str(raw))
        except InvalidOperation:
            balance = None
        if balance is None or not balance.is_finite():
            return _error("BALANCE must be a number", 400)
    try:
        clean = validate_runtime(body)
    except ValueError as exc:
        return _error(str(exc), 400)
    sim.config.update(clean)
    if balance is not None:
        sim.ledger.set_balance(balance)
    return get_config()


@bp.get("/scripts")
def list_scripts() -> Response:
    """List the queued scripts."""
    return jsonify({"data": [s.as_dict() for s in current().ledger.scripts()]})


@bp.post("/scripts")
def add_script() -> Response | tuple[Response, int]:
    """Queue a scripted behaviour for the next pay calls of one customer value."""
    try:
        script = parse_script(_json())
    except ValueError as exc:
        return _error(str(exc), 400)
    current().ledger.add_script(script)
    return jsonify({"data": script.as_dict()}), 201


@bp.delete("/scripts")
def clear_scripts() -> Response:
    """Drop all queued scripts, or one customer's with ?customer=."""
    current().ledger.clear_scripts(request.args.get("customer"))
    return jsonify({"status": "ok"})
