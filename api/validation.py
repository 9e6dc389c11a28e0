"""Parse request bodies and query strings into checked values, or raise the documented errors."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import BadRequest

from shared.errors import NotFound, ValidationFailed
from shared.products import PRODUCTS

# No request body PayLink accepts nests deeper; deeper is an attack on the parser.
MAX_JSON_DEPTH = 32
_ASCII_INT = re.compile(r"[0-9]{1,18}")


def parse_json(raw: bytes) -> Any:
    """Parse JSON (floats kept as text), refusing absurd nesting; raise ValueError if bad."""
    try:
        value = json.loads(raw or b"null", parse_float=str, parse_int=int)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValueError("nested too deeply")
    return value


def json_depth(value: Any) -> int:
    """Return how deeply a parsed JSON value nests (without recursing)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def json_body() -> Any:
    """Return the parsed JSON body; a body that is not JSON is a 400 invalid_json."""
    try:
        return parse_json(request.get_data(cache=True))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest() from None


def ascii_int(raw: str) -> int | None:
    """Read a non-negative decimal integer of ASCII digits (not `²`, not 5,000 digits)."""
    return int(raw) if _ASCII_INT.fullmatch(raw) else None


def init_input_guards(app: Flask) -> None:
    """Refuse NUL characters in path ids and query strings before any view sees them."""

    @app.before_request
    def refuse_nul() -> None:
        # PostgreSQL cannot store or compare text holding NUL: such an id names nothing.
        if any("\x00" in str(v) for v in (request.view_args or {}).values()):
            raise NotFound()
        bad = sorted(k for k, v in request.args.items(multi=True) if "\x00" in k + v)
        if bad:
            raise ValidationFailed(fields={k: "must not contain NUL characters" for k in bad})


def parse_body(model: type[BaseModel]) -> tuple[Any, Any]:
    """Check the JSON body against `model`; return the model and the raw JSON.

    A per-product body (a RootModel) comes back as the product's own model.
    """
    raw = json_body()
    if not isinstance(raw, dict):
        raise ValidationFailed(
            "The body must be a JSON object.", fields={"body": "must be an object"}
        )
    try:
        parsed = model.model_validate(raw)
    except ValidationError as e:
        raise ValidationFailed(fields=field_errors(e)) from None
    return getattr(parsed, "root", parsed), raw


def field_errors(e: ValidationError) -> dict[str, str]:
    """Flatten pydantic's errors into `{field: problem}` (per-product bodies name no product)."""
    problems: dict[str, str] = {}
    for err in e.errors():
        loc = list(err["loc"])
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # The product is chosen by service_id: an unknown or missing one is its problem.
            problem = "unknown service" if err["type"] == "union_tag_invalid" else "required"
            problems.setdefault("service_id", problem)
            continue
        if loc and isinstance(loc[0], str) and _is_product_tag(loc[0]):
            loc = loc[1:]
        field = ".".join(str(p) for p in loc) or "body"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = (
                "not used for this service"
                if _is_product_tag(str(err["loc"][0]))
                else ("unknown field")
            )
        elif err["type"] == "missing":
            message = "required"
        problems.setdefault(field, message)
    return problems


def _is_product_tag(name: str) -> bool:
    return name.split(":")[0] in PRODUCTS


def query_limit(default: int = 20, maximum: int = 100) -> int:
    """Read `?limit=` as an integer within 1..maximum."""
    raw = request.args.get("limit")
    if raw is None:
        return default
    value = ascii_int(raw)
    if value is None or not 1 <= value <= maximum:
        raise ValidationFailed(fields={"limit": f"must be an integer from 1 to {maximum}"})
    return value
