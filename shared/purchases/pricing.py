"""Turn a client's purchase request into exactly what PayLink will buy and charge.

Per-product rules live here: which fields each product needs, phone normalisation, the amount
within the service's limits, plan prices from the catalog (never from the client), quantity
limits, and DSTV/GOtv renewals priced from the verified renewal amount.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from shared.errors import CustomerNotFound, ValidationFailed
from shared.phones import SANDBOX_VALUES, InvalidPhone, normalise_phone
from shared.products import PRODUCTS, Category, CustomerKind, Product

CUSTOMER_PATTERNS = {
    CustomerKind.METER: (re.compile(r"[0-9]{6,20}"), "must be a meter number (6-20 digits)"),
    CustomerKind.SMARTCARD: (
        re.compile(r"[0-9]{8,16}"),
        "must be a smartcard number (8-16 digits)",
    ),
    CustomerKind.PROFILE: (re.compile(r"[0-9]{10}"), "must be a JAMB profile id (10 digits)"),
    CustomerKind.ACCOUNT: (re.compile(r"[0-9]{4,20}"), "must be a Smile account id (digits)"),
}


@dataclass(frozen=True)
class PurchaseRequest:
    """The client's purchase request, already checked for shape and types."""

    service_id: str
    phone: str
    amount: Decimal | None = None
    customer_id: str | None = None
    variation_code: str | None = None
    type: str | None = None
    subscription_type: str | None = None
    quantity: int | None = None


@dataclass(frozen=True)
class PricedPurchase:
    """What will be bought from VTPass, and what the wallet is charged for it."""

    product: Product
    amount: Decimal
    phone: str
    customer_id: str | None
    variation_code: str | None
    subscription_type: str | None
    quantity: int | None

    @property
    def billers_code(self) -> str:
        return self.customer_id or self.phone


class CatalogLike(Protocol):
    def service(self, service_id: str) -> dict | None: ...

    def variation(self, service_id: str, code: str) -> dict | None: ...


class VerifierLike(Protocol):
    def verify(self, *, service_id: str, customer_id: str, type: str | None) -> dict: ...


def asks_vtpass(request: PurchaseRequest) -> bool:
    """Whether pricing this request asks VTPass: a DSTV/GOtv renewal is priced from the
    renewal amount VTPass verifies for the smartcard."""
    product = PRODUCTS.get(request.service_id)
    return bool(product and product.subscription_types) and request.subscription_type == "renew"


def price_purchase(
    request: PurchaseRequest, *, catalog: CatalogLike, verifier: VerifierLike, sandbox: bool
) -> PricedPurchase:
    """Check a request against its product's rules; raise ValidationFailed with field errors."""
    product = PRODUCTS.get(request.service_id)
    if product is None:
        raise ValidationFailed(fields={"service_id": "unknown service"})
    problems: dict[str, str] = {}
    phone = _phone(request.phone, sandbox, problems, "phone")
    customer_id = _customer(product, request, sandbox, problems)
    quantity = _quantity(product, request.quantity, problems)
    subscription_type = _subscription_type(product, request, problems)
    variation_code = _variation_code(product, request, subscription_type, problems)
    if problems:
        raise ValidationFailed(fields=problems)

    if product.client_amount:
        amount = _client_amount(product, request.amount, catalog)
    elif subscription_type == "renew":
        amount = _renewal_amount(product, customer_id or "", verifier)
    else:
        amount = _plan_amount(product, variation_code or "", request.amount, catalog) * (
            quantity or 1
        )
    return PricedPurchase(
        product=product,
        amount=amount.quantize(Decimal("0.01")),
        phone=phone,
        customer_id=customer_id,
        variation_code=variation_code,
        subscription_type=subscription_type,
        quantity=quantity,
    )


def _phone(raw: str, sandbox: bool, problems: dict[str, str], field: str) -> str:
    try:
        return normalise_phone(raw, sandbox=sandbox)
    except InvalidPhone as e:
        problems[field] = str(e)
        return raw


def _customer(
    product: Product, request: PurchaseRequest, sandbox: bool, problems: dict[str, str]
) -> str | None:
    raw = (request.customer_id or "").strip() or None
    if sandbox and raw in SANDBOX_VALUES and product.category is not Category.AIRTIME:
        return raw
    if product.customer is CustomerKind.PHONE:
        if raw is None:
            return None
        if product.category is Category.AIRTIME:
            problems["customer_id"] = "not used for airtime; the phone is credited"
            return None
        # Data and Spectranet credit a phone number, which may differ from the buyer's.
        return _phone(raw, sandbox, problems, "customer_id")
    if raw is None:
        problems["customer_id"] = f"required: the {product.customer.value} to credit"
        return None
    pattern, message = CUSTOMER_PATTERNS[product.customer]
    if not pattern.fullmatch(raw):
        problems["customer_id"] = message
    return raw


def _quantity(product: Product, quantity: int | None, problems: dict[str, str]) -> int | None:
    if quantity is None:
        return None
    if product.max_quantity == 1 and quantity != 1:
        problems["quantity"] = "this service is bought one at a time"
    elif not 1 <= quantity <= product.max_quantity:
        problems["quantity"] = f"must be between 1 and {product.max_quantity}"
    return quantity


def _subscription_type(
    product: Product, request: PurchaseRequest, problems: dict[str, str]
) -> str | None:
    if product.subscription_types:
        chosen = request.subscription_type or ("change" if request.variation_code else None)
        if chosen not in product.subscription_types:
            problems["subscription_type"] = "must be 'change' (a bouquet) or 'renew'"
        return chosen
    if request.subscription_type is not None:
        problems["subscription_type"] = "not used for this service"
    return None


def _variation_code(
    product: Product,
    request: PurchaseRequest,
    subscription_type: str | None,
    problems: dict[str, str],
) -> str | None:
    if product.meter_types:
        if request.type not in product.meter_types:
            problems["type"] = "must be 'prepaid' or 'postpaid'"
        if request.variation_code is not None and request.variation_code != request.type:
            problems["variation_code"] = "not used for electricity; send type"
        return request.type
    if request.type is not None and product.customer is not CustomerKind.PROFILE:
        problems["type"] = "not used for this service"
    if subscription_type == "renew":
        if request.variation_code is not None:
            problems["variation_code"] = "not used when renewing; the current bouquet is renewed"
        return None
    if product.needs_variation and not request.variation_code:
        problems["variation_code"] = "required: choose a plan from the catalog"
    if not product.needs_variation and request.variation_code is not None:
        problems["variation_code"] = "not used for this service"
    return request.variation_code


def _client_amount(product: Product, amount: Decimal | None, catalog: CatalogLike) -> Decimal:
    if amount is None:
        raise ValidationFailed(fields={"amount": "required"})
    return _within_service_limits(product, amount, catalog)


def _within_service_limits(product: Product, amount: Decimal, catalog: CatalogLike) -> Decimal:
    service = catalog.service(product.service_id) or {}
    low = Decimal(service["min_amount"]) if service.get("min_amount") else None
    high = Decimal(service["max_amount"]) if service.get("max_amount") else None
    if low is not None and amount < low:
        raise ValidationFailed(fields={"amount": f"must be at least {low}"})
    if high is not None and amount > high:
        raise ValidationFailed(fields={"amount": f"must be at most {high}"})
    return amount


def _plan_amount(
    product: Product, code: str, client_amount: Decimal | None, catalog: CatalogLike
) -> Decimal:
    plan = catalog.variation(product.service_id, code)
    if plan is None:
        raise ValidationFailed(fields={"variation_code": "no such plan for this service"})
    if not plan["fixed_price"] and client_amount is not None:
        # A plan without a fixed price takes the client's amount, within the service's limits
        # (else one naira would buy any plan).
        return _within_service_limits(product, client_amount, catalog)
    return Decimal(plan["amount"])


def _renewal_amount(product: Product, customer_id: str, verifier: VerifierLike) -> Decimal:
    try:
        found = verifier.verify(service_id=product.service_id, customer_id=customer_id, type=None)
    except CustomerNotFound:
        raise ValidationFailed(fields={"customer_id": "VTPass does not know this smartcard"})
    renewal = found["details"].get("Renewal_Amount")
    if renewal in (None, ""):
        raise ValidationFailed(fields={"subscription_type": "this smartcard has nothing to renew"})
    return Decimal(str(renewal))
