"""CloudEvents 1.0 (structured and batch JSON) carrying crosstrace's canonical ``data`` (DESIGN §5).

Used by ``/ingest`` (API key) and by ``/hooks/{source}`` for sources with ``adapter = "cloudevents"``
(signed per Standard Webhooks, ``webhook-id`` the dedup key).

Trust review (``/hooks``). Signed: ``{webhook-id}.{webhook-timestamp}.{body}``, the timestamp within the
tolerance (the sender signs each attempt afresh). Dedup key: ``webhook-id``, covered by the signature, so a
resent body under a new id fails verification (401); unique because Standard Webhooks makes it the message's
id, the same on every retry of one message. Each event's ``source_event_id`` is its CloudEvent ``id`` from the
signed body (``source`` + ``id`` identify an event, CloudEvents 1.0 §3.1.1), so a batch resent in another
message is counted, not stored again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from collectors import standard_webhooks
from collectors.base import ParseError, compact, decimal_field, header, load_json, mapped_refs, parse_time
from hub.config import Source
from hub.model import IDENTITY, ROLES, Amount, Delivery, Event, Line, Ref

CONTENT_TYPES = ("application/cloudevents+json", "application/cloudevents-batch+json", "application/json")
_REQUIRED = ("specversion", "id", "source", "type")


def verify(headers: Mapping[str, str], body: bytes, source: Source, now: float, tolerance: int = 300) -> None:
    standard_webhooks.verify(headers, body, source.secrets, now, tolerance)


def dedup_key(headers: Mapping[str, str], body: bytes, source: Source | None = None) -> str | None:
    return header(headers, "webhook-id")


def parse(delivery: Delivery, source: Source) -> list[Event]:
    """Events from a CloudEvent or a batch; every event is attributed to ``source``."""
    items = envelopes(load_json(delivery.body))
    traceparent = header(delivery.headers, "traceparent")
    return [to_event(item, index, source.name, source.refs, traceparent) for index, item in enumerate(items)]


def envelopes(document: Any) -> list[dict[str, Any]]:
    """The CloudEvent objects of a structured (object) or batch (array) body, validated."""
    items = document if isinstance(document, list) else [document]
    if not items:
        raise ParseError("empty CloudEvents batch")
    for index, item in enumerate(items):
        validate(item, index)
    return items


def validate(item: Any, index: int) -> None:
    """Raise :class:`ParseError` naming the event index and the field when a CloudEvent is unusable."""
    if not isinstance(item, dict):
        raise ParseError(f"event[{index}]: a CloudEvent must be a JSON object")
    for name in _REQUIRED:
        if not isinstance(item.get(name), str) or not item[name]:
            raise ParseError(f"event[{index}]: missing or empty required attribute {name!r}")
    if item["specversion"] != "1.0":
        raise ParseError(f"event[{index}].specversion: expected \"1.0\", got {item['specversion']!r}")
    data = item.get("data", {})
    if data is None:
        return
    if not isinstance(data, dict):
        raise ParseError(f"event[{index}].data: must be a JSON object")
    refs = data.get("refs", [])
    if not isinstance(refs, list):
        raise ParseError(f"event[{index}].data.refs: must be an array")
    for position, entry in enumerate(refs):
        where = f"event[{index}].data.refs[{position}]"
        if not isinstance(entry, dict):
            raise ParseError(f"{where}: must be an object with namespace and value")
        for key in ("namespace", "value"):
            if not isinstance(entry.get(key), str):
                raise ParseError(f"{where}.{key}: must be a string")
        if entry.get("role", IDENTITY) not in ROLES:
            raise ParseError(f"{where}.role: must be one of {', '.join(ROLES)}")


def to_event(item: dict[str, Any], index: int, source_name: str, mapping: Mapping[str, str],
             traceparent: str | None) -> Event:
    """One validated CloudEvent as a canonical event."""
    data = item.get("data") or {}
    refs = [Ref(r["namespace"], r["value"], r.get("role", IDENTITY)) for r in data.get("refs", [])]
    refs += mapped_refs(item, mapping)
    occurred = parse_time(item["time"], f"event[{index}].time") if item.get("time") else None
    status = data.get("status", "ok")
    if status not in ("ok", "failed"):
        raise ParseError(f"event[{index}].data.status: must be \"ok\" or \"failed\"")
    return Event(
        source=source_name,
        source_event_id=item["id"],
        type=item["type"],
        occurred_at=occurred,
        refs=compact(refs),
        lines=_lines(data.get("lines", []), index),
        amount=_amount(data.get("amount"), index),
        amount_parts=_amount_parts(data.get("amount"), index),
        status=status,
        error=data.get("error") if isinstance(data.get("error"), str) else None,
        traceparent=item.get("traceparent") if isinstance(item.get("traceparent"), str) else traceparent,
    )


def _lines(raw: Any, index: int) -> list[Line]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ParseError(f"event[{index}].data.lines: must be an array")
    lines = []
    for position, entry in enumerate(raw):
        where = f"event[{index}].data.lines[{position}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("sku"), str):
            raise ParseError(f"{where}.sku: must be a string")
        lines.append(Line(sku=entry["sku"], qty=decimal_field(entry.get("qty", 0), f"{where}.qty"),
                          location=_optional_str(entry.get("location")), state=_optional_str(entry.get("state"))))
    return lines


def _amount(raw: Any, index: int) -> Amount | None:
    if raw is None:
        return None
    where = f"event[{index}].data.amount"
    if not isinstance(raw, dict) or not isinstance(raw.get("currency"), str):
        raise ParseError(f"{where}: must be an object with value and currency")
    return Amount(value=decimal_field(raw.get("value"), f"{where}.value"), currency=raw["currency"].upper(),
                  kind=str(raw.get("kind", "total")))


def _amount_parts(raw: Any, index: int) -> list[Amount]:
    """``data.amount.parts``: what the amount consists of (``[{"value", "kind"}]``, in the amount's currency)."""
    parts = raw.get("parts") if isinstance(raw, dict) else None
    if parts is None:
        return []
    where = f"event[{index}].data.amount.parts"
    if not isinstance(parts, list) or not all(isinstance(p, dict) and isinstance(p.get("kind"), str) for p in parts):
        raise ParseError(f"{where}: must be an array of objects with value and kind")
    return [Amount(decimal_field(p.get("value"), f"{where}[{n}].value"), raw["currency"].upper(), p["kind"])
            for n, p in enumerate(parts)]


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)
