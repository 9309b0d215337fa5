"""Shopify (storefront): ``X-Shopify-Hmac-Sha256`` verification and webhook topics → canonical events.

A webhook body is the REST resource itself (an order, a fulfillment, …); ``X-Shopify-Topic`` names it
(https://shopify.dev/docs/apps/build/webhooks). The event's id is ``X-Shopify-Event-Id`` (the same on every
delivery of one event, https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates), else
``X-Shopify-Webhook-Id``.

Trust review. Signed: the raw body only (``X-Shopify-Hmac-Sha256``); no header is covered, so anyone holding a
captured delivery can resend it with a new ``X-Shopify-Event-Id``. The inbox therefore keys a delivery on what
is signed (:func:`delivery_key`): the SHA-256 of topic + body. That is unique because every real change carries
a new ``updated_at`` (orders, fulfillments, inventory levels) or a new resource id (refunds), so two different
events never share a body, while Shopify's retries and a second subscription to the topic resend the same
bytes (one event); the topic is part of it because Shopify sends one order body to several topics
(``orders/create`` and ``orders/paid``). A resent body with a new event id is a repeat: 200 with the first
delivery's id. ``X-Shopify-Triggered-At`` (when Shopify fired the event) is refused when it is more than the
tolerance ahead of the hub's clock or older than Shopify's retry window (8 retries over 4 hours, each with the
original ``X-Shopify-Triggered-At``: https://shopify.dev/changelog/updates-to-webhook-retry-mechanism) plus the
tolerance: a narrower window would refuse Shopify's own retries. Not covered: the topic header itself is
unsigned (a body resent under another topic is a new delivery; the parser only reads what that body says).

Mapping (topic → canonical type):

- ``orders/create`` → ``order.placed``; ``orders/updated`` → ``order.updated``;
  ``orders/cancelled`` → ``order.cancelled`` (lines and ``total`` amount on all three)
- ``orders/paid`` → ``payment.captured`` (amount kind ``capture`` = ``total_price``; ``gift_card`` when only gift
  cards paid it); order amount parts and tenders: :mod:`collectors.shopify_money`
- ``order_transactions/create`` → ``payment.captured`` / ``payment.authorized`` / ``payment.failed`` (see
  :mod:`collectors.shopify_money`)
- ``fulfillments/create`` → ``shipment.shipped`` (lines)
- ``fulfillments/update`` → by ``shipment_status``/``status``: ``delivered`` → ``shipment.delivered``
  (lines); ``in_transit``/``out_for_delivery``/``attempted_delivery``/``ready_for_pickup`` →
  ``shipment.in_transit``; ``failure`` or a ``cancelled``/``error``/``failure`` fulfillment →
  ``shipment.exception`` (status ``failed``); otherwise ``shipment.shipped`` without lines (a restated
  shipment, e.g. a tracking number added, must not count the shipped quantity twice)
- ``fulfillment_events/create`` (the carrier's status feed) → by ``status``: ``label_printed``/
  ``label_purchased``/``confirmed`` → ``shipment.shipped``; ``carrier_picked_up``/``in_transit``/
  ``out_for_delivery``/``attempted_delivery``/``ready_for_pickup``/``delayed`` → ``shipment.in_transit``;
  ``delivered``/``picked_up`` → ``shipment.delivered``; ``failure`` → ``shipment.exception`` (failed); at
  ``happened_at``, no lines; ``fulfillment_events/delete`` → ``unknown`` with the same refs
- ``payouts/*`` (a Shopify Payments Payout, from the ``shopify-payouts`` poller or a webhook) → see
  :mod:`collectors.shopify_payments`: a ``paid`` payout is ``settlement.paid`` with ``settlement``, ``gross``
  and ``fee`` amounts
- ``refunds/create`` → ``refund.issued`` (amount kind ``refund`` = successful refund transactions)
- ``inventory_levels/update`` → ``inventory.snapshot`` (state ``available``): the SKU and location name from
  ``options.inventory_items`` / ``options.locations`` or the Admin API (:mod:`collectors.shopify_catalog`);
  unresolved, Shopify's ids with an ``unresolved_inventory_item`` / ``unresolved_location`` related ref
- any other topic → ``unknown``, with the refs its resource has: an order/fulfillment/fulfillment event/refund's
  own, else its ``order_id`` (``order_transactions/create``, ``disputes/*``, …), so it lands on the order

Reconciliation with the ``shopify-orders`` poller (``collectors.polling.shopify_orders``): the poller
turns each polled order into an ``orders/updated`` delivery for its version plus one delivery per
fact it shows (:func:`polled_facts`: created, paid, cancelled, each refund, each fulfillment and its
shipment status), keyed by :func:`order_key`. On a source that polls, order, refund and fulfillment
webhooks are keyed the same way, so a fact the webhooks delivered is not stored again and one they
missed is filled in.

Refs: ``<source>:order`` (id), ``:order_name`` (``#1001``), ``:fulfillment``, ``:refund`` (identity);
``:fulfillment_event`` (related);
tracking numbers as identity refs ``<carrier source>:tracking``; inventory item and location related.

``source.options``:

- ``carrier_source`` (str): the source whose namespace tracking numbers go in (``"easypost"`` →
  ``easypost:tracking``); default: this source's own ``<source>:tracking``.
- ``carrier_sources`` (table, tracking company → source): per-carrier override, e.g.
  ``{ UPS = "ups", FedEx = "fedex" }``; matched case-insensitively on ``tracking_company``.
- ``inventory_items`` / ``locations`` (tables, Shopify id → SKU / location name): see above; ``locations`` also
  names the ``location_id`` of orders (POS), fulfillments and refund lines.
- ``order_source`` (str): where a payout's orders live (``"shop"`` → ``shop:order``) when the payouts are
  polled by a source of their own; default this source.
- ``count_payments`` (bool, default true): false when a payment source (Stripe, …) reports the same
  money, so ``orders/paid`` carries no amount and the hub does not count the capture twice.
- ``payments_from`` (``"order"`` default, or ``"transactions"``): where tenders are counted from (split tenders,
  :mod:`collectors.shopify_money`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from collectors import shopify_catalog, shopify_money
from collectors.base import (
    ParseError,
    SignatureError,
    body_digest,
    compact,
    decimal_field,
    header,
    load_json,
    load_object,
    mapped_refs,
    parse_time,
    ref,
    require,
    verify_with_any_secret,
)
from collectors.shopify_catalog import Resolver
from collectors.shopify_payments import PAYOUT_DETAIL, payout_events, payout_key
from hub.config import Source
from hub.model import RELATED, UNKNOWN_TYPE, Amount, Delivery, Event, Line, Ref

_ORDER_TYPES = {
    "orders/create": "order.placed",
    "orders/updated": "order.updated",
    "orders/cancelled": "order.cancelled",
    "orders/paid": "payment.captured",
}
# https://shopify.dev/docs/api/admin-rest/latest/resources/order (financial_status): the order was paid.
# Topics whose facts a polled order also shows: keyed alike from webhook and poll (see :func:`order_key`).
_VERSION_TOPICS = frozenset({"orders/updated", "fulfillments/update"})
_POLLED_TOPICS = frozenset({*_ORDER_TYPES, "fulfillments/create", "fulfillments/update", "refunds/create"})
_PAID_STATUSES = frozenset({"paid", "partially_refunded", "refunded"})
_IN_TRANSIT = frozenset({"in_transit", "out_for_delivery", "attempted_delivery", "ready_for_pickup"})
_FAILED_FULFILLMENT = frozenset({"cancelled", "error", "failure"})
# https://shopify.dev/changelog/updates-to-webhook-retry-mechanism: 8 retries over 4 hours.
RETRY_WINDOW_SECONDS = 4 * 3600
# https://shopify.dev/docs/api/admin-rest/latest/resources/fulfillmentevent (status): the carrier's feed.
# label_printed / label_purchased / confirmed say the parcel exists but has not moved; picked_up is the
# customer collecting a pickup order (delivered), carrier_picked_up the carrier taking it (in transit).
_EVENT_TYPES = {
    "label_printed": "shipment.shipped", "label_purchased": "shipment.shipped", "confirmed": "shipment.shipped",
    "carrier_picked_up": "shipment.in_transit", "in_transit": "shipment.in_transit",
    "out_for_delivery": "shipment.in_transit", "attempted_delivery": "shipment.in_transit",
    "ready_for_pickup": "shipment.in_transit", "delayed": "shipment.in_transit",
    "delivered": "shipment.delivered", "picked_up": "shipment.delivered",
    "failure": "shipment.exception",
}


def sign(secret: str, body: bytes) -> str:
    """The ``X-Shopify-Hmac-Sha256`` header value Shopify would send for ``body``."""
    # https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-2-validate-the-origin-of-your-webhook:
    # base64 of the HMAC-SHA256 of the raw body, keyed by the app's client secret.
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(headers: Mapping[str, str], body: bytes, source: Source, now: float, tolerance: int = 300) -> None:
    """Accept when the HMAC matches any configured secret and ``X-Shopify-Triggered-At`` (when sent) is fresh:
    at most ``tolerance`` ahead of ``now``, at most Shopify's retry window plus ``tolerance`` behind it.

    The header is unsigned, so this only turns away a captured delivery resent as it was; a resent body is
    recognised as a repeat by :func:`delivery_key` whatever its headers say.
    """
    verify_with_any_secret(header(headers, "x-shopify-hmac-sha256"), "X-Shopify-Hmac-Sha256", source,
                           lambda secret: sign(secret, body))
    triggered = header(headers, "x-shopify-triggered-at")
    if triggered is None:
        return  # not sent by older API versions or by test tools; it proves nothing when present either
    try:
        at = parse_time(triggered, "X-Shopify-Triggered-At").replace(tzinfo=UTC).timestamp()
    except ParseError:
        raise SignatureError("X-Shopify-Triggered-At is not a timestamp") from None
    if not now - RETRY_WINDOW_SECONDS - tolerance <= at <= now + tolerance:
        raise SignatureError("X-Shopify-Triggered-At is outside the tolerance window")


def delivery_key(headers: Mapping[str, str], body: bytes, source: Source | None = None) -> str:
    """The inbox key of a delivery, from what the signature covers (see the module's trust review): the key
    the poller gives the same fact on a source that polls (:func:`dedup_key`), else the SHA-256 of topic and body."""
    key = _polled_key(headers, body, source)
    if key is not None:
        return key
    topic = header(headers, "x-shopify-topic") or ""
    return "sha256:" + hashlib.sha256(topic.encode() + b"\n" + body).hexdigest()


def dedup_key(headers: Mapping[str, str], body: bytes, source: Source | None = None) -> str | None:
    """The event's id (its ``source_event_id``): ``X-Shopify-Event-Id`` (stable across retries), else
    ``X-Shopify-Webhook-Id``. Unsigned, so the inbox keys the delivery itself by :func:`delivery_key`.

    On a source that also polls, a topic the poll delivers too is keyed as the poller keys the same fact — an
    order, refund or fulfillment topic with ``shopify-orders`` (:func:`order_key`), a ``payouts/*`` topic with
    ``shopify-payouts`` (``payout_key``) — so a webhook and the poll that reconciles it are one delivery,
    whichever arrives first.
    """
    return (_polled_key(headers, body, source) or header(headers, "x-shopify-event-id")
            or header(headers, "x-shopify-webhook-id") or None)


def _polled_key(headers: Mapping[str, str], body: bytes, source: Source | None) -> str | None:
    """The key a poller gives the fact this webhook reports (read from the signed body), when the source polls it."""
    topic = header(headers, "x-shopify-topic") or ""
    payouts = source is not None and topic.startswith("payouts/") and polls(source, "shopify-payouts")
    orders = source is not None and topic in _POLLED_TOPICS and polls_orders(source)
    if not (payouts or orders):
        return None
    try:
        document = load_json(body)
    except ParseError:
        return None
    return payout_key(document) if payouts else order_key(topic, document)


def polls_orders(source: Source) -> bool:
    """Whether the source reconciles its order webhooks with the ``shopify-orders`` poller."""
    return polls(source, "shopify-orders")


def polls(source: Source, style: str) -> bool:
    """Whether the source polls with ``style`` (``options.poll.style``)."""
    poll = source.options.get("poll")
    return isinstance(poll, Mapping) and poll.get("style") == style


def order_key(topic: str, resource: Any) -> str | None:
    """The key of one fact about an order, the same from a webhook and from a polled order: a version
    (``orders/updated``, ``fulfillments/update``) is ``<id>@<updated_at>``; a once-per-object step
    (``orders/create``, ``orders/paid``, ``orders/cancelled``, ``fulfillments/create``, ``refunds/create``) is
    ``<id>:<topic>``, the id being the order's, fulfillment's or refund's. None when the resource has no id (or
    a version no updated_at)."""
    if not isinstance(resource, Mapping) or resource.get("id") is None or isinstance(resource.get("id"), dict | list):
        return None
    if topic in _VERSION_TOPICS:
        return f"{resource['id']}@{resource['updated_at']}" if resource.get("updated_at") else None
    return f"{resource['id']}:{topic}" if topic in _POLLED_TOPICS else None


def polled_facts(order: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(topic, resource)`` for every fact a polled order shows beyond its own version: its once-per-order steps
    (:func:`order_steps`), each refund in ``refunds[]`` (``refunds/create``) and each fulfillment in
    ``fulfillments[]`` (``fulfillments/create``, plus its current version as ``fulfillments/update`` once it has a
    shipment status or has failed — what the missed webhooks would have said)."""
    facts: list[tuple[str, Any]] = [(topic, order) for topic in order_steps(order)]
    for name, topics in (("refunds", ("refunds/create",)), ("fulfillments", ("fulfillments/create",))):
        items = order.get(name)
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            item = item if item.get("order_id") is not None else {**item, "order_id": order.get("id")}
            facts += [(topic, item) for topic in topics]
            if name == "fulfillments" and (item.get("shipment_status") or item.get("status") in _FAILED_FULFILLMENT):
                facts.append(("fulfillments/update", item))
    return facts


def order_steps(order: Mapping[str, Any]) -> list[str]:
    """The once-per-order topics a polled order shows happened (what missed webhooks would have said):
    created always, paid once ``financial_status`` is past payment, cancelled once ``cancelled_at`` is set."""
    steps = ["orders/create"]
    if order.get("financial_status") in _PAID_STATUSES:
        steps.append("orders/paid")
    if order.get("cancelled_at"):
        steps.append("orders/cancelled")
    return steps


def check_options(source: Source) -> None:
    """The ``inventory_items`` / ``locations`` mappings (:mod:`collectors.shopify_catalog`) and
    ``payments_from`` (:mod:`collectors.shopify_money`)."""
    shopify_catalog.check_options(source)
    shopify_money.check_options(source)


def parse(delivery: Delivery, source: Source, resolver: Resolver | None = None) -> list[Event]:
    """One canonical event for one Shopify webhook (the topic comes from ``X-Shopify-Topic``); ``resolver`` names
    inventory items and locations (default: the source's options only)."""
    topic = header(delivery.headers, "x-shopify-topic")
    if not topic:
        raise ParseError("missing header 'X-Shopify-Topic'")
    payload = load_object(delivery.body, topic)
    event_id = dedup_key(delivery.headers, delivery.body, source) or body_digest(delivery.body)
    event = Event(source=source.name, source_event_id=event_id, type=UNKNOWN_TYPE,
                  occurred_at=_occurred(topic, payload, delivery.headers),
                  traceparent=header(delivery.headers, "traceparent"))
    resource = topic.split("/", 1)[0]
    resolver = resolver or Resolver.from_options(source)
    if topic in _ORDER_TYPES:
        _order(event, topic, payload, source, resolver)
        return [event]
    if topic == "order_transactions/create":
        shopify_money.transaction(event, payload, source)
    elif topic in ("fulfillments/create", "fulfillments/update"):
        _fulfillment(event, topic, payload, source, resolver)
    elif topic == "fulfillment_events/create":
        _fulfillment_event(event, payload, source)
    elif topic == "refunds/create":
        _refund(event, payload, source, resolver)
    elif topic == "inventory_levels/update":
        _inventory_level(event, payload, source, resolver)
    elif resource == "payouts":
        detail = header(delivery.headers, "x-crosstrace-polled") == PAYOUT_DETAIL
        event.refs = mapped_refs(payload, source.refs)
        return payout_events(event, payload, source, detail)
    elif resource == "orders":
        event.refs = _order_refs(payload, source, required=False)
    elif resource == "fulfillments":
        event.refs = _fulfillment_refs(payload, source, required=False)
    elif resource == "fulfillment_events":  # a deleted carrier status: no canonical retraction, but on the trace
        event.refs = _fulfillment_event_refs(payload, source, required=False)
    elif resource == "refunds":
        event.refs = compact([ref(source, "refund", payload.get("id")), ref(source, "order", payload.get("order_id"))])
    else:  # any other resource naming its order (order_transactions, disputes, fulfillment_orders…): on its trace
        event.refs = compact([ref(source, "order", payload.get("order_id"))])
    event.refs = compact([*event.refs, *mapped_refs(payload, source.refs)])
    return [event]


def _order(event: Event, topic: str, payload: dict[str, Any], source: Source, resolver: Resolver) -> None:
    """Fill ``event`` from an order: its total, with its tax, shipping and discount as amount parts."""
    event.type = _ORDER_TYPES[topic]
    event.refs = _order_refs(payload, source, required=True)
    event.refs = compact([*event.refs, *mapped_refs(payload, source.refs)])
    total = decimal_field(require(payload, "total_price"), "total_price")
    currency = str(require(payload, "currency")).upper()
    if topic == "orders/paid":
        event.amount = shopify_money.paid_amount(payload, source, total, currency)
        return
    event.amount = Amount(total, currency, "total")
    event.amount_parts = shopify_money.order_parts(payload, currency)
    event.lines = _lines(payload.get("line_items"), "line_items", _place(payload.get("location_id"), resolver))


def _order_refs(payload: dict[str, Any], source: Source, required: bool) -> list[Ref]:
    order_id = require(payload, "id") if required else payload.get("id")
    return compact([ref(source, "order", order_id), ref(source, "order_name", payload.get("name"))])


def _fulfillment(event: Event, topic: str, payload: dict[str, Any], source: Source, resolver: Resolver) -> None:
    event.refs = _fulfillment_refs(payload, source, required=True)
    lines = _lines(payload.get("line_items"), "line_items", _place(payload.get("location_id"), resolver))
    if topic == "fulfillments/create":
        event.type, event.lines = "shipment.shipped", lines
        return
    shipment_status = payload.get("shipment_status")
    status = payload.get("status")
    if status in _FAILED_FULFILLMENT or shipment_status == "failure":
        event.type, event.status = "shipment.exception", "failed"
        event.error = f"fulfillment {status}" if status in _FAILED_FULFILLMENT else "shipment failure"
    elif shipment_status == "delivered":
        event.type, event.lines = "shipment.delivered", lines
    elif shipment_status in _IN_TRANSIT:
        event.type = "shipment.in_transit"
    else:
        event.type = "shipment.shipped"


def _fulfillment_refs(payload: dict[str, Any], source: Source, required: bool) -> list[Ref]:
    fulfillment_id = require(payload, "id") if required else payload.get("id")
    order_id = require(payload, "order_id") if required else payload.get("order_id")
    numbers = payload.get("tracking_numbers")
    if not isinstance(numbers, list) or not numbers:
        numbers = [payload.get("tracking_number")]
    namespace = _carrier_namespace(payload.get("tracking_company"), source)
    tracking = [Ref(namespace, str(n).strip()) for n in numbers if isinstance(n, str | int) and str(n).strip()]
    return compact([ref(source, "fulfillment", fulfillment_id), ref(source, "order", order_id), *tracking])


def _fulfillment_event(event: Event, payload: dict[str, Any], source: Source) -> None:
    """A carrier status of one fulfillment (``fulfillment_events/create``): the matching shipment event, without
    lines (the quantities shipped are the fulfillment's, counted once by ``fulfillments/create``)."""
    event.refs = _fulfillment_event_refs(payload, source, required=True)
    status = require(payload, "status")
    event.type = _EVENT_TYPES.get(str(status), UNKNOWN_TYPE)
    if event.type == "shipment.exception":
        event.status = "failed"
        message = payload.get("message")
        event.error = f"carrier reports {status}" + (f": {message}" if isinstance(message, str) and message else "")


def _fulfillment_event_refs(payload: dict[str, Any], source: Source, required: bool) -> list[Ref]:
    get = (lambda name: require(payload, name)) if required else payload.get
    return compact([ref(source, "fulfillment", get("fulfillment_id")), ref(source, "order", get("order_id")),
                    ref(source, "fulfillment_event", get("id"), RELATED)])


def _carrier_namespace(company: Any, source: Source) -> str:
    """``<carrier source>:tracking`` for the fulfillment's carrier (see the module's options)."""
    per_company = source.options.get("carrier_sources")
    if isinstance(per_company, Mapping) and isinstance(company, str):
        for name, carrier in per_company.items():
            if str(name).lower() == company.strip().lower():
                return f"{carrier}:tracking"
    carrier = source.options.get("carrier_source")
    return f"{carrier if isinstance(carrier, str) and carrier else source.name}:tracking"


def _refund(event: Event, payload: dict[str, Any], source: Source, resolver: Resolver) -> None:
    event.type = "refund.issued"
    event.refs = compact([ref(source, "refund", require(payload, "id")),
                          ref(source, "order", require(payload, "order_id"))])
    items = payload.get("refund_line_items") or []
    lines = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        line_item = item.get("line_item") if isinstance(item, dict) else None
        sku = _sku(line_item) if isinstance(line_item, dict) else None
        if sku is not None:
            where = f"refund_line_items.{index}.quantity"
            lines.append(Line(sku=sku, qty=decimal_field(require(payload, where), where),
                              location=_place(item.get("location_id"), resolver)))
    event.lines = lines
    event.amount = _refund_amount(payload.get("transactions"))


def _refund_amount(transactions: Any) -> Amount | None:
    """The sum of the refund's successful ``refund`` transactions (the money that went back)."""
    if not isinstance(transactions, list):
        return None
    total, currency = Decimal(0), None
    for index, txn in enumerate(transactions):
        if not isinstance(txn, dict) or txn.get("kind") != "refund" or txn.get("status", "success") != "success":
            continue
        txn_currency = str(txn["currency"]).upper() if txn.get("currency") else currency
        if currency is not None and txn_currency != currency:
            raise ParseError(f"transactions.{index}.currency: refund transactions in several currencies")
        currency = txn_currency
        total += decimal_field(txn.get("amount"), f"transactions.{index}.amount")
    return Amount(total, currency, "refund") if currency else None


def _inventory_level(event: Event, payload: dict[str, Any], source: Source, resolver: Resolver) -> None:
    """A level as the SKU and location name the other systems use; what no mapping or lookup resolves keeps
    Shopify's id and is marked with an ``unresolved_…`` ref (listed by ``sources { unresolved }``)."""
    event.type = "inventory.snapshot"
    item = str(require(payload, "inventory_item_id"))
    location = str(require(payload, "location_id"))
    sku, place = resolver.sku(item), resolver.location(location)
    available = payload.get("available")
    # ``available`` is null when the item stops being tracked at the location: no quantity to report.
    if available is not None:
        event.lines = [Line(sku=sku or item, qty=decimal_field(available, "available"), location=place or location,
                            state="available")]
    event.refs = compact([ref(source, "inventory_item", item, RELATED), ref(source, "location", location, RELATED),
                          None if sku else ref(source, "unresolved_inventory_item", item, RELATED),
                          None if place else ref(source, "unresolved_location", location, RELATED)])


def _place(location_id: Any, resolver: Resolver) -> str | None:
    """A payload's ``location_id`` as the location name the other systems use (``options.locations`` or the
    Admin API, as for inventory levels), else Shopify's id; None when it names none (an online order)."""
    if location_id is None:
        return None
    return resolver.location(str(location_id)) or str(location_id)


def _lines(items: Any, where: str, location: str | None) -> list[Line]:
    """Lines of ``line_items``: sku (else the variant id), quantity, the given location."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ParseError(f"field {where!r} must be an array")
    lines = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ParseError(f"field '{where}.{index}' must be an object")
        sku = _sku(item)
        if sku is not None:
            qty = decimal_field(item.get("quantity"), f"{where}.{index}.quantity")
            lines.append(Line(sku=sku, qty=qty, location=location))
    return lines


def _sku(item: dict[str, Any]) -> str | None:
    sku = item.get("sku")
    if isinstance(sku, str) and sku.strip():
        return sku.strip()
    variant = item.get("variant_id")
    return None if variant is None else str(variant)


def _occurred(topic: str, payload: dict[str, Any], headers: Mapping[str, str]) -> datetime | None:
    """The payload's own time (created_at for a new order, cancelled_at for a cancellation), else
    ``X-Shopify-Triggered-At``. (A polled order's ``orders/create`` is read from a later version.)"""
    names = ("updated_at", "created_at")
    if topic.startswith("payouts/"):
        names = ("date",)  # a payout has a date only (the day it is paid), read as midnight UTC
    elif topic.startswith("fulfillment_events/"):
        names = ("happened_at", *names)  # when the carrier scanned it, not when Shopify stored the row
    elif topic == "orders/create":
        names = ("created_at", "updated_at")
    elif topic == "orders/cancelled":
        names = ("cancelled_at", *names)
    for name in names:
        if payload.get(name):
            return parse_time(payload[name], name)
    triggered = header(headers, "x-shopify-triggered-at")
    return parse_time(triggered, "X-Shopify-Triggered-At") if triggered else None

