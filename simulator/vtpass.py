"""The VTPass API surface under ``/api/``."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, request

from simulator import catalog
from simulator.callbacks import send_transaction_update
from simulator.faults import Script, drop_connection, garbage_response
from simulator.products import deliverables, parse_order, text, transaction_id
from simulator.responses import flat, transaction_body
from simulator.state import SimState, current
from simulator.store import Txn
from simulator.verify import verify, verify_smile_email

bp = Blueprint("vtpass", __name__, url_prefix="/api")

REQUEST_ID = re.compile(r"^\d{12}[A-Za-z0-9_-]*$")


@bp.before_request
def _latency_and_auth() -> Response | None:
    config = current().config
    if config["LATENCY_MS"]:
        time.sleep(config["LATENCY_MS"] / 1000)
    if request.method in ("GET", "HEAD"):
        header, expected = "public-key", config["PUBLIC_KEY"]
    else:
        header, expected = "secret-key", config["SECRET_KEY"]
    if (
        request.headers.get("api-key") != config["API_KEY"]
        or request.headers.get(header) != expected
    ):
        return jsonify(flat("087"))
    return None


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else request.form.to_dict()


def request_id_is_proper(request_id: str, tz: ZoneInfo) -> bool:
    """Return True when the id starts with a valid YYYYMMDDHHII stamp dated today in tz."""
    if not REQUEST_ID.match(request_id):
        return False
    try:
        stamp = datetime.strptime(request_id[:12], "%Y%m%d%H%M")
    except ValueError:
        return False
    return stamp.date() == datetime.now(tz).date()


@bp.get("/service-categories")
def service_categories() -> Response:
    """List the VTPass categories."""
    return jsonify(catalog.category_body())


@bp.get("/services")
def services() -> Response:
    """List the services of one category."""
    identifier = text(request.args.get("identifier"))
    return jsonify(catalog.services_body(identifier) if identifier else flat("011"))


@bp.get("/service-variations")
def service_variations() -> Response:
    """List a service's plans."""
    service = catalog.SERVICES.get(text(request.args.get("serviceID")))
    return jsonify(catalog.variations_body(service) if service else flat("012"))


@bp.get("/balance")
def balance() -> Response:
    """Report the merchant wallet balance."""
    return jsonify({"code": 1, "contents": {"balance": float(current().ledger.balance)}})


@bp.post("/merchant-verify")
def merchant_verify() -> Response:
    """Verify a meter, smartcard, JAMB profile or Smile account."""
    return jsonify(verify(_body()))


@bp.post("/merchant-verify/smile/email")
def merchant_verify_smile_email() -> Response:
    """Verify a Smile customer by email."""
    return jsonify(verify_smile_email(_body()))


@bp.post("/pay")
def pay() -> Response:
    """Buy a product, misbehaving as the sandbox value or a script says."""
    sim = current()
    body = _body()
    request_id = text(body.get("request_id"))
    known = bool(request_id) and sim.ledger.note_call(request_id)
    if not request_id:
        return jsonify(flat("011"))
    if not request_id_is_proper(request_id, sim.tz):
        return jsonify(flat("085"))
    if known:
        return jsonify(flat("014"))
    order = parse_order(body)
    if isinstance(order, str):
        return jsonify(flat(order))
    draft = Txn(
        request_id=request_id,
        service_id=order.service.service_id,
        customer=order.customer,
        phone=order.phone,
        variation_code=order.variation.code if order.variation else None,
        unit_price=order.unit_price,
        quantity=order.quantity,
        amount=order.amount,
        commission=order.commission,
        transaction_id=transaction_id(),
        created_at=datetime.now(UTC),
        extras=deliverables(order),
    )
    result = sim.ledger.accept(draft, float(sim.config["DUPLICATE_GUARD_S"]))
    if isinstance(result, str):
        return jsonify(flat(result))
    txn, script = result
    return _perform(sim, txn, script)


def _perform(sim: SimState, txn: Txn, script: Script) -> Response:
    behaviour = script.behaviour
    if behaviour == "fail":
        return jsonify(flat(script.code or "016"))
    if behaviour == "processing":
        return jsonify(flat("099", requestId=txn.request_id))
    if behaviour == "odd_code":
        return jsonify(flat(script.code or "999", requestId=txn.request_id))
    if behaviour == "garbage":
        return garbage_response()
    if behaviour == "http_500":
        return Response(status=500)
    if behaviour in ("charge_then_drop", "lose"):
        drop_connection(request.environ)
        return Response(status=204)
    if behaviour == "charge_then_hang":
        sim.released.wait(
            script.stall_s if script.stall_s is not None else sim.config["TIMEOUT_STALL_S"]
        )
    return jsonify(transaction_body(txn))


@bp.post("/requery")
def requery() -> Response:
    """Report an earlier purchase; resolves scripted pending transactions."""
    sim = current()
    request_id = text(_body().get("request_id"))
    stall = sim.ledger.take_requery_stall(request_id, sim.config["TIMEOUT_STALL_S"])
    if stall is not None:
        sim.released.wait(stall)
    result = sim.ledger.requery(request_id) if request_id else None
    if result is None:
        return jsonify(flat("015"))
    txn, changed = result
    if changed:
        send_transaction_update(sim.config["CALLBACK_URL"], txn)
    if txn.status == "pending" and txn.processing:
        return jsonify(flat("099", requestId=txn.request_id))
    return jsonify(transaction_body(txn))
