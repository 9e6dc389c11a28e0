"""The OpenAPI 3 document and a browsable page, built from the app's own routes and schemas.

Paths, methods and summaries come from the URL map and the views' docstrings; request bodies
are the same pydantic models the views validate with; so the document cannot drift from the
code (a test checks the body mapping against the views).
"""

from __future__ import annotations

import html
import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from pydantic import BaseModel

from api import admin, schemas
from api.schemas import TEXT
from shared.config import Settings
from shared.idempotency import KEY_PATTERN
from shared.products import Category
from shared.purchases.states import PurchaseStatus
from shared.webhooks.events import EVENT_TYPES

bp = Blueprint("openapi", __name__)

# endpoint -> the model its view validates the body with (or what builds it from settings)
REQUEST_BODIES: dict[str, Any] = {
    "auth.register": schemas.Registration,
    "auth.login": schemas.Credentials,
    "auth.change_password": schemas.PasswordChangeIn,
    "purchases.create": schemas.purchase_body,
    "admin.credit_wallet": schemas.CreditIn,
    "admin.resolve": schemas.ResolveIn,
    "sandbox.fund": schemas.SandboxFundIn,
    "verifications.verify": schemas.verification_body,
    "webhook_endpoints.create": schemas.webhook_endpoint_body,
}
# endpoint -> its success status when that is not 200
SUCCESS_STATUS = {
    "auth.register": 201,
    "auth.logout": 204,
    "auth.logout_all": 204,
    "auth.change_password": 204,
    "purchases.create": 202,
    "admin.credit_wallet": 201,
    "webhook_endpoints.create": 201,
    "webhook_endpoints.delete": 204,
    "events.redeliver": 202,
    "sandbox.fund": 201,
}
# endpoint -> another success it may answer, and when
OTHER_SUCCESS = {
    "admin.credit_wallet": (200, "A replay: this reference already credited this amount"),
}
# endpoint -> the media types its success answers in (the request's Accept header chooses)
CONTENT_TYPES = {
    "reconciliations.detail": ("application/json", "text/csv"),
    "reconciliations.detail_csv": ("text/csv",),
}
# Server-Sent Events: their success body is `text/event-stream`, resumed with Last-Event-ID.
EVENT_STREAMS = {"streams.purchase", "streams.events"}
_LIMIT = {
    "name": "limit",
    "in": "query",
    "schema": {"type": "integer", "minimum": 1, "maximum": 100},
}
_CURSOR = {"name": "starting_after", "in": "query", "schema": {"type": "string", "pattern": TEXT}}
_STATUS = {"name": "status", "in": "query", "schema": {"enum": [s.value for s in PurchaseStatus]}}
_CATEGORY = {"name": "category", "in": "query", "schema": {"enum": [c.value for c in Category]}}
# endpoint -> the query parameters its view reads, with every constraint it enforces
QUERY: dict[str, list[dict[str, Any]]] = {
    "purchases.list_all": [_LIMIT, _CURSOR, _STATUS, _CATEGORY],
    "admin.purchases": [_LIMIT, _CURSOR, _STATUS, _CATEGORY],
    "admin.audit_log": [
        {**_LIMIT, "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
        {**_CURSOR, "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}},
        {"name": "purchase_id", "in": "query", "schema": {"type": "string", "pattern": TEXT}},
    ],
    "wallet.entries": [
        _LIMIT,
        {**_CURSOR, "schema": {"type": "string", "pattern": "^ent_[0-9]{1,18}$"}},
    ],
    "events.list_all": [
        _LIMIT,
        _CURSOR,
        {"name": "type", "in": "query", "schema": {"enum": list(EVENT_TYPES)}},
    ],
    "webhook_endpoints.list_all": [_LIMIT, _CURSOR],
    "reconciliations.list_all": [_LIMIT, _CURSOR],
    "webhook_endpoints.attempts": [_LIMIT],
    "catalog.services": [_CATEGORY],
    "admin.search": [
        {
            "name": "q",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "pattern": admin.SEARCH_PATTERN},
        },
        _LIMIT,
    ],
}
# What an Idempotency-Key may be: printable ASCII, no space at either end, 1-255 characters.
IDEMPOTENCY_KEY = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN}
PUBLIC = {
    "auth.register",
    "auth.login",
    "health.healthz",
    "health.readyz",
    "metrics.expose",
    "openapi.document",
    "openapi.docs",
    "pages.demo",
    "pages.console",
    "pages.static",
    "vtpass_callback.receive",
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "example": "validation_error"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}


def build_document() -> dict[str, Any]:
    """Describe every route of the running app, as its settings make it behave."""
    settings = current_app.extensions["paylink"].settings
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        view = current_app.view_functions[rule.endpoint]
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                rule.endpoint, view, rule.arguments, components, settings
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "PayLink API",
            "version": "1",
            "description": "Nigerian bill payments (airtime, data, electricity, cable TV, "
            "internet, education PINs) through VTPass. Errors always use the Error shape.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def body_model(endpoint: str, settings: Settings) -> type[BaseModel] | None:
    """Return the model a view checks its body with, as built for these settings."""
    model = REQUEST_BODIES.get(endpoint)
    if model is schemas.webhook_endpoint_body:
        return schemas.webhook_endpoint_body(settings.webhook_allow_private)
    if model in (schemas.purchase_body, schemas.verification_body):
        return model(settings.sandbox)
    return model


def _operation(
    endpoint: str, view: Any, arguments: set[str], components: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    doc = (view.__doc__ or "").strip().splitlines()
    status = str(SUCCESS_STATUS.get(endpoint, 200))
    operation: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": doc[0] if doc else endpoint,
        "tags": [endpoint.split(".")[0]],
        "responses": {
            status: {"description": "Success"},
            "default": {
                "description": "Error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if endpoint in OTHER_SUCCESS:
        other, description = OTHER_SUCCESS[endpoint]
        operation["responses"][str(other)] = {"description": description}
    if arguments:
        operation["parameters"] = [
            {"name": a, "in": "path", "required": True, "schema": {"type": "string"}}
            for a in sorted(arguments)
        ]
    if endpoint not in PUBLIC:
        operation["security"] = [{"bearer": []}]
    if endpoint in QUERY:
        operation.setdefault("parameters", []).extend(QUERY[endpoint])
    if endpoint == "purchases.create":
        operation.setdefault("parameters", []).append(
            {"name": "Idempotency-Key", "in": "header", "required": True, "schema": IDEMPOTENCY_KEY}
        )
    if endpoint in CONTENT_TYPES:
        # A reconciliation report as JSON or as a CSV download (one line per finding).
        operation["responses"][status]["content"] = {
            media: {"schema": {"type": "string" if media == "text/csv" else "object"}}
            for media in CONTENT_TYPES[endpoint]
        }
    if endpoint in EVENT_STREAMS:
        operation["responses"][status]["content"] = {
            # Each event's data is JSON: a purchase object, or an event body on /events/stream.
            "text/event-stream": {"schema": {"type": "object"}}
        }
        # A purchase's stream resumes after a history id; the events stream after an event id.
        resume = (
            {"type": "string", "pattern": "^[0-9]{0,18}$"}
            if endpoint == "streams.purchase"
            else {"type": "string", "pattern": TEXT}
        )
        operation.setdefault("parameters", []).append(
            {"name": "Last-Event-ID", "in": "header", "required": False, "schema": resume}
        )
    model = body_model(endpoint, settings)
    if model is not None:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    return operation


@bp.get("/api/v1/openapi.json")
def document() -> Response:
    """Return the OpenAPI 3 document of this API."""
    return jsonify(build_document())


@bp.get("/docs")
def docs() -> Response:
    """Show the API as a browsable page (no scripts, nothing fetched from elsewhere)."""
    spec = build_document()
    rows = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            name = body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
            fields = spec["components"]["schemas"].get(name, {}).get("properties", {})
            required = set(spec["components"]["schemas"].get(name, {}).get("required", []))
            shown = ", ".join(
                f"<b>{html.escape(f)}</b>" if f in required else html.escape(f) for f in fields
            )
            lock = "" if "security" not in op else " &#128274;"
            status = next(iter(op["responses"]))
            rows.append(
                f"<tr><td class=m>{method.upper()}</td><td><code>{html.escape(path)}</code>"
                f"{lock}</td><td>{html.escape(op['summary'])}</td><td>{shown}</td>"
                f"<td>{status}</td></tr>"
            )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>PayLink API</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:.4em .8em;text-align:left;vertical-align:top}}
.m{{font-weight:bold;font-family:monospace}}</style></head><body>
<h1>PayLink API v1</h1><p>{html.escape(spec["info"]["description"])} Machine-readable:
<a href="/api/v1/openapi.json">/api/v1/openapi.json</a>. &#128274; = send
<code>Authorization: Bearer &lt;access token&gt;</code>; <b>bold</b> fields are required.</p>
<table><tr><th>Method</th><th>Path</th><th>What it does</th><th>Body fields</th>
<th>Success</th></tr>{"".join(rows)}</table></body></html>"""
    return Response(page, mimetype="text/html")
