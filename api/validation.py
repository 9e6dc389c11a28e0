"""Parse request bodies and query strings into checked values, or raise the documented errors."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import BadRequest

from shared.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def json_body() -> Any:
    """Return the parsed JSON body; a body that is not JSON is a 400 invalid_json."""
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw or b"null", parse_float=str, parse_int=int)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest() from None


def parse_body(model: type[M]) -> tuple[M, Any]:
    """Check the JSON body against `model`; return the model and the raw JSON."""
    raw = json_body()
    if not isinstance(raw, dict):
        raise ValidationFailed(
            "The body must be a JSON object.", fields={"body": "must be an object"}
        )
    try:
        return model.model_validate(raw), raw
    except ValidationError as e:
        raise ValidationFailed(fields=field_errors(e)) from None


def field_errors(e: ValidationError) -> dict[str, str]:
    """Flatten pydantic's errors into `{field: problem}`."""
    problems: dict[str, str] = {}
    for err in e.errors():
        field = ".".join(str(p) for p in err["loc"]) or "body"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "required"
        problems.setdefault(field, message)
    return problems


def query_limit(default: int = 20, maximum: int = 100) -> int:
    """Read `?limit=` as an integer within 1..maximum."""
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ValidationFailed(fields={"limit": f"must be an integer from 1 to {maximum}"})
    return int(raw)
