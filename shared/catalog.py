"""The product catalog: VTPass's services and plans mapped to PayLink's six categories, cached."""

from __future__ import annotations

import logging
from dataclasses import asdict
from decimal import Decimal
from typing import Any

import redis

from shared.cache import CacheState, ResponseCache
from shared.errors import UpstreamUnavailable
from shared.products import CATEGORY_NAMES, PRODUCTS, VTPASS_CATEGORY, Category
from shared.vtpass import VTPassClient, VTPassError

log = logging.getLogger(__name__)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))


def _worst(states: list[CacheState]) -> CacheState:
    for state in (CacheState.STALE, CacheState.MISS):
        if state in states:
            return state
    return CacheState.HIT


class Catalog:
    """Read the catalog through the response cache; VTPass is asked at most once per TTL."""

    def __init__(self, cache: ResponseCache, vtpass: VTPassClient, *, ttl: int) -> None:
        self.cache = cache
        self.vtpass = vtpass
        self.ttl = ttl

    def categories(self) -> tuple[list[dict[str, str]], CacheState]:
        """Return PayLink's six categories."""
        data = [{"id": c.value, "name": CATEGORY_NAMES[c]} for c in Category]
        return data, CacheState.HIT

    def services(self, category: Category | None = None) -> tuple[list[dict[str, Any]], CacheState]:
        """Return the services PayLink sells, optionally in one category."""
        wanted = [category] if category else list(Category)
        identifiers = sorted({VTPASS_CATEGORY[c] for c in wanted})
        found: list[dict[str, Any]] = []
        states = []
        for identifier in identifiers:
            services, state = self._vtpass_services(identifier)
            states.append(state)
            for service in services:
                product = PRODUCTS.get(service["service_id"])
                if product and product.category in wanted:
                    found.append({**service, "category": product.category.value})
        order = list(PRODUCTS)
        found.sort(key=lambda s: order.index(s["service_id"]))
        return found, _worst(states)

    def service(self, service_id: str) -> dict[str, Any] | None:
        """Return one service's catalog entry (min and max amounts), or None."""
        product = PRODUCTS.get(service_id)
        if product is None:
            return None
        services, _ = self._vtpass_services(product.vtpass_category)
        return next((s for s in services if s["service_id"] == service_id), None)

    def variations(self, service_id: str) -> tuple[list[dict[str, Any]], CacheState]:
        """Return a service's plans."""

        def fetch() -> list[dict[str, Any]]:
            return [
                {
                    "variation_code": v.variation_code,
                    "name": v.name,
                    "amount": _money(v.amount),
                    "fixed_price": v.fixed_price,
                }
                for v in self.vtpass.variations(service_id)
            ]

        return self._cached(f"variations:{service_id}", fetch)

    def forget_variations(self, service_ids: tuple[str, ...] = ()) -> None:
        """Drop cached plans of these services (of every service when none is named)."""
        for service_id in service_ids or tuple(PRODUCTS):
            try:
                self.cache.invalidate(f"variations:{service_id}")
            except redis.RedisError:
                # The copy then expires with its TTL; the notice is stored either way.
                log.warning("could not drop cached plans", extra={"service_id": service_id})

    def variation(self, service_id: str, code: str) -> dict[str, Any] | None:
        """Return one plan of a service, or None if it has no such plan."""
        plans, _ = self.variations(service_id)
        return next((v for v in plans if v["variation_code"] == code), None)

    def _vtpass_services(self, identifier: str) -> tuple[list[dict[str, Any]], CacheState]:
        def fetch() -> list[dict[str, Any]]:
            result = []
            for s in self.vtpass.services(identifier):
                row = asdict(s)
                result.append(
                    {
                        "service_id": row["service_id"],
                        "name": row["name"],
                        "min_amount": _money(row.get("min_amount")),
                        "max_amount": _money(row.get("max_amount")),
                        "convenience_fee": row.get("convenience_fee"),
                        "product_type": row.get("product_type"),
                    }
                )
            return result

        return self._cached(f"services:{identifier}", fetch)

    def _cached(self, key: str, fetch: Any) -> tuple[Any, CacheState]:
        try:
            return self.cache.get_or_fetch(key, fetch, ttl=self.ttl)
        except VTPassError as e:
            raise UpstreamUnavailable("The catalog is not available from VTPass right now.") from e
