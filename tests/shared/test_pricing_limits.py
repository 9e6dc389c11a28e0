"""A plan without a fixed price takes the client's amount only within the service's limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.errors import ValidationFailed
from shared.purchases.pricing import PurchaseRequest, price_purchase


class Catalog:
    def service(self, service_id: str) -> dict:
        return {"service_id": service_id, "min_amount": "100.00", "max_amount": "5000.00"}

    def variation(self, service_id: str, code: str) -> dict | None:
        plans = {
            "flex": {"variation_code": "flex", "amount": "1000.00", "fixed_price": False},
            "fixed": {"variation_code": "fixed", "amount": "1000.00", "fixed_price": True},
        }
        return plans.get(code)


def price(code: str, amount: str | None):
    request = PurchaseRequest(
        service_id="spectranet",
        phone="08031234567",
        variation_code=code,
        amount=None if amount is None else Decimal(amount),
    )
    return price_purchase(request, catalog=Catalog(), verifier=None, sandbox=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["0.01", "99.99", "5000.01", "999999999"])
def test_a_variable_plan_amount_outside_the_service_limits_is_refused(amount):
    with pytest.raises(ValidationFailed) as refused:
        price("flex", amount)
    assert "amount" in refused.value.fields


def test_a_variable_plan_amount_within_the_limits_is_charged():
    assert price("flex", "100").amount == Decimal("100.00")
    assert price("flex", "5000").amount == Decimal("5000.00")
    assert price("flex", None).amount == Decimal("1000.00")


def test_a_fixed_plan_ignores_the_clients_amount():
    assert price("fixed", "0.01").amount == Decimal("1000.00")
