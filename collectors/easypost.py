"""EasyPost (carrier): ``X-Hmac-Signature`` verification and tracker events → canonical shipment events.

A webhook body is one EasyPost Event (``{"id": "evt_…", "object": "Event", "description": "tracker.updated",
"result": {…Tracker…}}``, https://docs.easypost.com/docs/webhooks); EasyPost retries the same event id, so
``id`` is the dedup key. ``description`` names the event.

Trust review. Signed: the raw body only (``X-Hmac-Signature``), no time, so staleness cannot be checked. Dedup
key: the Event ``id`` (``evt_…``) from the signed body, so no header can change it; unique because EasyPost
creates one Event per change and resends it under the same id (else, with no id, the body's SHA-256). It is
also the event's ``source_event_id``.

Mapping (``tracker.created`` / ``tracker.updated``, by the tracker's ``status``):

- ``pre_transit`` → ``shipment.shipped``: the label exists and the carrier knows the parcel. This is the
  carrier's first word on the shipment; a parcel that then never reaches ``in_transit`` is the classic
  "label printed, never picked up" case, visible as shipped without a later carrier scan.
- ``in_transit`` / ``out_for_delivery`` / ``available_for_pickup`` → ``shipment.in_transit``
- ``delivered`` → ``shipment.delivered``
- ``return_to_sender`` / ``failure`` / ``cancelled`` / ``error`` → ``shipment.exception`` with status
  ``failed`` and ``error`` = ``"<status>: <status_detail or latest message>"``
- ``unknown`` (the carrier has no data yet) and any other status → ``unknown`` (refs still taken)
- any other event (``batch.*``, ``shipment.invoice.*``, ``refund.successful``, …) → ``unknown`` with the
  tracking/shipment refs found in ``result``

Refs (identity): ``<source>:tracking`` (``tracking_code``), ``<source>:shipment`` (``shipment_id``),
``<source>:tracker`` (tracker ``id``). A storefront that names this source as its carrier (Shopify's
``carrier_source = "easypost"``) cites the same ``easypost:tracking`` refs, which stitches the parcel to
the order. Event time: the latest ``tracking_details[].datetime`` (the carrier's scan), else the
tracker's ``updated_at``, else the event's ``updated_at``/``created_at``. No lines, no amount.

``source.options``:

- ``status_types`` (table, EasyPost tracker status → event type): overrides the mapping above, e.g.
  ``{ pre_transit = "fulfillment.packed" }`` when the WMS already reports the shipment.

```toml
[[sources]]
name = "easypost"
kind = "carrier"
adapter = "easypost"
secret = "env:EASYPOST_WEBHOOK_SECRET"
options = { status_types = { pre_transit = "fulfillment.packed" } }
```
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from collectors.base import (
    ParseError,
    body_digest,
    body_field_key,
    compact,
    header,
    load_object,
    mapped_refs,
    parse_time,
    ref,
    require,
    verify_with_any_secret,
)
from hub.config import Source
from hub.errors import ConfigError
from hub.model import EVENT_TYPES, UNKNOWN_TYPE, Delivery, Event, Ref

SIGNATURE_HEADER = "x-hmac-signature"
_PREFIX = "hmac-sha256-hex="

# Tracker statuses: https://docs.easypost.com/docs/trackers#tracking-statuses
STATUSES = ("unknown", "pre_transit", "in_transit", "out_for_delivery", "available_for_pickup", "delivered",
            "return_to_sender", "failure", "cancelled", "error")
STATUS_TYPES: dict[str, str] = {
    "pre_transit": "shipment.shipped",
    "in_transit": "shipment.in_transit",
    "out_for_delivery": "shipment.in_transit",
    "available_for_pickup": "shipment.in_transit",
    "delivered": "shipment.delivered",
    "return_to_sender": "shipment.exception",
    "failure": "shipment.exception",
    "cancelled": "shipment.exception",
    "error": "shipment.exception",
}
_FAILED_TYPES = frozenset({"shipment.exception", "sync.failed", "payment.failed"})
_TRACKER_EVENTS = frozenset({"tracker.created", "tracker.updated"})


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hmac-Signature`` header value EasyPost sends for ``body``."""
    # https://docs.easypost.com/guides/webhooks-guide#hmac-validation and the client libraries'
    # ``validate_webhook``: "hmac-sha256-hex=" + hex HMAC-SHA256 of the raw body, keyed by the webhook
    # secret normalised to Unicode NFKD and encoded as UTF-8. No timestamp is signed.
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    return _PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, source: Source, now: float, tolerance: int = 300) -> None:
    """Accept when ``X-Hmac-Signature`` matches any configured secret.

    EasyPost signs no timestamp, so ``now``/``tolerance`` cannot apply: replays are absorbed by dedup.
    """
    verify_with_any_secret(header(headers, SIGNATURE_HEADER), "X-Hmac-Signature", source,
                           lambda secret: sign(secret, body))


def dedup_key(headers: Mapping[str, str], body: bytes, source: Source | None = None) -> str | None:
    """The EasyPost event ``id`` (the same on every retry), or None when the body has none."""
    return body_field_key(body, "id")


def check_options(source: Source) -> None:
    """Raise :class:`ConfigError` naming the source and key when ``source.options`` is unusable."""
    overrides = source.options.get("status_types", {})
    where = f"source {source.name!r}: options.status_types"
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"{where} must be a table of EasyPost status → event type, e.g. "
                          "{ pre_transit = \"fulfillment.packed\" }")
    for status, event_type in overrides.items():
        if status not in STATUSES:
            raise ConfigError(f"{where}.{status}: not an EasyPost tracker status; expected one of "
                              f"{', '.join(STATUSES)}")
        if event_type != UNKNOWN_TYPE and event_type not in EVENT_TYPES:
            raise ConfigError(f"{where}.{status} = {event_type!r}: not an event type; expected one of "
                              f"{', '.join(sorted(EVENT_TYPES))} or \"unknown\"")


def parse(delivery: Delivery, source: Source) -> list[Event]:
    """One canonical event for one EasyPost Event."""
    payload = load_object(delivery.body, "an EasyPost Event")
    description = require(payload, "description")
    event_id = dedup_key(delivery.headers, delivery.body) or body_digest(delivery.body)
    result = payload.get("result")
    event = Event(source=source.name, source_event_id=event_id, type=UNKNOWN_TYPE, occurred_at=None,
                  traceparent=header(delivery.headers, "traceparent"))
    if description in _TRACKER_EVENTS:
        _tracker(event, payload, source)
    else:
        event.occurred_at = _event_time(payload)
        if isinstance(result, dict):
            event.refs = _refs(source, result.get("tracking_code"), result.get("shipment_id"),
                               result.get("id") if result.get("object") == "Shipment" else None, "shipment")
    event.refs = compact([*event.refs, *mapped_refs(payload, source.refs)])
    return [event]


def _tracker(event: Event, payload: dict[str, Any], source: Source) -> None:
    tracker = require(payload, "result")
    if not isinstance(tracker, dict):
        raise ParseError("field 'result' must be a Tracker object")
    tracking_code = require(payload, "result.tracking_code")
    status = str(require(payload, "result.status"))
    event.refs = _refs(source, tracking_code, tracker.get("shipment_id"), tracker.get("id"), "tracker")
    details = _details(tracker.get("tracking_details"))
    event.occurred_at = _latest_time(details) or _event_time(tracker) or _event_time(payload)
    overrides = source.options.get("status_types", {})
    event.type = (overrides.get(status) if isinstance(overrides, Mapping) else None) or STATUS_TYPES.get(
        status, UNKNOWN_TYPE)
    if event.type in _FAILED_TYPES:
        event.status = "failed"
        latest = details[-1][1] if details else {}
        reason = tracker.get("status_detail") or latest.get("message") or latest.get("description")
        event.error = f"{status}: {reason}" if reason and reason != status else status


def _refs(source: Source, tracking: Any, shipment: Any, own_id: Any, own_object: str) -> list[Ref]:
    return compact([ref(source, "tracking", tracking), ref(source, "shipment", shipment),
                    ref(source, own_object, own_id)])


def _details(raw: Any) -> list[tuple[datetime, dict[str, Any]]]:
    """The tracking details that carry a time, oldest first."""
    if not isinstance(raw, list):
        return []
    dated = []
    for index, detail in enumerate(raw):
        if isinstance(detail, dict) and detail.get("datetime"):
            dated.append((parse_time(detail["datetime"], f"result.tracking_details.{index}.datetime"), detail))
    dated.sort(key=lambda item: item[0])
    return dated


def _latest_time(details: list[tuple[datetime, dict[str, Any]]]) -> datetime | None:
    return details[-1][0] if details else None


def _event_time(obj: dict[str, Any]) -> datetime | None:
    for name in ("updated_at", "created_at"):
        if obj.get(name):
            return parse_time(obj[name], name)
    return None
