"""Sandbox magic values and scripted misbehaviour for ``POST pay``.

Every accepted pay call is decided by a ``Script``: either one a test posted to
``/_sim/scripts`` for that customer value, or the one implied by the sandbox magic
value, or ``fail``.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass

from flask import Response

SUCCESS_PHONE = "08011111111"
SMARTCARD = "1212121212"
PREPAID_METER = "1111111111111"
POSTPAID_METER = "1010101010101"
JAMB_PROFILE = "0123456789"
SMILE_EMAIL = "tester@sandbox.com"
SMILE_ACCOUNT_ID = "1402000567"

SUCCESS_VALUES = frozenset(
    {
        SUCCESS_PHONE,
        SMARTCARD,
        PREPAID_METER,
        POSTPAID_METER,
        JAMB_PROFILE,
        SMILE_EMAIL,
        SMILE_ACCOUNT_ID,
    }
)
PENDING_VALUE = "201000000000"
UNEXPECTED_VALUE = "500000000000"
NO_RESPONSE_VALUE = "400000000000"
TIMEOUT_VALUE = "300000000000"

BEHAVIOURS = frozenset(
    {
        "deliver",
        "fail",
        "pending",
        "processing",
        "charge_then_hang",
        "charge_then_drop",
        "garbage",
        "http_500",
        "odd_code",
        "lose",
    }
)
FINAL_STATUSES = frozenset({"delivered", "failed", "reversed"})
# How a transaction's pay/requery bodies are laid out (responses.py builds each).
FORMATS = frozenset({"current", "legacy", "query"})
SCRIPT_KEYS = frozenset(
    {
        "customer",
        "behaviour",
        "times",
        "resolve_after_requeries",
        "final_status",
        "stall_s",
        "code",
        "fields",
        "format",
    }
)

GARBAGE_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass
class Script:
    behaviour: str
    customer: str = ""
    times: int | None = None  # None: unlimited
    resolve_after_requeries: int | None = None  # None: stays pending forever
    final_status: str = "delivered"
    stall_s: float | None = None  # None: the app's TIMEOUT_STALL_S
    code: str | None = None  # fail / odd_code answer code
    fields: dict | None = None  # product fields to answer with once delivered (None: minted)
    format: str | None = None  # body layout (None: the service's own)

    @property
    def charges(self) -> bool:
        """Return True when VTPass takes the merchant's money for this call."""
        return self.behaviour not in ("fail", "lose")

    @property
    def initial_status(self) -> str:
        """Return the ledger status recorded when the pay call is accepted."""
        if self.behaviour == "fail":
            return "failed"
        if self.behaviour in ("pending", "processing"):
            return "pending"
        return "delivered"

    def as_dict(self) -> dict:
        """Return the script as JSON-ready data."""
        return asdict(self)


_MAGIC = {
    PENDING_VALUE: Script("pending", PENDING_VALUE),
    UNEXPECTED_VALUE: Script("garbage", UNEXPECTED_VALUE),
    NO_RESPONSE_VALUE: Script("charge_then_drop", NO_RESPONSE_VALUE),
    TIMEOUT_VALUE: Script("charge_then_hang", TIMEOUT_VALUE),
}


def is_magic(customer: str) -> bool:
    """Return True for sandbox magic values (exempt from the 019 duplicate guard)."""
    return customer in SUCCESS_VALUES or customer in _MAGIC


def default_script(customer: str) -> Script:
    """Return the sandbox outcome for an unscripted customer value."""
    if customer in SUCCESS_VALUES:
        return Script("deliver", customer)
    return _MAGIC.get(customer) or Script("fail", customer)


def _optional_int(body: dict, key: str, minimum: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}")
    return value


def parse_script(body: dict) -> Script:
    """Build a Script from a /_sim/scripts request body, raising ValueError when invalid."""
    unknown = set(body) - SCRIPT_KEYS
    if unknown:
        raise ValueError(f"unknown script keys {sorted(unknown)}; allowed: {sorted(SCRIPT_KEYS)}")
    customer = body.get("customer")
    if not isinstance(customer, str) or not customer:
        raise ValueError("customer must be a non-empty string")
    behaviour = body.get("behaviour")
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"behaviour must be one of {sorted(BEHAVIOURS)}")
    final_status = body.get("final_status", "delivered")
    if final_status not in FINAL_STATUSES:
        raise ValueError(f"final_status must be one of {sorted(FINAL_STATUSES)}")
    stall_s = body.get("stall_s")
    if stall_s is not None and (
        isinstance(stall_s, bool) or not isinstance(stall_s, int | float) or stall_s < 0
    ):
        raise ValueError("stall_s must be a number >= 0")
    code = body.get("code")
    if code is not None and not isinstance(code, str):
        raise ValueError("code must be a string")
    fields = body.get("fields")
    if fields is not None and not isinstance(fields, dict):
        raise ValueError("fields must be a JSON object")
    answer_format = body.get("format")
    if answer_format is not None and answer_format not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}")
    return Script(
        behaviour=behaviour,
        customer=customer,
        times=_optional_int(body, "times", 1),
        resolve_after_requeries=_optional_int(body, "resolve_after_requeries", 0),
        final_status=final_status,
        stall_s=stall_s,
        code=code,
        fields=fields,
        format=answer_format,
    )


def drop_connection(environ: dict) -> None:
    """Tear down the client's TCP connection so it gets no HTTP response at all."""
    sock = environ.get("werkzeug.socket") or environ.get("gunicorn.socket")
    if sock is None:
        raise ConnectionAbortedError("simulated dropped connection (no socket in this server)")
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def garbage_response() -> Response:
    """Return an HTTP 200 whose body is a proxy's HTML error page, not JSON."""
    return Response(GARBAGE_HTML, status=200, mimetype="text/html")
