"""Adapters for connected systems (pure verify + parse) and the runtime that feeds the hub's inbox."""

from types import ModuleType

from collectors import amazon_sp, cloudevents, easypost, ingest, json_mapping, shopify, square, stripe
from collectors.base import ParseError, SignatureError
from hub.config import Config
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


def parser_for(config: Config, adapters: dict[str, ModuleType] = ADAPTERS):  # type: ignore[no-untyped-def]
    """The function the normalizer calls on each stored delivery: the source's adapter's ``parse``."""

    def parse(delivery: Delivery) -> list[Event]:
        if delivery.source == ingest.INGEST_SOURCE:
            return ingest.parse(delivery, config)
        source = config.sources.get(delivery.source)
        if source is None:
            raise ParseError(f"source {delivery.source!r} is no longer configured")
        return adapters[source.adapter].parse(delivery, source)

    return parse


__all__ = ["ADAPTERS", "ParseError", "SignatureError", "parser_for"]
