"""Request bodies, checked by pydantic (the same models feed the OpenAPI document)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator  # noqa: F401

Money = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

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


class Credentials(Body):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class PasswordChangeIn(Body):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=10, max_length=256)


class PurchaseIn(Body):
    service_id: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=1, max_length=32)
    amount: Money | None = None
    customer_id: str | None = Field(default=None, min_length=1, max_length=128)
    variation_code: str | None = Field(default=None, min_length=1, max_length=128)
    type: str | None = Field(default=None, min_length=1, max_length=32)
    subscription_type: Literal["change", "renew"] | None = None
    quantity: int | None = Field(default=None, ge=1, le=100, strict=True)


class CreditIn(Body):
    amount: Money
    reference: str = Field(min_length=1, max_length=255)


class VerificationIn(Body):
    service_id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=128)
    type: str | None = Field(default=None, min_length=1, max_length=32)


class ResolveIn(Body):
    status: Literal["delivered", "failed"]
    note: str = Field(min_length=1, max_length=1000)


class WebhookEndpointIn(Body):
    url: str = Field(min_length=1, max_length=2048)
    # Omitted or null: every event type. Names are checked against the known event types.
    events: list[str] | None = Field(default=None, min_length=1, max_length=20)


class SandboxFundIn(Body):
    amount: Annotated[
        Decimal, Field(gt=0, le=100_000, max_digits=14, decimal_places=2, allow_inf_nan=False)
    ]
