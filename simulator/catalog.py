"""Static VTPass sandbox catalog: categories, services and their plans.

Variation amounts are stored exactly as they are rendered (``"100.00"``, ``"100"``
or ``100``) because VTPass mixes strings and numbers between services.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

IMAGE_BASE = "https://sandbox.vtpass.com/resources/products/200X200/"

CATEGORIES = (
    ("airtime", "Airtime Recharge"),
    ("data", "Data Services"),
    ("tv-subscription", "TV Subscription"),
    ("electricity-bill", "Electricity Bill"),
    ("education", "Education"),
    ("insurance", "Insurance"),
)
# PayLink kind -> (VTPass category, content.transactions.type)
KINDS = {
    "airtime": ("airtime", "Airtime Recharge"),
    "data": ("data", "Data Services"),
    "internet": ("data", "Data Services"),
    "electricity": ("electricity-bill", "Electricity Bill"),
    "tv": ("tv-subscription", "TV Subscription"),
    "education": ("education", "Education"),
}
AMOUNT_LIMITS = {"airtime": (50, 50000), "electricity": (500, 500000)}
DEFAULT_LIMITS = (1, 1000000)
MAX_QUANTITY = {
    "spectranet": 5,
    "dstv": 12,
    "gotv": 12,
    "startimes": 12,
    "waec": 10,
    "waec-registration": 10,
}

# serviceID, name, kind, commission %
_SERVICE_ROWS = (
    ("mtn", "MTN Airtime VTU", "airtime", "3.5"),
    ("glo", "GLO Airtime VTU", "airtime", "4.0"),
    ("airtel", "Airtel Airtime VTU", "airtime", "3.4"),
    ("etisalat", "9mobile Airtime VTU", "airtime", "4.0"),
    ("mtn-data", "MTN Data", "data", "4.0"),
    ("glo-data", "Glo Data", "data", "4.0"),
    ("glo-sme-data", "Glo Data (SME)", "data", "3.0"),
    ("airtel-data", "Airtel Data", "data", "4.0"),
    ("etisalat-data", "9mobile Data", "data", "4.0"),
    ("smile-direct", "Smile Payment", "internet", "5.0"),
    ("spectranet", "Spectranet Internet Data", "internet", "5.0"),
    ("ikeja-electric", "Ikeja Electric Payment - IKEDC", "electricity", "1.5"),
    ("eko-electric", "Eko Electric Payment - EKEDC", "electricity", "1.0"),
    ("kano-electric", "Kano Electric - KEDCO", "electricity", "1.0"),
    ("portharcourt-electric", "Port Harcourt Electric - PHED", "electricity", "1.0"),
    ("jos-electric", "Jos Electric - JED", "electricity", "1.0"),
    ("ibadan-electric", "Ibadan Electricity Distribution Company - IBEDC", "electricity", "1.0"),
    ("kaduna-electric", "Kaduna Electric - KAEDCO", "electricity", "1.0"),
    ("abuja-electric", "Abuja Electricity Distribution Company - AEDC", "electricity", "1.0"),
    ("enugu-electric", "Enugu Electric - EEDC", "electricity", "1.0"),
    ("benin-electric", "Benin Electric - BEDC", "electricity", "1.0"),
    ("aba-electric", "Aba Electric Payment - ABEDC", "electricity", "1.0"),
    ("yola-electric", "Yola Electric Disco Payment - YEDC", "electricity", "1.0"),
    ("dstv", "DSTV Subscription", "tv", "1.5"),
    ("gotv", "Gotv Payment", "tv", "1.5"),
    ("startimes", "Startimes Subscription", "tv", "1.5"),
    ("showmax", "ShowMax", "tv", "1.5"),
    ("waec", "WAEC Result Checker PIN", "education", "2.0"),
    ("waec-registration", "WAEC Registration PIN", "education", "1.0"),
    ("jamb", "Jamb PIN VENDING (UTME & Direct Entry)", "education", "1.0"),
)

ELECTRICITY_PLANS = (("prepaid", "Prepaid", "0"), ("postpaid", "Postpaid", "0"))
# serviceID -> (variation_code, name, variation_amount as rendered)
PLANS: dict[str, tuple[tuple[str, str, str | int], ...]] = {
    "mtn-data": (
        ("mtn-10mb-100", "N100 100MB - 24 hrs", "100.00"),
        ("mtn-50mb-200", "N200 200MB - 2 days", "200.00"),
        ("mtn-100mb-1000", "N1000 1.5GB - 30 days", "1000.00"),
        ("mtn-500mb-2000", "N2000 4.5GB - 30 days", "2000.00"),
    ),
    "glo-data": (
        ("glo100", "Glo Data N100 -  105MB - 2 day", 100),
        ("glo200", "Glo Data N200 -  350MB - 4 days", 200),
        ("glo1000", "Glo Data N1000 -  2.5GB - 30 days", 1000),
    ),
    "glo-sme-data": (
        ("glo-dg-50", "Glo Data (SME) N50 - 200MB - 14 days", "50"),
        ("glo-dg-125", "Glo Data (SME) N125 - 500MB - 30 days", "125"),
        ("glo-dg-250", "Glo Data (SME) N250 - 1GB - 30 days", "250"),
    ),
    "airtel-data": (
        ("airt-100", "Airtel Data - 100 Naira - 75MB - 1Day", "99.00"),
        ("airt-200", "Airtel Data - 200 Naira - 200MB - 3Days", "199.03"),
        ("airt-1000", "Airtel Data - 1,000 Naira - 1.5GB - 30 Days", "999.00"),
    ),
    "etisalat-data": (
        ("eti-100", "9mobile Data - 100 Naira - 100MB - 1 day", 100),
        ("eti-200", "9mobile Data - 200 Naira - 650MB - 1 day", 200),
        ("eti-1000", "9mobile Data - 1000 Naira - 1.5GB - 30 Days", 1000),
    ),
    "smile-direct": (
        ("516", "Internet Bundle - 1GB Flexi-Daily", "300.00"),
        ("624", "Internet Bundle - 2.5GB Flexi-Weekly", "1000.00"),
        ("627", "Internet Bundle - 6GB Flexi-Monthly", "3000.00"),
    ),
    "spectranet": (
        ("spectranet-1000", "Spectranet 1,000 Naira Pin", "1000.00"),
        ("spectranet-2000", "Spectranet 2,000 Naira Pin", "2000.00"),
        ("spectranet-5000", "Spectranet 5,000 Naira Pin", "5000.00"),
    ),
    "dstv": (
        ("dstv-padi", "DStv Padi N2,950", "2950.00"),
        ("dstv-yanga", "DStv Yanga N4,200", "4200.00"),
        ("dstv-confam", "Dstv Confam N7,400", "7400.00"),
        ("dstv79", "DStv  Compact N12,500", "12500.00"),
        ("dstv3", "DStv Premium N29,500", "29500.00"),
    ),
    "gotv": (
        ("gotv-smallie", "GOtv Smallie - monthly N1,300", 1300),
        ("gotv-jinja", "GOtv Jinja N2,700", 2700),
        ("gotv-jolli", "GOtv Jolli N3,950", 3950),
        ("gotv-max", "GOtv Max N5,700", 5700),
    ),
    "startimes": (
        ("nova", "Nova - 1,200 Naira - 1 Month", "1200"),
        ("basic", "Basic - 2,100 Naira - 1 Month", "2100"),
        ("smart", "Smart - 2,800 Naira - 1 Month", "2800"),
        ("classic", "Classic - 3,100 Naira - 1 Month", "3100"),
    ),
    "showmax": (
        ("mobile_only", "Showmax Mobile - N1,200", "1200.00"),
        ("full", "Showmax Full - N2,900", "2900.00"),
        ("sports_mobile_only", "Showmax Pro Mobile - N3,200", "3200.00"),
        ("sports_full", "Showmax Pro - N6,300", "6300.00"),
    ),
    "waec": (("waecdirect", "WASSCE", "900"),),
    "waec-registration": (
        ("waec-registraion", "WASSCE for Private Candidates - Second Series", "14450.00"),
    ),
    "jamb": (
        ("utme-mock", "UTME PIN (with mock)", "7700.00"),
        ("utme-no-mock", "UTME PIN (without mock)", "6200.00"),
        ("de", "Direct Entry (DE)", "6200.00"),
    ),
}


@dataclass(frozen=True)
class Variation:
    code: str
    name: str
    amount: str | int


@dataclass(frozen=True)
class Service:
    service_id: str
    name: str
    kind: str  # airtime | data | internet | electricity | tv | education
    commission_pct: Decimal
    variations: tuple[Variation, ...]
    min_amount: int
    max_amount: int
    max_quantity: int  # 1 means quantity is ignored

    @property
    def category(self) -> str:
        """Return the VTPass category identifier."""
        return KINDS[self.kind][0]

    @property
    def txn_type(self) -> str:
        """Return the content.transactions.type label."""
        return KINDS[self.kind][1]

    @property
    def legacy_format(self) -> bool:
        """Return True when pay answers in the older format (education products)."""
        return self.kind == "education"

    @property
    def fixed_price(self) -> bool:
        """Return True when plans carry the price (client amount ignored)."""
        return self.kind not in ("airtime", "electricity")

    def variation(self, code: str | None) -> Variation | None:
        """Return the plan with this variation code, if any."""
        return next((v for v in self.variations if v.code == code), None)


def _service(service_id: str, name: str, kind: str, pct: str) -> Service:
    plans = ELECTRICITY_PLANS if kind == "electricity" else PLANS.get(service_id, ())
    low, high = AMOUNT_LIMITS.get(kind, DEFAULT_LIMITS)
    return Service(
        service_id,
        name,
        kind,
        Decimal(pct),
        tuple(Variation(*plan) for plan in plans),
        low,
        high,
        MAX_QUANTITY.get(service_id, 1),
    )


_SERVICES = tuple(_service(*row) for row in _SERVICE_ROWS)
SERVICES: dict[str, Service] = {s.service_id: s for s in _SERVICES}


def category_body() -> dict:
    """Build the service-categories response."""
    return {
        "response_description": "000",
        "content": [{"identifier": ident, "name": name} for ident, name in CATEGORIES],
    }


def services_body(identifier: str) -> dict:
    """Build the services?identifier= response for one category."""
    return {
        "response_description": "000",
        "content": [
            {
                "serviceID": s.service_id,
                "name": s.name,
                "minimium_amount": str(s.min_amount),
                "maximum_amount": str(s.max_amount),
                "convinience_fee": "0 %",
                "product_type": "flat" if s.fixed_price else "variable",
                "image": f"{IMAGE_BASE}{s.service_id}.jpg",
            }
            for s in _SERVICES
            if s.category == identifier
        ],
    }


def variations_body(service: Service) -> dict:
    """Build the service-variations response, plans listed twice (the misspelt key too)."""
    fixed = "Yes" if service.fixed_price else "No"
    plans = [
        {
            "variation_code": v.code,
            "name": v.name,
            "variation_amount": v.amount,
            "fixedPrice": fixed,
        }
        for v in service.variations
    ]
    return {
        "response_description": "000",
        "content": {
            "ServiceName": service.name,
            "serviceID": service.service_id,
            "convinience_fee": "0 %",
            "variations": plans,
            "varations": [dict(p) for p in plans],
        },
    }
