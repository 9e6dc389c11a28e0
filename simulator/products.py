"""Product behaviours: read a pay request into an order, and mint what a purchase delivers."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from simulator.catalog import SERVICES, Service, Variation

CENT = Decimal("0.01")
TARIFF_PER_KWH = Decimal("62.58")
METER_CUSTOMER = "TESTMETER1"
METER_ADDRESS = "ABULE - EGBA BU ABULE"
# DISCOs whose prepaid answer carries lower-case token / mainToken fields; the rest send Token.
MAIN_TOKEN_DISCOS = frozenset({"ikeja-electric", "eko-electric", "abuja-electric"})
# Plan products bought for a phone number rather than a billersCode.
PHONE_KEYED = frozenset({"showmax", "waec", "waec-registration"})


@dataclass(frozen=True)
class Order:
    service: Service
    customer: str
    phone: str
    variation: Variation | None
    unit_price: Decimal
    quantity: int

    @property
    def amount(self) -> Decimal:
        """Return the gross amount: unit price times quantity."""
        return self.unit_price * self.quantity

    @property
    def commission(self) -> Decimal:
        """Return the merchant's commission on this order."""
        return (self.amount * self.service.commission_pct / 100).quantize(CENT, ROUND_HALF_UP)


def text(value: object) -> str:
    """Return a request field as stripped text ('' for missing, booleans and containers)."""
    if value is None or isinstance(value, bool | dict | list):
        return ""
    return str(value).strip()


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _order_quantity(service: Service, value: object) -> int | str:
    if service.max_quantity == 1:
        return 1
    if value is None or value == "":
        return 1
    number = _decimal(value)
    if number is None or number != number.to_integral_value():
        return "011"
    if number < 1:
        return "031"
    if number > service.max_quantity:
        return "032"
    return int(number)


def customer_of(service: Service, phone: str, billers_code: str) -> str:
    """Return the value that decides the outcome: phone or billersCode, per product."""
    if service.kind == "airtime" or service.service_id in PHONE_KEYED:
        return phone
    if service.kind == "data":
        return billers_code or phone
    return billers_code


def parse_order(body: dict) -> Order | str:
    """Validate a pay request body; return an Order or a VTPass error code."""
    service_id = text(body.get("serviceID"))
    if not service_id:
        return "011"
    service = SERVICES.get(service_id)
    if service is None:
        return "012"
    phone = text(body.get("phone"))
    customer = customer_of(service, phone, text(body.get("billersCode")))
    if not phone or not customer:
        return "011"
    quantity = _order_quantity(service, body.get("quantity"))
    if isinstance(quantity, str):
        return quantity
    renew = (
        service.service_id in ("dstv", "gotv")
        and text(body.get("subscription_type")).lower() == "renew"
    )
    variation = service.variation(text(body.get("variation_code")) or None)
    if service.fixed_price and not renew:
        if variation is None:
            return "010"
        return Order(service, customer, phone, variation, Decimal(str(variation.amount)), quantity)
    if service.kind == "electricity" and variation is None:
        return "010"
    amount = _decimal(body.get("amount"))
    if amount is None or amount < service.min_amount:
        return "013"
    if amount > service.max_amount:
        return "017"
    return Order(service, customer, phone, None if renew else variation, amount, quantity)


def _digits(count: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(count))


def transaction_id() -> str:
    """Mint a 26-digit VTPass-style transactionId."""
    return f"{secrets.randbelow(9) + 1}{_digits(25)}"


def _electricity(order: Order) -> dict:
    common = {
        "customerName": METER_CUSTOMER,
        "customerAddress": METER_ADDRESS,
        "utilityName": order.service.name,
        "exchangeReference": _digits(12),
    }
    if order.variation is None or order.variation.code != "prepaid":
        return {"purchased_code": "", **common}
    token = _digits(20)
    units = (order.amount / TARIFF_PER_KWH).quantize(Decimal("0.1"), ROUND_HALF_UP)
    extras: dict[str, object] = {
        "purchased_code": f"Token : {token}",
        **common,
        "units": f"{units} kWh",
    }
    if order.service.service_id in MAIN_TOKEN_DISCOS:
        extras.update(
            token=token,
            mainToken=token,
            mainTokenDescription="Normal Sale",
            mainTokenUnits=float(units),
            bonusToken=None,
        )
    else:
        extras["Token"] = token
    return extras


def _cards(order: Order, serial_prefix: str) -> dict:
    cards = [
        {"Serial": f"{serial_prefix}{_digits(9)}", "Pin": _digits(12)}
        for _ in range(order.quantity)
    ]
    codes = "<br>".join(f"Serial No:{c['Serial']}, pin: {c['Pin']}" for c in cards)
    return {"purchased_code": codes, "cards": cards}


def deliverables(order: Order) -> dict:
    """Mint the product-specific fields a delivered purchase answers with."""
    service_id = order.service.service_id
    if order.service.kind == "electricity":
        return _electricity(order)
    if service_id == "waec":
        return _cards(order, "WRN")
    if service_id == "spectranet":
        return _cards(order, "SPC")
    if service_id == "waec-registration":
        tokens = [_digits(12) for _ in range(order.quantity)]
        return {"purchased_code": ", ".join(f"Token : {t}" for t in tokens), "tokens": tokens}
    if service_id == "jamb":
        pin = _digits(16)
        return {"purchased_code": f"Pin : {pin}", "Pin": pin}
    if service_id == "showmax":
        voucher = "SHM" + "".join(
            secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12)
        )
        return {"purchased_code": f"Voucher : {voucher}", "Voucher": voucher}
    return {"purchased_code": ""}
