"""The canonical model (DESIGN §3): what every adapter produces and every later stage consumes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

IDENTITY = "identity"
RELATED = "related"
ROLES = (IDENTITY, RELATED)

SOURCE_KINDS = ("erp", "pos", "wms", "commerce", "marketplace", "carrier", "payment", "returns", "other")
TRANSACTION_KINDS = ("order", "transfer", "return", "adjustment", "receipt", "settlement")
INVENTORY_STATES = ("on_hand", "reserved", "available", "in_transit", "damaged", "returned")

EVENT_TYPES = frozenset(
    """
    order.placed order.accepted order.updated order.cancelled
    payment.authorized payment.captured payment.failed refund.issued settlement.paid
    inventory.reserved inventory.released inventory.adjusted inventory.snapshot inventory.published
    fulfillment.allocated fulfillment.picked fulfillment.packed
    shipment.shipped shipment.in_transit shipment.delivered shipment.exception
    transfer.created transfer.shipped transfer.received receipt.received
    return.requested return.received return.inspected return.restocked
    erp.posted sync.failed sync.succeeded
    """.split()
)
UNKNOWN_TYPE = "unknown"

DEFAULT_JUNK_VALUES = ("", "0", "null", "none", "nil", "n/a", "na", "-", "unknown", "undefined", "tbd")
_ALL_ZERO = re.compile(r"^[0\-_. ]+$")


@dataclass(frozen=True, slots=True)
class Ref:
    """An identifier a system uses, ``(namespace, value)``; ``role`` is ``identity`` or ``related``."""

    namespace: str
    value: str
    role: str = IDENTITY


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    qty: Decimal
    location: str | None = None
    state: str | None = None


# What an amount is (``Amount.kind``). Order side: ``total`` (what the order costs, restated by updates) and its parts
# ``tax``, ``shipping``, ``discount`` (positive: what was taken off). Tenders that pay it: ``capture`` (card money an
# acquirer pays out), ``gift_card``, ``store_credit``, ``cash``, ``external`` (never paid out by an acquirer);
# ``authorization``, ``attempt`` (failed);
# ``refund``. Marketplace postings: ``net`` (after its fees), ``principal``, ``commission``, ``fee``. Settlements:
# ``settlement`` (paid to the bank), ``gross``, ``fee``, ``line`` (what one settled order or charge contributed).
AMOUNT_KINDS = frozenset({"total", "tax", "shipping", "discount", "capture", "gift_card", "store_credit", "cash",
                          "external",
                          "authorization", "attempt", "refund", "net", "principal", "commission", "fee",
                          "settlement", "gross", "line"})
NOT_PAID_OUT = ("gift_card", "store_credit", "cash", "external")  # tenders no acquirer's settlement pays


@dataclass(frozen=True, slots=True)
class Amount:
    value: Decimal
    currency: str
    kind: str = "total"  # one of AMOUNT_KINDS (an adapter may state another, kept as is)


@dataclass(slots=True)
class Event:
    """One canonical event as an adapter yields it; the hub adds its id, transaction and receipt time."""

    source: str
    source_event_id: str
    type: str
    occurred_at: datetime | None  # None: the source gave no time; the hub uses received_at
    refs: list[Ref] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    amount: Amount | None = None
    amount_parts: list[Amount] = field(default_factory=list)  # what ``amount`` consists of: tax, shipping, discount
    status: str = "ok"
    error: str | None = None
    traceparent: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)  # business attributes the source's config names


@dataclass(slots=True)
class Delivery:
    """One raw delivery as kept in the inbox: the bytes exactly as received, plus what mattered about them."""

    id: str
    source: str
    received_at: datetime
    headers: dict[str, str]
    body: bytes
    content_type: str = ""


def utcnow() -> datetime:
    """Now, as a naive UTC datetime (the store keeps naive UTC on every engine)."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_utc(moment: datetime) -> datetime:
    """Naive UTC for any datetime (aware ones are converted, naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def is_junk(value: str, junk_values: frozenset[str] | set[str] | tuple[str, ...] = DEFAULT_JUNK_VALUES) -> bool:
    """True for values that must never become refs: empty, placeholders such as ``0``/``n/a``, all zeros."""
    text = value.strip()
    return not text or text.lower() in junk_values or bool(_ALL_ZERO.match(text))


def needs_identity(event_type: str) -> bool:
    """Whether an event of this type must name what it is about (an identity ref) to join a transaction.

    Stock counts and movements (``inventory.*``) are about a SKU at a location and stand alone as adjustments;
    every other event without an identity ref is *unlinked*: it joins no transaction and is counted instead.
    """
    return not event_type.startswith("inventory.")


def transaction_kind(event_types: set[str] | frozenset[str]) -> str:
    """The transaction kind implied by the event types it holds (orders win over the movements they cause)."""
    prefixes = {t.split(".", 1)[0] for t in event_types}
    if "order" in prefixes or "payment" in prefixes or "fulfillment" in prefixes:
        return "order"
    for prefix, kind in (("transfer", "transfer"), ("return", "return"), ("receipt", "receipt"),
                         ("settlement", "settlement")):
        if prefix in prefixes:
            return kind
    if "inventory.adjusted" in event_types or prefixes == {"inventory"}:
        return "adjustment"  # an adjustment, or a count/snapshot that belongs to no order or movement
    return "order"


# Logical position of each step in a transaction: an event whose occurred_at is earlier than an event
# of a lower rank in the same transaction is out of order (kept, flagged).
STEP_RANK = {
    "order.placed": 0, "transfer.created": 0, "return.requested": 0,
    "order.accepted": 1, "payment.authorized": 1, "inventory.reserved": 1,
    "payment.captured": 2, "fulfillment.allocated": 2,
    "fulfillment.picked": 3, "fulfillment.packed": 4,
    "shipment.shipped": 5, "transfer.shipped": 5, "shipment.in_transit": 6,
    "shipment.delivered": 7, "transfer.received": 7, "receipt.received": 7, "return.received": 7,
    "return.inspected": 8, "return.restocked": 9, "refund.issued": 9, "settlement.paid": 10,
}


SEVERITIES = ("info", "warning", "error", "critical")  # of an exception, least to most severe
