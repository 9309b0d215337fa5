"""Business attributes (channel, store, sales rep, order value band…): payload fields a source's config names.

``[[sources]] attributes = { "source_name" = "channel" }`` maps a dotted payload path to an attribute name. Every
adapter's events get them the same way, after its ``parse``: the path is read on the delivery's JSON body (on
item *i* of a JSON array body that yields one event per item, as a CloudEvents batch does). A value that is not
a scalar is ignored; a scalar becomes text (at most :data:`MAX_VALUE` characters, storable).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from collectors.base import ParseError, dig, load_json
from hub.config import Source
from hub.ingest.values import safe_text
from hub.model import Event

MAX_VALUE = 200


def attribute_value(value: Any) -> str | None:
    """A payload scalar as attribute text, or None when absent, empty or not a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float | Decimal):
        text = safe_text(str(value).strip(), MAX_VALUE)
        return text or None
    return None


def extract(payload: Any, mapping: Mapping[str, str]) -> dict[str, str]:
    """``{name: value}`` for each configured path that holds a scalar in ``payload``."""
    found = {}
    for path, name in mapping.items():
        value = attribute_value(dig(payload, path))
        if value is not None:
            found[name] = value
    return found


def attach(events: list[Event], body: bytes, sources: Mapping[str, Source]) -> list[Event]:
    """Give each event the attributes its source's config names, read on ``body`` (unchanged when none are)."""
    wanted = [event for event in events if event.source in sources and sources[event.source].attributes]
    if not wanted:
        return events
    try:
        document = load_json(body)
    except ParseError:
        return events  # a body the adapter could read but JSON cannot (a form post): no attributes to read
    per_item = isinstance(document, list) and len(document) == len(events)
    for index, event in enumerate(events):
        source = sources.get(event.source)
        if source is None or not source.attributes:
            continue
        payload = document[index] if per_item else document
        event.attributes = {**extract(payload, source.attributes), **event.attributes}
    return events
