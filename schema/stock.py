"""Stock types: positions per source and state, movements, divergences and their counts."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON


@strawberry.type(description="One inventory state's quantity in one source's position.")
class StockQuantity:
    state: str = strawberry.field(description="on_hand, reserved, available, in_transit, damaged or returned")
    quantity: float
    as_of: datetime | None = strawberry.field(description="When the event that last set it occurred (UTC).")
    event_id: str | None = strawberry.field(description="The event that last set it (null when derived).")
    derived: bool = strawberry.field(description="available computed as on_hand − reserved.")
    based: bool = strawberry.field(description="False while only movements were seen (no snapshot yet).")

    @classmethod
    def from_quantity(cls, q: Any) -> StockQuantity:
        return cls(state=q.state, quantity=q.qty, as_of=q.as_of, event_id=q.event_id, derived=q.derived,
                   based=q.based)


@strawberry.type(description="A snapshot or movement of a SKU at a location, as one source reported it.")
class StockMovement:
    at: datetime
    sku: str
    location: str
    source: str
    state: str
    type: str = strawberry.field(description="The event type (inventory.snapshot, transfer.shipped, …).")
    delta: float | None = strawberry.field(description="The change; null for a snapshot (see quantity).")
    quantity: float
    applied: bool = strawberry.field(description="False: an older report a later snapshot already covered.")
    event_id: str
    transaction_id: str | None = strawberry.field(description="Look it up with transaction(ref: …).")

    @classmethod
    def from_movement(cls, m: Any) -> StockMovement:
        return cls(at=m.at, sku=m.sku, location=m.location, source=m.source, state=m.state, type=m.event_type,
                   delta=m.delta, quantity=m.qty, applied=m.applied, event_id=m.event_id, transaction_id=m.tx_id)


@strawberry.type(description="A source that differs from the authoritative one beyond the tolerance.")
class StockDivergence:
    sku: str
    location: str
    source: str
    authoritative: str
    units: float = strawberry.field(description="The largest difference over the states both report.")
    value_at_risk: float | None = strawberry.field(description="units × the configured unit value "
                                                               "([stock] unit_value); null when none is configured.")
    states: JSON = strawberry.field(description="Per state: source, authoritative, in_flight, difference.")
    since: datetime
    status: str = strawberry.field(description="pending (inside the settle window) or open (raised)")
    due_at: datetime | None = strawberry.field(description="When the settle window ends (pending only).")
    exception_id: str | None

    @classmethod
    def from_row(cls, row: Any) -> StockDivergence:
        return cls(sku=row.sku, location=row.location, source=row.source, authoritative=row.authoritative,
                   units=float(row.units), value_at_risk=float(row.value) if row.value is not None else None,
                   states=row.states, since=row.since, status=row.status,
                   due_at=row.due_at, exception_id=row.exception_id)


@strawberry.type(description="An open quantity shortfall (shipped vs received, …) of a transaction moving the SKU.")
class StockShortfall:
    exception_id: str
    transaction_id: str | None
    shortfall: float
    expected: JSON
    actual: JSON


@strawberry.type(description="One source's position for a SKU at a location.")
class StockPosition:
    sku: str
    location: str
    source: str
    authoritative: bool = strawberry.field(description="This source is the reference at this location.")
    as_of: datetime | None
    quantities: list[StockQuantity]
    divergence: StockDivergence | None
    movements: list[StockMovement] = strawberry.field(description="Recent movements, newest first.")
    shortfalls: list[StockShortfall] = strawberry.field(description="Open shortfalls of transfers etc. of the SKU.")


@strawberry.type(description="Divergent SKUs at one location for one source.")
class DivergenceCount:
    location: str
    source: str
    divergent: int
    raised: int = strawberry.field(description="Of which past the settle window (an open exception).")


@strawberry.enum(description="How divergences are sorted, largest first.")
class DivergenceOrder(Enum):
    UNITS = "units"
    VALUE = "value"


@strawberry.input(description="Which divergences to list; every field narrows.")
class DivergenceFilter:
    location: str | None = None
    sku_prefix: str | None = None
    source: str | None = None
    min_units: float | None = None
    older_than_minutes: int | None = strawberry.field(default=None, description="Divergent at least this long.")
    status: str | None = strawberry.field(default=None, description="pending or open")
