"""The VTPass client: pay, requery, verify and the catalog, over one long-lived session."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import requests

from shared import logs
from shared.vtpass._parse import (
    parse_json,
    response_code,
    response_description,
    to_decimal,
)
from shared.vtpass.catalog import (
    Service,
    Variation,
    Verification,
    parse_balance,
    parse_categories,
    parse_services,
    parse_variations,
    parse_verification,
)
from shared.vtpass.errors import (
    VTPassAuthError,
    VTPassResponseError,
    VTPassTransportError,
)
from shared.vtpass.outcome import (
    AUTH_CODES,
    KNOWN_CODES,
    Operation,
    Outcome,
    classify_pay_response,
    classify_transport_error,
)
from shared.vtpass.transport import MASK, ExchangeHook, Transport

log = logging.getLogger(__name__)

__all__ = ["ExchangeHook", "VTPassClient"]


def _json_amount(amount: Decimal | int | str) -> int | str:
    """Render an amount for JSON: an int when whole, else exact decimal text."""
    value = to_decimal(amount)
    if value is None or value <= 0:
        raise ValueError(f"amount must be a positive number, not {amount!r}")
    if value == value.to_integral_value():
        return int(value)
    return format(value, "f")


class VTPassClient:
    """A reusable VTPass client; make one per process and share it."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        public_key: str,
        secret_key: str,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        deadline: float | None = None,
        session: requests.Session | None = None,
        on_exchange: ExchangeHook | None = None,
        connections: int = 10,
    ) -> None:
        # `deadline` bounds a whole call by wall-clock time (default: connect + read timeout).
        # `connections`: how many kept-alive connections to VTPass to keep (one per thread
        # that may call at once is enough).
        self._transport = Transport(
            base_url=base_url,
            api_key=api_key,
            public_key=public_key,
            secret_key=secret_key,
            timeout=(connect_timeout, read_timeout),
            session=session,
            on_exchange=on_exchange,
            deadline=deadline,
            connections=connections,
        )

    @property
    def base_url(self) -> str:
        """Return the base URL, always ending in a slash."""
        return self._transport.base_url

    @property
    def deadline(self) -> float:
        """Return the wall-clock bound of one whole call, in seconds."""
        return self._transport.deadline

    @property
    def timeout(self) -> tuple[float, float]:
        """Return the (connect, read) timeout sent with every request."""
        return self._transport.timeout

    def __repr__(self) -> str:
        return (
            f"VTPassClient(base_url={self._transport.masked_base_url()!r}, api_key={MASK!r}, "
            f"public_key={MASK!r}, secret_key={MASK!r}, timeout={self.timeout!r})"
        )

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        self._transport.close()

    # -- buying -----------------------------------------------------------------

    def pay(
        self,
        *,
        request_id: str,
        service_id: str,
        phone: str,
        amount: Decimal | int | str | None = None,
        billers_code: str | None = None,
        variation_code: str | None = None,
        subscription_type: str | None = None,
        quantity: int | None = None,
    ) -> Outcome:
        """Buy once at VTPass; transport trouble comes back as NOT_SENT or PENDING."""
        payload: dict[str, Any] = {
            "request_id": request_id,
            "serviceID": service_id,
            "phone": str(phone),
        }
        if amount is not None:
            payload["amount"] = _json_amount(amount)
        if billers_code is not None:
            payload["billersCode"] = str(billers_code)
        if variation_code is not None:
            payload["variation_code"] = variation_code
        if subscription_type is not None:
            payload["subscription_type"] = subscription_type
        if quantity is not None:
            payload["quantity"] = int(quantity)
        return self._pay_or_requery("pay", payload, request_id)

    def requery(self, request_id: str) -> Outcome:
        """Ask VTPass what became of an earlier purchase; safe to repeat."""
        return self._pay_or_requery("requery", {"request_id": request_id}, request_id)

    def _pay_or_requery(
        self, operation: Operation, payload: dict[str, Any], request_id: str
    ) -> Outcome:
        # From here on every line of this task names the VTPass request id.
        logs.bind(vtpass_request_id=request_id)
        log.info("vtpass %s sent", operation)
        try:
            answer = self._transport.exchange("POST", operation, payload=payload)
        except VTPassTransportError as exc:
            outcome = classify_transport_error(exc)
        else:
            outcome = classify_pay_response(
                answer.http_status,
                answer.body,
                operation=operation,
                expected_request_id=request_id,
            )
        log.info(
            "vtpass %s answered: %s (code %s)",
            operation,
            outcome.kind.value,
            outcome.code,
            extra={"outcome": outcome.kind.value, "vtpass_code": outcome.code},
        )
        return outcome

    # -- verify -----------------------------------------------------------------

    def verify(
        self, *, service_id: str, billers_code: str, type: str | None = None
    ) -> Verification:
        """Look up a meter, smartcard or JAMB profile; raise CustomerNotFound if unknown."""
        payload: dict[str, Any] = {"billersCode": str(billers_code), "serviceID": service_id}
        if type is not None:
            payload["type"] = type
        return parse_verification(self._call_json("POST", "merchant-verify", payload=payload))

    def verify_smile_email(self, email: str) -> Verification:
        """Look up the Smile account registered to an email address."""
        payload = {"billersCode": email, "serviceID": "smile-direct"}
        body = self._call_json("POST", "merchant-verify/smile/email", payload=payload)
        return parse_verification(body)

    # -- catalog ----------------------------------------------------------------

    def service_categories(self) -> list[dict[str, Any]]:
        """List VTPass's service categories."""
        return parse_categories(self._call_json("GET", "service-categories"))

    def services(self, identifier: str) -> list[Service]:
        """List the services in one category (e.g. ``electricity-bill``)."""
        body = self._call_json("GET", "services", params={"identifier": identifier})
        return parse_services(body)

    def variations(self, service_id: str) -> list[Variation]:
        """List the plans or bouquets of one service."""
        body = self._call_json("GET", "service-variations", params={"serviceID": service_id})
        return parse_variations(body)

    def balance(self) -> Decimal:
        """Return the merchant's VTPass wallet balance."""
        return parse_balance(self._call_json("GET", "balance"))

    # -- plumbing ---------------------------------------------------------------

    def _call_json(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, str] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        """Exchange, then raise the exception tree unless a JSON object came back."""
        answer = self._transport.exchange(method, endpoint, params=params, payload=payload)
        status = answer.http_status
        parsed = parse_json(answer.body)
        body: Mapping[str, Any] = parsed if isinstance(parsed, Mapping) else {}
        code = response_code(body)
        description = response_description(body)
        if status in (401, 403) or code in AUTH_CODES:
            raise VTPassAuthError(
                description or "VTPass refused our credentials", code=code, http_status=status
            )
        if not isinstance(parsed, Mapping):
            what = "empty" if not answer.body.strip() else "unreadable"
            raise VTPassResponseError(f"{what} response", http_status=status)
        # A 4xx carrying a VTPass code is VTPass speaking; any other 4xx, 3xx
        # or 5xx is a proxy, a wrong URL or an outage.
        if not (200 <= status < 300 or (400 <= status < 500 and code in KNOWN_CODES)):
            raise VTPassResponseError(
                description or "unexpected HTTP status", code=code, http_status=status
            )
        return parsed
