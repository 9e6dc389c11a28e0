"""Customer verification: meters, smartcards, JAMB profiles and Smile accounts, cached briefly."""

from __future__ import annotations

from typing import Any

from shared import errors
from shared.cache import ResponseCache
from shared.products import PRODUCTS, Category, CustomerKind
from shared.vtpass import CustomerNotFound, VTPassClient, VTPassError

# What a frontend shows for each product, from VTPass's verify content.
SHOWN_FIELDS = (
    "Address",
    "Meter_Number",
    "Meter_Type",
    "Customer_Account_Type",
    "Minimum_Amount",
    "Status",
    "Due_Date",
    "Current_Bouquet",
    "Current_Bouquet_Code",
    "Renewal_Amount",
    "Balance",
    "Customer_Number",
    "AccountList",
)


def verifiable(service_id: str) -> bool:
    """Say whether VTPass can verify a customer of this service."""
    product = PRODUCTS.get(service_id)
    return product is not None and (
        product.customer is not CustomerKind.PHONE or product.category is Category.INTERNET
    )


class Verifier:
    """Ask VTPass who a customer is; remember the answer for `ttl` seconds."""

    def __init__(self, cache: ResponseCache, vtpass: VTPassClient, *, ttl: int) -> None:
        self.cache = cache
        self.vtpass = vtpass
        self.ttl = ttl

    def verify(self, *, service_id: str, customer_id: str, type: str | None) -> dict[str, Any]:
        """Return `{service_id, customer_id, customer_name, details}` or raise CustomerNotFound."""

        def fetch() -> dict[str, Any]:
            try:
                if service_id == "smile-direct" and "@" in customer_id:
                    found = self.vtpass.verify_smile_email(customer_id)
                else:
                    found = self.vtpass.verify(
                        service_id=service_id, billers_code=customer_id, type=type
                    )
            except CustomerNotFound:
                # Cache the negative answer too, as a marker, so retries do not hammer VTPass.
                return {"not_found": True}
            details = {k: v for k, v in found.details.items() if k in SHOWN_FIELDS}
            return {"customer_name": found.customer_name, "details": details}

        key = f"verify:{service_id}:{type or ''}:{customer_id}"
        try:
            answer, _ = self.cache.get_or_fetch(key, fetch, ttl=self.ttl)
        except VTPassError as e:
            raise errors.UpstreamUnavailable("VTPass could not verify this customer now.") from e
        if answer.get("not_found"):
            raise errors.CustomerNotFound()
        return {"service_id": service_id, "customer_id": customer_id, **answer}
