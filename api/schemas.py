"""Request bodies, checked by pydantic; the same models feed the OpenAPI document.

The document must state every constraint the server enforces, so a client generated from it
sends only what is accepted (and the server refuses whatever the document rules out): formats
are patterns the models enforce themselves, and a purchase or verification body is one shape
per product, built from the same product table (`shared/products.py`) the pricing rules use.
What the document cannot know is state: whether an email is taken, a customer exists at VTPass,
a plan is in VTPass's catalog today, an amount is within today's limits, the wallet covers it.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    WithJsonSchema,
    create_model,
    field_validator,
)

from shared.phones import SANDBOX_VALUES, phone_pattern
from shared.products import PRODUCTS, CustomerKind, Product
from shared.purchases.pricing import CUSTOMER_PATTERNS
from shared.users import EMAIL_PATTERN, MAX_PASSWORD, MIN_PASSWORD, PASSWORD_PATTERN
from shared.verification import verifiable
from shared.webhooks.events import EVENT_TYPES
from shared.webhooks.ssrf import MAX_URL_LENGTH, url_pattern

# Any text PostgreSQL can store (no NUL); lone surrogates are refused by `Body` as well.
TEXT = r"^[^\x00]*$"
# Codes and names: printable ASCII, no spaces.
CODE = r"^[!-~]+$"
# A positive amount of naira as a decimal string: at most 12 digits before the point, 2 after.
MONEY_TEXT = r"^(?:[1-9][0-9]{0,11}(?:\.[0-9]{1,2})?|0?\.(?:0[1-9]|[1-9][0-9]?))$"
MAX_MONEY = Decimal("999999999999.99")


def _money_text(value: Any) -> Any:
    if isinstance(value, str) and re.match(MONEY_TEXT, value) is None:
        raise ValueError("must be a positive amount with at most 2 decimals, like 100 or 99.50")
    return value


def money(maximum: Decimal) -> Any:
    """Return a positive amount type up to `maximum`, as a JSON number or a decimal string."""
    return Annotated[
        Decimal,
        BeforeValidator(_money_text),
        Field(gt=0, le=maximum, decimal_places=2, allow_inf_nan=False),
        WithJsonSchema(
            {
                "anyOf": [
                    {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "maximum": float(maximum),
                        "multipleOf": 0.01,
                    },
                    {"type": "string", "pattern": MONEY_TEXT},
                ]
            }
        ),
    ]


Money: Any = money(MAX_MONEY)


def _text(min_length: int, max_length: int, pattern: str = TEXT) -> Any:
    return Field(min_length=min_length, max_length=max_length, pattern=pattern)


class Body(BaseModel):
    # Text is taken as sent: the patterns say what may be sent, nothing is trimmed quietly.
    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    @field_validator("*", mode="after")
    @classmethod
    def storable_text(cls, value: Any) -> Any:
        """Refuse text PostgreSQL cannot store: NUL characters, lone surrogates."""
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and ("\x00" in text or _has_surrogate(text)):
                raise ValueError("must not contain NUL characters or unpaired surrogates")
        return value


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


Email = Annotated[str, _text(3, 320, EMAIL_PATTERN)]


class Credentials(Body):
    email: Email
    password: str = _text(1, MAX_PASSWORD)


class Registration(Body):
    email: Email
    password: str = _text(MIN_PASSWORD, MAX_PASSWORD, PASSWORD_PATTERN)


class PasswordChangeIn(Body):
    current_password: str = _text(1, MAX_PASSWORD)
    new_password: str = _text(MIN_PASSWORD, MAX_PASSWORD, PASSWORD_PATTERN)


class CreditIn(Body):
    amount: Money
    reference: str = _text(1, 255)


class ResolveIn(Body):
    """`delivered` or `failed` settles a purchase in review; `reversed` reverses a delivered
    purchase that VTPass confirmed it never delivered (the customer is refunded once)."""

    status: Literal["delivered", "failed", "reversed"]
    note: str = _text(1, 1000)


class SandboxFundIn(Body):
    amount: money(Decimal(100_000))  # type: ignore[valid-type]


EventType = Annotated[str, WithJsonSchema({"type": "string", "enum": list(EVENT_TYPES)})]


@functools.cache
def webhook_endpoint_body(allow_private: bool) -> type[Body]:
    """Return the body of `POST /webhook-endpoints` for this deployment.

    The URL's form and the event names are checked by the endpoint service, whose messages
    say what is wrong (credentials, scheme, which event); the document states both.
    """
    url_schema = {"type": "string", "minLength": 1, "maxLength": MAX_URL_LENGTH}
    url_type: Any = Annotated[
        str, WithJsonSchema({**url_schema, "pattern": url_pattern(allow_private)})
    ]
    return create_model(
        "WebhookEndpointIn",
        __base__=Body,
        url=(url_type, Field(min_length=1, max_length=MAX_URL_LENGTH)),
        # Omitted or null: every event type.
        events=(list[EventType] | None, Field(default=None, min_length=1, max_length=20)),
    )


def _customer_field(product: Product, sandbox: bool, *, verifying: bool) -> Any:
    if product.customer is CustomerKind.PHONE:
        if product.category.value == "airtime" and not verifying:
            return None  # airtime credits the phone itself
        pattern = phone_pattern(sandbox)
        if verifying:
            return (str, _text(1, 32, pattern))
        # Data and Spectranet credit a phone number, which may differ from the buyer's.
        return (str | None, Field(None, min_length=1, max_length=32, pattern=pattern))
    digits = CUSTOMER_PATTERNS[product.customer][0].pattern
    pattern = f"^{digits}$"
    if verifying and product.customer is CustomerKind.ACCOUNT:
        pattern = f"^(?:{digits}|{EMAIL_PATTERN.strip('^$')})$"  # Smile: account or email
    if sandbox:
        # Every VTPass test value is a customer number in sandbox mode.
        pattern = f"^(?:{'|'.join(sorted(SANDBOX_VALUES))})$|{pattern}"
    return (str, _text(1, 128, pattern))


def _quantity_field(product: Product) -> Any:
    if product.max_quantity == 1:
        return (Literal[1] | None, None)
    return (int | None, Field(default=None, ge=1, le=product.max_quantity, strict=True))


def _purchase_member(product: Product, sandbox: bool, variant: str | None) -> type[Body]:
    fields: dict[str, Any] = {
        "service_id": (Literal[product.service_id], ...),
        "phone": (str, _text(1, 32, phone_pattern(sandbox))),
        "amount": (Money, ...) if product.client_amount else (Money | None, None),
        "quantity": _quantity_field(product),
    }
    customer = _customer_field(product, sandbox, verifying=False)
    if customer is not None:
        fields["customer_id"] = customer
    if product.meter_types:
        fields["type"] = (Literal[product.meter_types], ...)  # type: ignore[valid-type]
    elif product.customer is CustomerKind.PROFILE:
        fields["type"] = (str | None, Field(None, min_length=1, max_length=32, pattern=CODE))
    code = (str, _text(1, 128, CODE))
    if variant == "renew":
        fields["subscription_type"] = (Literal["renew"], ...)
    elif variant == "change":
        fields["subscription_type"] = (Literal["change"] | None, None)
        fields["variation_code"] = code
    elif product.needs_variation:
        fields["variation_code"] = code
    name = "Purchase_" + product.service_id.replace("-", "_") + (f"_{variant}" if variant else "")
    return create_model(name, __base__=Body, **fields)


def _purchase_tag(value: Any) -> str | None:
    if not isinstance(value, dict) or not isinstance(value.get("service_id"), str):
        return None
    product = PRODUCTS.get(value["service_id"])
    if product is not None and product.subscription_types:
        renew = value.get("subscription_type") == "renew"
        return f"{product.service_id}:{'renew' if renew else 'change'}"
    return value["service_id"]


@functools.cache
def purchase_body(sandbox: bool) -> type[RootModel[Any]]:
    """Return the body of `POST /purchases`: one shape per product (sandbox numbers or not)."""
    members: list[Any] = []
    for product in PRODUCTS.values():
        variants = ("change", "renew") if product.subscription_types else (None,)
        for variant in variants:
            tag = f"{product.service_id}:{variant}" if variant else product.service_id
            members.append(Annotated[_purchase_member(product, sandbox, variant), Tag(tag)])
    union: Any = Annotated[Union[tuple(members)], Discriminator(_purchase_tag)]  # noqa: UP007
    return create_model("PurchaseIn", __base__=RootModel[union])


def _verification_member(product: Product, sandbox: bool) -> type[Body]:
    fields: dict[str, Any] = {
        "service_id": (Literal[product.service_id], ...),
        "customer_id": _customer_field(product, sandbox, verifying=True),
    }
    if product.meter_types:
        fields["type"] = (Literal[product.meter_types], ...)  # type: ignore[valid-type]
    elif product.customer is CustomerKind.PROFILE:
        fields["type"] = (str | None, Field(None, min_length=1, max_length=32, pattern=CODE))
    name = "Verification_" + product.service_id.replace("-", "_")
    return create_model(name, __base__=Body, **fields)


def _verification_tag(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("service_id"), str):
        return value["service_id"]
    return None


@functools.cache
def verification_body(sandbox: bool) -> type[RootModel[Any]]:
    """Return the body of `POST /verifications`: one shape per verifiable service."""
    members = [
        Annotated[_verification_member(product, sandbox), Tag(product.service_id)]
        for product in PRODUCTS.values()
        if verifiable(product.service_id)
    ]
    union: Any = Annotated[Union[tuple(members)], Discriminator(_verification_tag)]  # noqa: UP007
    return create_model("VerificationIn", __base__=RootModel[union])
