"""Domain errors: each carries its HTTP status and machine code (PRODUCT.md lists them).

PayLinkError
 ├── ValidationFailed        422 validation_error (with fields)
 ├── InvalidCredentials      401 invalid_credentials
 ├── TokenRevoked            401 token_revoked
 ├── Forbidden               403 forbidden
 ├── NotFound                404 not_found
 ├── InsufficientFunds       402 insufficient_funds
 ├── IdempotencyKeyRequired  400 idempotency_key_required
 ├── IdempotencyKeyReused    422 idempotency_key_reused
 ├── IdempotencyInProgress   409 idempotency_in_progress
 ├── CustomerNotFound        422 customer_not_found
 ├── TooManyRequests         429 rate_limited (with Retry-After)
 ├── UpstreamUnavailable     503 upstream_unavailable
 └── ServiceUnavailable      503 service_unavailable
"""

from __future__ import annotations


class PayLinkError(Exception):
    """An error the client is told about, in the documented shape."""

    status = 500
    code = "internal_error"
    message = "Something went wrong."
    retry_after: int | None = None  # seconds, sent as Retry-After when set

    def __init__(self, message: str | None = None, *, fields: dict[str, str] | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.fields = fields


class ValidationFailed(PayLinkError):
    status, code, message = 422, "validation_error", "The request is not valid."


class InvalidCredentials(PayLinkError):
    status, code, message = 401, "invalid_credentials", "Wrong email or password."


class TokenRevoked(PayLinkError):
    status, code, message = 401, "token_revoked", "This token has been revoked."


class Forbidden(PayLinkError):
    status, code, message = 403, "forbidden", "You may not do this."


class NotFound(PayLinkError):
    status, code, message = 404, "not_found", "Not found."


class InsufficientFunds(PayLinkError):
    status, code, message = 402, "insufficient_funds", "The wallet does not cover this amount."


class IdempotencyKeyRequired(PayLinkError):
    status, code, message = (
        400,
        "idempotency_key_required",
        "The Idempotency-Key header (1-255 printable ASCII characters) is required.",
    )


class IdempotencyKeyReused(PayLinkError):
    status, code, message = (
        422,
        "idempotency_key_reused",
        "This Idempotency-Key was used with a different request body.",
    )


class IdempotencyInProgress(PayLinkError):
    status, code, message = (
        409,
        "idempotency_in_progress",
        "A request with this Idempotency-Key is still being processed.",
    )


class CustomerNotFound(PayLinkError):
    status, code, message = 422, "customer_not_found", "VTPass does not know this customer."


class TooManyRequests(PayLinkError):
    status, code, message = 429, "rate_limited", "Too many requests; slow down."
    retry_after = 15


class UpstreamUnavailable(PayLinkError):
    status, code, message = 503, "upstream_unavailable", "VTPass is not answering; try again."


class ServiceUnavailable(PayLinkError):
    status, code, message = 503, "service_unavailable", "A service PayLink needs is down."
