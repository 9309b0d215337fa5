"""Shopify inventory item and location ids → the SKU and the location name the other systems use.

An ``inventory_levels/update`` webhook (https://shopify.dev/docs/api/admin-rest/latest/resources/inventorylevel)
names an inventory item id and a numeric location id; the ERP, the WMS and Amazon name a SKU and a location.
The ``shopify`` adapter resolves both, in this order:

1. ``source.options``: ``inventory_items = { "808950810" = "IPOD2008PINK" }`` and
   ``locations = { "905684977" = "WH-1" }`` (checked at start by :func:`check_options`);
2. when the source has an Admin API token (``options.poll.token`` of a ``shopify-*`` poll), a cached lookup:
   ``GET /admin/api/<version>/inventory_items.json?ids=…`` (an InventoryItem's ``sku``,
   https://shopify.dev/docs/api/admin-rest/latest/resources/inventoryitem) and
   ``GET /admin/api/<version>/locations.json`` (a Location's ``name``,
   https://shopify.dev/docs/api/admin-rest/latest/resources/location). :meth:`ShopifyLookups.prepare` runs
   before the normalizer parses a batch, asking only for ids neither the options nor the cache know, once per
   batch; an answer is kept for the process's life (a SKU rarely changes; ``crosstrace replay`` re-derives), a
   failed or empty answer is not asked again for ``retry_seconds``, so a Shopify outage costs one short
   timeout a minute, never a stalled normalizer.

What stays unresolved keeps Shopify's id as its SKU or location, and says so: the event carries a related ref
``<source>:unresolved_inventory_item`` / ``<source>:unresolved_location``, which ``sources { unresolved }``
(``hub.ingest.polling.source_health``) lists.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from hub.config import Config, Source
from hub.errors import ConfigError
from hub.model import Delivery

log = logging.getLogger(__name__)

__all__ = ["Resolver", "ShopifyLookups", "check_options"]

_MAX_IDS = 100  # inventory_items.json takes at most 100 ids a request
_STYLES = ("shopify-orders", "shopify-payouts")


def check_options(source: Source) -> None:
    """``inventory_items`` and ``locations`` must map Shopify ids to non-empty names."""
    for key, example in (("inventory_items", '{ "808950810" = "SKU-1" }'), ("locations", '{ "905684977" = "WH-1" }')):
        value = source.options.get(key, {})
        if not isinstance(value, Mapping) or not all(isinstance(v, str) and v.strip() for v in value.values()):
            raise ConfigError(f"source {source.name!r}: options.{key} must map Shopify ids to names, e.g. "
                              f"{key} = {example}")


@dataclass
class Resolver:
    """One source's resolution: the options' mappings, then what its Admin API lookups learned."""

    items: dict[str, str] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_options(cls, source: Source) -> Resolver:
        items, locations = source.options.get("inventory_items"), source.options.get("locations")
        return cls({str(k): str(v).strip() for k, v in (items or {}).items()} if isinstance(items, Mapping) else {},
                   {str(k): str(v).strip() for k, v in (locations or {}).items()} if isinstance(locations, Mapping)
                   else {})

    def sku(self, item_id: str) -> str | None:
        return self.items.get(item_id)

    def location(self, location_id: str) -> str | None:
        return self.locations.get(location_id)


@dataclass
class _Lookup:
    """An Admin API endpoint for one source: the shop URL, version and token of its poll table."""

    base: str
    token: str
    resolver: Resolver
    retry_at: dict[str, float] = field(default_factory=dict)  # "item:<id>" / "locations" → not before


class ShopifyLookups:
    """The resolvers of every ``shopify`` source, and the cached Admin API lookups of those with a token."""

    def __init__(self, config: Config, client: httpx.AsyncClient | None, *, timeout: float = 5.0,
                 retry_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._resolvers = {s.name: Resolver.from_options(s) for s in config.sources.values() if s.adapter == "shopify"}
        self._lookups: dict[str, _Lookup] = {}
        self._client, self._timeout, self._retry, self._clock = client, timeout, retry_seconds, clock
        from collectors.polling import poll_settings  # not at the top: the poll styles import the adapter

        for source in config.sources.values():
            poll = source.options.get("poll")
            if client is None or source.adapter != "shopify" or not isinstance(poll, Mapping) \
                    or poll.get("style") not in _STYLES or not poll.get("token"):
                continue
            settings = poll_settings(source)  # validated, its env: token resolved
            if settings is None or not settings.token:
                continue
            version = settings.options.get("api_version", "2025-01")
            self._lookups[source.name] = _Lookup(f"{settings.url}/admin/api/{version}", settings.token,
                                                 self._resolvers[source.name])

    def resolver(self, source: str) -> Resolver | None:
        return self._resolvers.get(source)

    async def prepare(self, deliveries: Iterable[Delivery]) -> None:
        """Look up, once for the batch, the inventory items and locations its levels name that nothing resolves."""
        wanted: dict[str, tuple[set[str], set[str]]] = {}
        for delivery in deliveries:
            lookup = self._lookups.get(delivery.source)
            if lookup is None or delivery.headers.get("x-shopify-topic") != "inventory_levels/update":
                continue
            level = _level(delivery.body)
            if level is None:
                continue
            items, locations = wanted.setdefault(delivery.source, (set(), set()))
            item, location = level
            if lookup.resolver.sku(item) is None:
                items.add(item)
            if lookup.resolver.location(location) is None:
                locations.add(location)
        for name, (items, locations) in wanted.items():
            await self._fetch(self._lookups[name], items, locations)

    async def _fetch(self, lookup: _Lookup, items: set[str], locations: set[str]) -> None:
        now = self._clock()
        due = sorted(i for i in items if lookup.retry_at.get(f"item:{i}", 0) <= now)
        for start in range(0, len(due), _MAX_IDS):
            chunk = due[start:start + _MAX_IDS]
            found = await self._get(lookup, "inventory_items.json", {"ids": ",".join(chunk), "limit": "250"},
                                    "inventory_items")
            for item in found or []:
                sku = item.get("sku") if isinstance(item, dict) else None
                if isinstance(sku, str) and sku.strip() and item.get("id") is not None:
                    lookup.resolver.items[str(item["id"])] = sku.strip()
            for item_id in chunk:  # an item without a SKU (or a failed request): not asked again for a while
                if item_id not in lookup.resolver.items:
                    lookup.retry_at[f"item:{item_id}"] = now + self._retry
        if locations and lookup.retry_at.get("locations", 0) <= now:
            for location in await self._get(lookup, "locations.json", {"limit": "250"}, "locations") or []:
                name = location.get("name") if isinstance(location, dict) else None
                if isinstance(name, str) and name.strip() and location.get("id") is not None:
                    lookup.resolver.locations[str(location["id"])] = name.strip()
            if locations - lookup.resolver.locations.keys():
                lookup.retry_at["locations"] = now + self._retry

    async def _get(self, lookup: _Lookup, path: str, params: dict[str, str], name: str) -> list[Any] | None:
        assert self._client is not None
        try:
            response = await self._client.get(f"{lookup.base}/{path}", params=params, timeout=self._timeout,
                                              headers={"x-shopify-access-token": lookup.token})
            listed = response.json().get(name) if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            log.warning("Shopify lookup %s failed: %s", path, exc)
            return None
        if not isinstance(listed, list):
            log.warning("Shopify lookup %s answered HTTP %s without %r", path, response.status_code, name)
            return None
        return listed


def _level(body: bytes) -> tuple[str, str] | None:
    """The (inventory item id, location id) of an inventory level body, or None when it has no such ids."""
    try:
        level = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(level, dict):
        return None
    item, location = level.get("inventory_item_id"), level.get("location_id")
    if not isinstance(item, int | str) or not isinstance(location, int | str) or isinstance(item, bool) \
            or isinstance(location, bool):
        return None
    return str(item), str(location)
