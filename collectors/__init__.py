"""Adapters for connected systems (pure verify + parse) and the runtime that feeds the hub's inbox."""

from types import ModuleType

from collectors import cloudevents, ingest
from collectors.base import ParseError, SignatureError
from hub.config import Config
from hub.model import Delivery, Event

ADAPTERS: dict[str, ModuleType] = {
    "cloudevents": cloudevents,
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
