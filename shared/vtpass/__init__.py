"""VTPass client: a pure library with no Flask, database or Celery imports."""

from shared.vtpass.catalog import Service, Variation, Verification
from shared.vtpass.client import ExchangeHook, VTPassClient
from shared.vtpass.errors import (
    CustomerNotFound,
    VTPassAuthError,
    VTPassError,
    VTPassMaybeSent,
    VTPassNotSent,
    VTPassRejected,
    VTPassResponseError,
    VTPassTransportError,
)
from shared.vtpass.outcome import (
    ALERT_CODES,
    AUTH_CODES,
    KNOWN_CODES,
    Outcome,
    OutcomeKind,
    classify_pay_body,
    classify_pay_response,
    classify_transport_error,
)
from shared.vtpass.receipt import conflict_note, extract_receipt
from shared.vtpass.request_id import (
    LAGOS,
    day_prefix,
    is_stale,
    mint_request_id,
    request_id_date,
)

__all__ = [
    "ALERT_CODES",
    "AUTH_CODES",
    "KNOWN_CODES",
    "LAGOS",
    "CustomerNotFound",
    "ExchangeHook",
    "Outcome",
    "OutcomeKind",
    "Service",
    "VTPassAuthError",
    "VTPassClient",
    "VTPassError",
    "VTPassMaybeSent",
    "VTPassNotSent",
    "VTPassRejected",
    "VTPassResponseError",
    "VTPassTransportError",
    "Variation",
    "Verification",
    "classify_pay_body",
    "classify_pay_response",
    "classify_transport_error",
    "conflict_note",
    "extract_receipt",
    "day_prefix",
    "is_stale",
    "mint_request_id",
    "request_id_date",
]
