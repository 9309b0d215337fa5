"""Adapters for connected systems (pure verify + parse) and the runtime that feeds the hub's inbox."""

from types import ModuleType

import httpx

from collectors import amazon_sp, attributes, cloudevents, easypost, ingest, json_mapping, shopify, square, stripe
from collectors.base import ParseError, SignatureError
from collectors.shopify_catalog import ShopifyLookups
from hub.config import Config
from hub.ingest.handoff import Handoff
from hub.model import Delivery, Event

# Adapter name (``[[sources]] adapter``) → module with ``verify``, ``dedup_key``, ``parse`` and, where the
# adapter reads ``options``, ``check_options`` (called at start so a bad option fails with its key named).
ADAPTERS: dict[str, ModuleType] = {
    "shopify": shopify,
    "stripe": stripe,
    "square": square,
    "easypost": easypost,
    "amazon-sp": amazon_sp,
    "cloudevents": cloudevents,
    "json": json_mapping,
}


def parser_for(config: Config, adapters: dict[str, ModuleType] = ADAPTERS,  # type: ignore[no-untyped-def]
               client: httpx.AsyncClient | None = None, handoff: Handoff | None = None):
    """The function the normalizer calls on each stored delivery: the source's adapter's ``parse``.

    With ``client``, Shopify sources that have an Admin API token resolve inventory items and locations through
    cached lookups (:class:`collectors.shopify_catalog.ShopifyLookups`): the function's ``prepare(deliveries)``,
    awaited by the normalizer before it parses a batch, fetches what the batch needs. With ``handoff``, an
    ``/ingest`` delivery's events are those its receiver parsed, when it handed them over (hub/ingest/handoff.py).
    """
    lookups = ShopifyLookups(config, client)

    def parse(delivery: Delivery) -> list[Event]:
        return attributes.attach(adapter_parse(delivery), delivery.body, config.sources)

    def adapter_parse(delivery: Delivery) -> list[Event]:
        if delivery.source == ingest.INGEST_SOURCE:
            return ingest.parse(delivery, config, handoff)
        source = config.sources.get(delivery.source)
        if source is None:
            raise ParseError(f"source {delivery.source!r} is no longer configured")
        resolver = lookups.resolver(source.name)
        if resolver is not None:
            return adapters[source.adapter].parse(delivery, source, resolver)
        return adapters[source.adapter].parse(delivery, source)

    parse.prepare = lookups.prepare  # type: ignore[attr-defined]
    return parse


__all__ = ["ADAPTERS", "ParseError", "SignatureError", "parser_for"]
