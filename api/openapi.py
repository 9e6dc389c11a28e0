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

from api import schemas

bp = Blueprint("openapi", __name__)

# endpoint -> the model its view validates the body with
REQUEST_BODIES: dict[str, type[BaseModel]] = {
    "auth.register": schemas.Credentials,
    "auth.login": schemas.Credentials,
    "auth.change_password": schemas.PasswordChangeIn,
    "purchases.create": schemas.PurchaseIn,
    "admin.credit_wallet": schemas.CreditIn,
    "admin.resolve": schemas.ResolveIn,
    "sandbox.fund": schemas.SandboxFundIn,
    "verifications.verify": schemas.VerificationIn,
    "webhook_endpoints.create": schemas.WebhookEndpointIn,
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
# Server-Sent Events: their success body is `text/event-stream`, resumed with Last-Event-ID.
EVENT_STREAMS = {"streams.purchase", "streams.events"}
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
    """Describe every route of the running app."""
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        view = current_app.view_functions[rule.endpoint]
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                rule.endpoint, view, rule.arguments, components
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


def _operation(
    endpoint: str, view: Any, arguments: set[str], components: dict[str, Any]
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
    if arguments:
        operation["parameters"] = [
            {"name": a, "in": "path", "required": True, "schema": {"type": "string"}}
            for a in sorted(arguments)
        ]
    if endpoint not in PUBLIC:
        operation["security"] = [{"bearer": []}]
    if endpoint == "purchases.create":
        operation.setdefault("parameters", []).append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if endpoint in EVENT_STREAMS:
        operation["responses"][status]["content"] = {
            "text/event-stream": {"schema": {"type": "string"}}
        }
        operation.setdefault("parameters", []).append(
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
            }
        )
    model = REQUEST_BODIES.get(endpoint)
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
