"""Amazon SP-API notifications (marketplace), forwarded to ``/hooks/{source}`` by an EventBridge API destination.

SP-API delivers notifications to SQS or EventBridge, never to HTTPS, and does not sign them
(https://developer-docs.amazon.com/sp-api/docs/notifications-api-v1-use-case-guide). The retailer routes
them with an EventBridge rule to an API destination whose *connection* sets a static API-key header
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-api-destinations.html); that header is the
only proof of origin, compared in constant time against the source's secrets.

The body is the notification itself or EventBridge's envelope (``{"version": "0", "id", "detail-type",
"source", "time", "detail": {notification}}``). Both casings Amazon uses are read: ``NotificationType`` /
``Payload`` / ``NotificationMetadata.NotificationId`` (SQS-era types) and ``notificationType`` /
``payload`` / ``notificationMetadata.notificationId`` (newer types).

Trust review. Signed: nothing; the API-key header proves only that the sender holds the key, and no time is
signed (``EventTime`` is the event's, and EventBridge retries for up to 24 hours), so there is no staleness
check. Dedup key, read from the body: ``NotificationType:NotificationId``, else ``NotificationType:`` +
EventBridge's event ``id``, else the body hash. Amazon and EventBridge retry a notification with the same
``NotificationId``, so a repeat is one delivery; the type is part of the key because a ``NotificationId``
names a notification only within its type (Amazon's published examples reuse ``d0e9e693-…`` across
``ORDER_CHANGE``, ``FULFILLMENT_ORDER_STATUS``, ``ITEM_INVENTORY_EVENT_CHANGE`` and ``TRANSACTION_UPDATE``).
The same key is the event's ``source_event_id``. No header takes part.

Mapping (``NotificationType`` → canonical type); ``<status>`` mappings are case-insensitive:

- ``ORDER_CHANGE`` (``OrderStatusChange``) by ``Summary.OrderStatus``: ``Pending`` → ``order.placed``,
  ``Unshipped`` → ``order.accepted``, ``Shipped`` → ``shipment.shipped`` (lines = ``QuantityShipped``),
  ``Canceled`` → ``order.cancelled``, anything else → ``order.updated``; a ``BuyerRequestedChange``
  (e.g. "Buyer Requested Cancel") changes no status → ``order.updated``. Lines from ``OrderItems``.
- ``ORDER_STATUS_CHANGE`` / ``MFN_ORDER_STATUS_CHANGE`` (one order item each) by ``OrderStatus`` as above
  (MFN's ``SHIPPING`` counts as ``Unshipped``); one line (``SellerSKU``, ``Quantity``).
- ``FBA_OUTBOUND_SHIPMENT_STATUS``: ``Created`` → ``fulfillment.allocated``, ``Cancelled`` →
  ``shipment.exception`` (failed).
- ``FULFILLMENT_ORDER_STATUS`` (Multi-Channel Fulfillment): ``EventType`` ``Shipment`` by
  ``FulfillmentShipmentStatus`` (``SHIPPED`` → ``shipment.shipped``, ``PENDING`` → ``fulfillment.allocated``,
  ``CANCELLED_BY_*`` → ``shipment.exception``); ``Return`` → ``return.received`` (line = returned qty);
  otherwise by ``FulfillmentOrderStatus``: ``NEW``/``RECEIVED`` → ``order.accepted``,
  ``PLANNING``/``PROCESSING`` → ``fulfillment.allocated``, ``COMPLETE`` → ``shipment.shipped``,
  ``CANCELLED`` → ``order.cancelled``, ``UNFULFILLABLE``/``INVALID`` → ``shipment.exception`` (failed).
  A status the map does not know is an ``order.updated`` whose ``error`` names it (status stays ``ok``).
  A ``FulfillmentReturnItem`` (SKU and a returned quantity) on any other ``EventType`` is read too: a second
  event ``return.received`` (id ``<NotificationId>:return``) at its ``ReceivedDateTime``.
- ``SHIPMENT_TRACKING_MILESTONE_CHANGED`` (lower-camel keys) by ``trackingDetail.latestMilestone.status.code``
  at the milestone's ``occurredAt``: ``ORDER_PREPARING`` → ``fulfillment.allocated``, ``CARRIER_ASSIGNED`` →
  ``fulfillment.packed``, ``SHIPPED``/``PICKED_UP`` → ``shipment.shipped``, ``IN_TRANSIT``/``OUT_FOR_DELIVERY``
  → ``shipment.in_transit``, ``DELIVERED`` → ``shipment.delivered``, ``DELIVERY_ATTEMPTED``/``UNDELIVERABLE``/
  ``DELAYED``/``LOST``/``DAMAGED``/``RETURNING``/``RETURNED``/``EXCEPTION`` → ``shipment.exception`` (failed,
  the code and description as error); other codes → ``order.updated`` naming the code. Refs from
  ``trackingDetail.identifier``: ``aftn``/``trackingNumber`` → ``:tracking``, ``orderId``/``amazonOrderId`` →
  ``:order``, ``shipmentId`` → ``:shipment``.
- ``TRANSACTION_UPDATE`` → money events (``payment.captured``/``refund.issued``, order id as identity ref,
  per-kind breakdown events): see ``collectors.amazon_finances``, which also parses the settlements the
  ``amazon-finances`` poll style reads (``X-Crosstrace-Polled: amazon-finances``).
- ``FBA_INVENTORY_AVAILABILITY_CHANGES`` → ``inventory.snapshot``, per marketplace: ``available`` =
  Fulfillable, ``reserved`` = sum of ReservedQuantityBreakdown, ``damaged`` = Unfulfillable, ``in_transit`` =
  inbound Shipped + Receiving (Working units have not left the seller), ``on_hand`` = Fulfillable +
  Unfulfillable + reserved + Researching (everything physically in Amazon's network).
- ``LISTINGS_ITEM_MFN_QUANTITY_CHANGE`` → ``inventory.snapshot`` (``available`` = Quantity at the
  FulfillmentChannelCode); ``ITEM_INVENTORY_EVENT_CHANGE`` (vendor) → ``inventory.snapshot`` (sku = ASIN,
  ``available`` = highlyAvailableInventory per marketplace).
- ``FEED_PROCESSING_FINISHED``: ``DONE`` → ``sync.succeeded``, ``CANCELLED``/``FATAL`` → ``sync.failed``.
- any other type → ``unknown`` (the order ref is still taken when the payload names one).

Refs: ``<source>:order`` (AmazonOrderId), ``:fulfillment_order`` (SellerFulfillmentOrderId), ``:shipment``
(AmazonShipmentId), ``:tracking``, ``:feed``, ``:settlement`` (identity); ``:sku``, ``:asin``, ``:fnsku`` (related).
``source.refs`` paths are read on the notification (inside ``detail`` when wrapped), e.g.
``"Payload.FulfillmentOrderStatusNotification.SellerFulfillmentOrderId" = "shop:order_name"``.
Event time: ``OrderChangeTrigger.TimeOfOrderChange`` / ``StatusUpdatedDateTime`` / ``ReceivedDateTime``
where the payload has one, else ``EventTime``.

``source.options``:

- ``secret_header`` (str, default ``"x-crosstrace-secret"``): the header the API destination's connection
  sets (API key authorization); its value must equal one of the source's secrets.
- ``locations`` (table, MarketplaceId / FulfillmentChannelCode / SupplySourceId → location name): how
  Amazon's places are named in stock positions (match the ERP's names); default: Amazon's id as is.

```toml
[[sources]]
name = "amazon"
kind = "marketplace"
adapter = "amazon-sp"
secret = "env:AMAZON_EVENTBRIDGE_SECRET"
[sources.options]
secret_header = "x-crosstrace-secret"
locations = { ATVPDKIKX0DER = "FBA-US", A2EUQ1WTGCTBG2 = "FBA-CA", DEFAULT = "WH-1" }
```
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from collectors import amazon_finances
from collectors.amazon_fields import get as _get
from collectors.amazon_fields import need as _need
from collectors.base import (
    ParseError,
    body_digest,
    compact,
    decimal_field,
    header,
    load_json,
    load_object,
    mapped_refs,
    parse_time,
    ref,
    verify_with_any_secret,
)
from hub.config import Source
from hub.errors import ConfigError
from hub.model import RELATED, UNKNOWN_TYPE, Delivery, Event, Line, Ref

DEFAULT_SECRET_HEADER = "x-crosstrace-secret"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 §5.6.2 field-name token

_ORDER_STATUS = {"pending": "order.placed", "unshipped": "order.accepted", "shipping": "order.accepted",
                 "shipped": "shipment.shipped", "canceled": "order.cancelled", "cancelled": "order.cancelled"}
_MCF_ORDER_STATUS = {"new": "order.accepted", "received": "order.accepted", "planning": "fulfillment.allocated",
                     "processing": "fulfillment.allocated", "complete": "shipment.shipped",
                     "cancelled": "order.cancelled", "unfulfillable": "shipment.exception",
                     "invalid": "shipment.exception"}
# SHIPMENT_TRACKING_MILESTONE_CHANGED ``latestMilestone.status.code`` (Amazon's example walks ORDER_PREPARING →
# CARRIER_ASSIGNED → SHIPPED → OUT_FOR_DELIVERY → DELIVERED); failed deliveries are exceptions.
_MILESTONES = {"order_preparing": "fulfillment.allocated", "carrier_assigned": "fulfillment.packed",
               "shipped": "shipment.shipped", "picked_up": "shipment.shipped", "in_transit": "shipment.in_transit",
               "out_for_delivery": "shipment.in_transit", "delivered": "shipment.delivered",
               "delivery_attempted": "shipment.exception", "undeliverable": "shipment.exception",
               "delayed": "shipment.exception", "lost": "shipment.exception", "damaged": "shipment.exception",
               "returning": "shipment.exception", "returned": "shipment.exception",
               "exception": "shipment.exception"}
# ``trackingDetail.identifier`` keys → ref objects (the example names the shipment by its ``aftn``, the Amazon
# Fulfillment Tracking Number the carrier scans).
_IDENTIFIER_REFS = {"aftn": "tracking", "trackingnumber": "tracking", "trackingid": "tracking",
                    "amazonorderid": "order", "orderid": "order", "shipmentid": "shipment",
                    "amazonshipmentid": "shipment", "sellerfulfillmentorderid": "fulfillment_order"}
_MCF_SHIPMENT_STATUS = {"shipped": "shipment.shipped", "pending": "fulfillment.allocated",
                        "cancelled_by_fulfiller": "shipment.exception", "cancelled_by_seller": "shipment.exception"}


def sign(secret: str, header_name: str = DEFAULT_SECRET_HEADER) -> dict[str, str]:
    """The header the EventBridge connection adds to every request (API key authorization)."""
    return {header_name.lower(): secret}


def verify(headers: Mapping[str, str], body: bytes, source: Source, now: float, tolerance: int = 300) -> None:
    """Accept when the shared-secret header equals any configured secret (constant-time).

    Nothing is signed, so ``now``/``tolerance`` cannot apply: replays are absorbed by dedup.
    """
    name = _secret_header(source)
    verify_with_any_secret(header(headers, name), name, source, lambda secret: secret)


def dedup_key(headers: Mapping[str, str], body: bytes, source: Source | None = None) -> str | None:
    """``NotificationType:NotificationId`` (the id is stable across Amazon's and EventBridge's retries, and
    unique only within a type), else the type and EventBridge's event id; None without either id."""
    try:
        document = load_json(body)
    except ParseError:
        return None
    if not isinstance(document, dict):
        return None
    notification = _unwrap(document)
    kind = _get(notification, "NotificationType")
    for value in (_get(_get(notification, "NotificationMetadata"), "NotificationId"),
                  document.get("id") if notification is not document else None):
        if isinstance(value, str) and value:
            return f"{kind}:{value}" if isinstance(kind, str) and kind else value
    return None


def check_options(source: Source) -> None:
    """Raise :class:`ConfigError` naming the source and key when ``source.options`` is unusable."""
    where = f"source {source.name!r}: options"
    name = source.options.get("secret_header", DEFAULT_SECRET_HEADER)
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise ConfigError(f"{where}.secret_header = {name!r}: must be an HTTP header name such as "
                          f"\"{DEFAULT_SECRET_HEADER}\"")
    locations = source.options.get("locations", {})
    if not isinstance(locations, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in locations.items()):
        raise ConfigError(f"{where}.locations must map Amazon ids to location names, e.g. "
                          "{ ATVPDKIKX0DER = \"FBA-US\" }")


def parse(delivery: Delivery, source: Source) -> list[Event]:
    """One canonical event for one SP-API notification (bare or in an EventBridge envelope)."""
    document = load_object(delivery.body, "an SP-API notification or EventBridge event")
    if header(delivery.headers, "x-crosstrace-polled") == amazon_finances.POLLED:
        return amazon_finances.settlement(document, source, header(delivery.headers, "traceparent"))
    notification = _unwrap(document)
    kind = _get(notification, "NotificationType")
    if not isinstance(kind, str) or not kind:
        raise ParseError("missing field 'NotificationType' (or 'notificationType')")
    event_time = _get(notification, "EventTime")
    event = Event(source=source.name, source_event_id=dedup_key(delivery.headers, delivery.body)
                  or body_digest(delivery.body), type=UNKNOWN_TYPE,
                  occurred_at=parse_time(event_time, "EventTime") if event_time else None,
                  traceparent=header(delivery.headers, "traceparent"))
    payload = _get(notification, "Payload")
    if not isinstance(payload, dict):
        raise ParseError(f"{kind}: missing field 'Payload' (or 'payload')")
    handler = _HANDLERS.get(kind)
    more: list[Event] = []
    if handler is not None:
        more = handler(event, payload, source) or []
    else:
        inner = next((v for v in payload.values() if isinstance(v, dict)), payload)
        event.refs = compact([ref(source, "order", _get(inner, "AmazonOrderId"))])
    extra = mapped_refs(notification, source.refs)
    for each in (event, *more):
        each.refs = compact([*each.refs, *extra])
    return [event, *more]


# --- orders ----------------------------------------------------------------------------------------------


def _order_change(event: Event, payload: dict[str, Any], source: Source) -> None:
    body = _need(payload, "OrderChangeNotification", "Payload")
    summary = _need(body, "Summary", "Payload.OrderChangeNotification")
    status = str(_need(summary, "OrderStatus", "Payload.OrderChangeNotification.Summary"))
    change_type = body.get("OrderChangeType")
    event.type = "order.updated" if change_type == "BuyerRequestedChange" else _order_type(status)
    trigger = body.get("OrderChangeTrigger")
    if isinstance(trigger, dict) and trigger.get("TimeOfOrderChange"):
        event.occurred_at = parse_time(trigger["TimeOfOrderChange"], "OrderChangeTrigger.TimeOfOrderChange")
    items = summary.get("OrderItems") or []
    if not isinstance(items, list):
        raise ParseError("field 'Payload.OrderChangeNotification.Summary.OrderItems' must be an array")
    shipped = event.type == "shipment.shipped"
    for index, item in enumerate(items):
        where = f"Payload.OrderChangeNotification.Summary.OrderItems.{index}"
        if not isinstance(item, dict):
            raise ParseError(f"field {where!r} must be an object")
        qty_field = "QuantityShipped" if shipped and item.get("QuantityShipped") is not None else "Quantity"
        event.lines.append(Line(sku=str(_need(item, "SellerSKU", where)),
                                qty=_qty(_need(item, qty_field, where), f"{where}.{qty_field}"),
                                location=_location(source, item.get("SupplySourceId"))))
    order_id = _need(body, "AmazonOrderId", "Payload.OrderChangeNotification")
    event.refs = compact([ref(source, "order", order_id), *_sku_refs(source, event.lines)])


def _order_status_change(event: Event, payload: dict[str, Any], source: Source) -> None:
    key = "MFNOrderStatusChangeNotification" if "MFNOrderStatusChangeNotification" in payload \
        else "OrderStatusChangeNotification"
    body = _need(payload, key, "Payload")
    where = f"Payload.{key}"
    event.type = _order_type(str(_need(body, "OrderStatus", where)))
    event.lines = [Line(sku=str(_need(body, "SellerSKU", where)), qty=_qty(_need(body, "Quantity", where),
                                                                          f"{where}.Quantity"),
                        location=_location(source, body.get("SupplySourceId")))]
    event.refs = compact([ref(source, "order", _need(body, "AmazonOrderId", where)),
                          *_sku_refs(source, event.lines)])


def _order_type(status: str) -> str:
    return _ORDER_STATUS.get(status.lower(), "order.updated")


def _fba_outbound(event: Event, payload: dict[str, Any], source: Source) -> None:
    where = "Payload.FBAOutboundShipmentStatusNotification"
    body = _need(payload, "FBAOutboundShipmentStatusNotification", "Payload")
    status = str(_need(body, "ShipmentStatus", where))
    if status.lower() == "created":
        event.type = "fulfillment.allocated"
    elif status.lower() in ("cancelled", "canceled"):
        _fail(event, f"FBA shipment {status}")
    else:
        event.type = "order.updated"
    event.refs = compact([ref(source, "order", _need(body, "AmazonOrderId", where)),
                          ref(source, "shipment", _need(body, "AmazonShipmentId", where))])


def _fulfillment_order(event: Event, payload: dict[str, Any], source: Source) -> list[Event]:
    where = "Payload.FulfillmentOrderStatusNotification"
    body = _need(payload, "FulfillmentOrderStatusNotification", "Payload")
    refs: list[Ref | None] = [ref(source, "fulfillment_order", _need(body, "SellerFulfillmentOrderId", where))]
    if body.get("StatusUpdatedDateTime"):
        event.occurred_at = parse_time(body["StatusUpdatedDateTime"], f"{where}.StatusUpdatedDateTime")
    shipment = body.get("FulfillmentShipment") if isinstance(body.get("FulfillmentShipment"), dict) else {}
    refs.append(ref(source, "shipment", shipment.get("AmazonShipmentId")))
    packages = shipment.get("FulfillmentShipmentPackages")
    for package in packages if isinstance(packages, list) else []:
        if isinstance(package, dict):
            refs.append(ref(source, "tracking", package.get("TrackingNumber")))
    event_type = str(body.get("EventType") or "").lower()
    returned = _returned(body, where, required=event_type == "return")
    if event_type == "return" and returned is not None:
        status, event.type = "returned", "return.received"
        event.lines, event.occurred_at = [returned[0]], returned[1] or event.occurred_at
        returned = None
    elif event_type == "shipment":
        status = str(_need(shipment, "FulfillmentShipmentStatus", f"{where}.FulfillmentShipment"))
        _by_status(event, _MCF_SHIPMENT_STATUS, status, "FulfillmentShipmentStatus")
    else:
        status = str(_need(body, "FulfillmentOrderStatus", where))
        _by_status(event, _MCF_ORDER_STATUS, status, "FulfillmentOrderStatus")
    if event.type == "shipment.exception":
        _fail(event, f"fulfillment {status}")
    event.refs = compact([*refs, *_sku_refs(source, event.lines)])
    if returned is None:
        return []
    # Amazon's own example carries a FulfillmentReturnItem on an EventType that is not "Return" (TYPE3945):
    # the returned units are read whatever the event type says, as an event of their own.
    line, received = returned
    return [Event(source=event.source, source_event_id=f"{event.source_event_id}:return", type="return.received",
                  occurred_at=received or event.occurred_at, lines=[line], traceparent=event.traceparent,
                  refs=compact([*refs, *_sku_refs(source, [line])]))]


def _returned(body: dict[str, Any], where: str, required: bool) -> tuple[Line, datetime | None] | None:
    """The returned item (line in state ``returned``, received time); None when there is none to read."""
    item_where = f"{where}.FulfillmentReturnItem"
    returned = _need(body, "FulfillmentReturnItem", where) if required else body.get("FulfillmentReturnItem")
    if not isinstance(returned, dict) or (not required and (not returned.get("SellerSKU")
                                                            or not returned.get("ReturnedQuantity"))):
        return None
    qty = _qty(_need(returned, "ReturnedQuantity", item_where), f"{item_where}.ReturnedQuantity")
    line = Line(sku=str(_need(returned, "SellerSKU", item_where)), qty=qty, state="returned")
    received = returned.get("ReceivedDateTime")
    return line, parse_time(received, f"{item_where}.ReceivedDateTime") if received else None


def _by_status(event: Event, table: Mapping[str, str], status: str, field: str) -> None:
    """The type the status maps to; a status the map does not know is an ``order.updated`` that names it."""
    event.type = table.get(status.lower(), "order.updated")
    if status.lower() not in table:
        event.error = f"unmapped {field} {status!r}"


# --- shipment tracking milestones ------------------------------------------------------------------------


def _milestone(event: Event, payload: dict[str, Any], source: Source) -> None:
    where = "payload.shipmentTrackingMilestoneChangedNotification.trackingDetail"
    body = _need(payload, "shipmentTrackingMilestoneChangedNotification", "payload")
    detail = _need(body, "trackingDetail", "payload.shipmentTrackingMilestoneChangedNotification")
    latest = _need(detail, "latestMilestone", where)
    status = _need(latest, "status", f"{where}.latestMilestone")
    code = str(_need(status, "code", f"{where}.latestMilestone.status"))
    # the milestone's own time, not the notification's (Amazon may publish a scan hours after it happened)
    event.occurred_at = parse_time(_need(latest, "occurredAt", f"{where}.latestMilestone"),
                                   f"{where}.latestMilestone.occurredAt")
    _by_status(event, _MILESTONES, code, "milestone code")
    if event.type == "shipment.exception":
        _fail(event, " ".join(str(part) for part in (code, status.get("subCode"), status.get("description"))
                              if part))
    identifier = _need(detail, "identifier", where)
    if not isinstance(identifier, dict):
        raise ParseError(f"field '{where}.identifier' must be an object")
    event.refs = compact([ref(source, _IDENTIFIER_REFS[name.lower()], value)
                          for name, value in identifier.items() if name.lower() in _IDENTIFIER_REFS])


def _fail(event: Event, error: str) -> None:
    event.type, event.status, event.error = "shipment.exception", "failed", error


# --- inventory -------------------------------------------------------------------------------------------


def _fba_inventory(event: Event, payload: dict[str, Any], source: Source) -> None:
    event.type = "inventory.snapshot"
    sku = str(_need(payload, "SKU", "Payload"))
    markets = _need(payload, "FulfillmentInventoryByMarketplace", "Payload")
    if not isinstance(markets, list):
        raise ParseError("field 'Payload.FulfillmentInventoryByMarketplace' must be an array")
    for index, market in enumerate(markets):
        where = f"Payload.FulfillmentInventoryByMarketplace.{index}"
        location = _location(source, _need(market, "MarketplaceId", where))
        inventory = _need(market, "FulfillmentInventory", where)
        inv_where = f"{where}.FulfillmentInventory"
        fulfillable = _qty(_need(inventory, "Fulfillable", inv_where), f"{inv_where}.Fulfillable")
        unfulfillable = _qty(inventory.get("Unfulfillable", 0), f"{inv_where}.Unfulfillable")
        researching = _qty(inventory.get("Researching", 0), f"{inv_where}.Researching")
        reserved = _sum(inventory.get("ReservedQuantityBreakdown"), f"{inv_where}.ReservedQuantityBreakdown", None)
        inbound = _sum(inventory.get("InboundQuantityBreakdown"), f"{inv_where}.InboundQuantityBreakdown",
                       ("Shipped", "Receiving"))
        quantities = {"on_hand": fulfillable + unfulfillable + reserved + researching, "reserved": reserved,
                      "available": fulfillable, "in_transit": inbound, "damaged": unfulfillable}
        event.lines += [Line(sku=sku, qty=qty, location=location, state=state) for state, qty in quantities.items()]
    event.refs = compact([ref(source, "sku", sku, RELATED), ref(source, "asin", payload.get("ASIN"), RELATED),
                          ref(source, "fnsku", payload.get("FNSKU"), RELATED)])


def _mfn_quantity(event: Event, payload: dict[str, Any], source: Source) -> None:
    event.type = "inventory.snapshot"
    sku = str(_need(payload, "Sku", "Payload"))
    event.lines = [Line(sku=sku, qty=_qty(_need(payload, "Quantity", "Payload"), "Payload.Quantity"),
                        location=_location(source, payload.get("FulfillmentChannelCode")), state="available")]
    event.refs = compact([ref(source, "sku", sku, RELATED)])


def _item_inventory(event: Event, payload: dict[str, Any], source: Source) -> None:
    event.type = "inventory.snapshot"
    changes = _need(payload, "itemInventoryEventChanges", "payload")
    if not isinstance(changes, list):
        raise ParseError("field 'payload.itemInventoryEventChanges' must be an array")
    for index, change in enumerate(changes):
        where = f"payload.itemInventoryEventChanges.{index}"
        asin = str(_need(change, "asin", where))
        event.lines.append(Line(sku=asin, location=_location(source, _need(change, "marketplaceId", where)),
                                qty=_qty(_need(change, "highlyAvailableInventory", where),
                                         f"{where}.highlyAvailableInventory"), state="available"))
        event.refs.append(Ref(f"{source.name}:asin", asin, RELATED))


def _feed(event: Event, payload: dict[str, Any], source: Source) -> None:
    where = "payload.feedProcessingFinishedNotification"
    body = _need(payload, "feedProcessingFinishedNotification", "payload")
    status = str(_need(body, "processingStatus", where))
    if status.upper() == "DONE":
        event.type = "sync.succeeded"
    else:
        event.type, event.status = "sync.failed", "failed"
        event.error = f"feed {body.get('feedType') or ''} {status}".replace("  ", " ")
    event.refs = compact([ref(source, "feed", _need(body, "feedId", where))])


_HANDLERS: dict[str, Callable[[Event, dict[str, Any], Source], list[Event] | None]] = {
    "ORDER_CHANGE": _order_change,
    "ORDER_STATUS_CHANGE": _order_status_change,
    "MFN_ORDER_STATUS_CHANGE": _order_status_change,
    "FBA_OUTBOUND_SHIPMENT_STATUS": _fba_outbound,
    "FULFILLMENT_ORDER_STATUS": _fulfillment_order,
    "SHIPMENT_TRACKING_MILESTONE_CHANGED": _milestone,
    "TRANSACTION_UPDATE": amazon_finances.transaction_update,
    "FBA_INVENTORY_AVAILABILITY_CHANGES": _fba_inventory,
    "LISTINGS_ITEM_MFN_QUANTITY_CHANGE": _mfn_quantity,
    "ITEM_INVENTORY_EVENT_CHANGE": _item_inventory,
    "FEED_PROCESSING_FINISHED": _feed,
}


# --- helpers ---------------------------------------------------------------------------------------------


def _unwrap(document: dict[str, Any]) -> dict[str, Any]:
    """The notification: EventBridge's ``detail`` when the body is an EventBridge event, else the body."""
    detail = document.get("detail")
    if isinstance(detail, dict) and "detail-type" in document:
        return detail
    return document


def _secret_header(source: Source) -> str:
    name = source.options.get("secret_header", DEFAULT_SECRET_HEADER)
    return name.lower() if isinstance(name, str) and name else DEFAULT_SECRET_HEADER


def _location(source: Source, amazon_id: Any) -> str | None:
    if amazon_id is None:
        return None
    locations = source.options.get("locations", {})
    named = locations.get(str(amazon_id)) if isinstance(locations, Mapping) else None
    return named if isinstance(named, str) and named else str(amazon_id)


def _sku_refs(source: Source, lines: list[Line]) -> list[Ref | None]:
    return [ref(source, "sku", line.sku, RELATED) for line in lines]


def _qty(value: Any, where: str) -> Decimal:
    return decimal_field(value, where, "quantity")


def _sum(breakdown: Any, where: str, keys: tuple[str, ...] | None) -> Decimal:
    if breakdown is None:
        return Decimal(0)
    if not isinstance(breakdown, dict):
        raise ParseError(f"field {where!r} must be an object")
    names = keys if keys is not None else tuple(breakdown)
    return sum((_qty(breakdown.get(name, 0), f"{where}.{name}") for name in names), Decimal(0))
