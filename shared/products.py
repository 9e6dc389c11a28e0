"""The products PayLink sells: which VTPass service each is, and what a purchase of it needs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    AIRTIME = "airtime"
    DATA = "data"
    ELECTRICITY = "electricity"
    TV = "tv"
    INTERNET = "internet"
    EDUCATION = "education"


CATEGORY_NAMES = {
    Category.AIRTIME: "Airtime",
    Category.DATA: "Data bundles",
    Category.ELECTRICITY: "Electricity",
    Category.TV: "Cable TV",
    Category.INTERNET: "Internet",
    Category.EDUCATION: "Education",
}

# VTPass's own category identifier for each of ours (internet sits under VTPass's `data`).
VTPASS_CATEGORY = {
    Category.AIRTIME: "airtime",
    Category.DATA: "data",
    Category.ELECTRICITY: "electricity-bill",
    Category.TV: "tv-subscription",
    Category.INTERNET: "data",
    Category.EDUCATION: "education",
}


class CustomerKind(StrEnum):
    PHONE = "phone"  # the phone itself is what VTPass credits (billersCode = phone)
    METER = "meter"
    SMARTCARD = "smartcard"
    PROFILE = "profile"  # JAMB profile id
    ACCOUNT = "account"  # Smile account id


@dataclass(frozen=True)
class Product:
    """What PayLink needs to know to sell one VTPass service."""

    service_id: str
    category: Category
    customer: CustomerKind = CustomerKind.PHONE
    # Whether the client names the amount (airtime, electricity) or a plan's price sets it.
    client_amount: bool = False
    needs_variation: bool = True
    max_quantity: int = 1
    # DSTV/GOtv: `change` buys a bouquet, `renew` pays the verified renewal amount.
    subscription_types: tuple[str, ...] = ()
    # Electricity: `type` is prepaid or postpaid, sent to VTPass as the variation code.
    meter_types: tuple[str, ...] = ()

    @property
    def vtpass_category(self) -> str:
        return VTPASS_CATEGORY[self.category]


def _airtime(sid: str) -> Product:
    return Product(sid, Category.AIRTIME, client_amount=True, needs_variation=False)


def _disco(sid: str) -> Product:
    return Product(
        sid,
        Category.ELECTRICITY,
        customer=CustomerKind.METER,
        client_amount=True,
        needs_variation=False,
        meter_types=("prepaid", "postpaid"),
    )


DISCOS = (
    "ikeja-electric",
    "eko-electric",
    "kano-electric",
    "portharcourt-electric",
    "jos-electric",
    "ibadan-electric",
    "kaduna-electric",
    "abuja-electric",
    "enugu-electric",
    "benin-electric",
    "aba-electric",
    "yola-electric",
)

PRODUCTS: dict[str, Product] = {
    p.service_id: p
    for p in (
        *(_airtime(s) for s in ("mtn", "glo", "airtel", "etisalat")),
        *(
            Product(s, Category.DATA)
            for s in ("mtn-data", "glo-data", "glo-sme-data", "airtel-data", "etisalat-data")
        ),
        *(_disco(s) for s in DISCOS),
        Product(
            "dstv",
            Category.TV,
            customer=CustomerKind.SMARTCARD,
            max_quantity=12,
            subscription_types=("change", "renew"),
        ),
        Product(
            "gotv",
            Category.TV,
            customer=CustomerKind.SMARTCARD,
            max_quantity=12,
            subscription_types=("change", "renew"),
        ),
        Product("startimes", Category.TV, customer=CustomerKind.SMARTCARD),
        Product("showmax", Category.TV),
        Product("smile-direct", Category.INTERNET, customer=CustomerKind.ACCOUNT),
        Product("spectranet", Category.INTERNET, max_quantity=5),
        Product("waec", Category.EDUCATION, max_quantity=10),
        Product("waec-registration", Category.EDUCATION, max_quantity=10),
        Product("jamb", Category.EDUCATION, customer=CustomerKind.PROFILE),
    )
}
