"""``Event``: one canonical event on a transaction's timeline (plain fields only: it is the hot type)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from hub.store.queries import EventRecord
from schema.node import Node
from schema.ref import Ref


@strawberry.type(description="A quantity of one SKU at a location in an inventory state.")
class Line:
    sku: str
    qty: Decimal
    location: str | None
    state: str | None


@strawberry.type(description="A money amount; kind is total, capture, refund, fee, settlement…")
class Amount:
    value: Decimal
    currency: str
    kind: str


@strawberry.type(description="A canonical event derived from one delivery.")
class Event(Node):
    id: strawberry.ID
    source: str
    source_event_id: str
    type: str
    occurred_at: datetime = strawberry.field(description="The source's clock (UTC).")
    received_at: datetime = strawberry.field(description="When the hub received the delivery (UTC).")
    lag_seconds: float | None = strawberry.field(
        description="Seconds since the previous event on the timeline (null for the first).")
    status: str
    error: str | None
    out_of_order: bool = strawberry.field(description="Occurred before a step it logically follows.")
    unknown_type: bool = strawberry.field(description="The type is not in the canonical vocabulary.")
    duplicates: int = strawberry.field(description="How many more times this event was delivered.")
    delivery_id: strawberry.ID
    traceparent: str | None
    refs: list[Ref]
    lines: list[Line]
    amount: Amount | None
    amount_parts: list[Amount] = strawberry.field(
        description="What the amount consists of: an order's tax, shipping and discount (kinds of the same name).")

    @classmethod
    def from_record(cls, record: EventRecord, refs: list[tuple[str, str, str]], previous: datetime | None) -> Event:
        return cls(
            id=strawberry.ID(record.id), source=record.source, source_event_id=record.source_event_id,
            type=record.type, occurred_at=record.occurred_at, received_at=record.received_at,
            lag_seconds=(record.occurred_at - previous).total_seconds() if previous else None,
            status=record.status, error=record.error, out_of_order=record.out_of_order,
            unknown_type=record.unknown_type, duplicates=record.duplicates,
            delivery_id=strawberry.ID(record.delivery_id), traceparent=record.traceparent,
            refs=[Ref.from_tuple(r) for r in refs],
            lines=[Line(sku=ln["sku"], qty=Decimal(ln["qty"]), location=ln.get("location"), state=ln.get("state"))
                   for ln in record.lines],
            amount=Amount(value=Decimal(record.amount_value), currency=record.amount_currency or "",
                          kind=record.amount_kind or "total") if record.amount_value is not None else None,
            amount_parts=[Amount(value=Decimal(p["value"]), currency=p["currency"], kind=p["kind"])
                          for p in record.amount_parts],
        )
