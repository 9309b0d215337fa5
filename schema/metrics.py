"""BI aggregate rows (flat: one row per group; dimensions not grouped by are null) and their enums."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry


@strawberry.enum(description="What to count.")
class MetricSubject(Enum):
    DELIVERIES = "deliveries"
    EVENTS = "events"
    TRANSACTIONS = "transactions"
    EXCEPTIONS = "exceptions"


@strawberry.enum(description="A dimension to group counts by (status of a delivery is its state).")
class MetricDimension(Enum):
    SOURCE = "source"
    TYPE = "type"
    KIND = "kind"
    STATUS = "status"


@strawberry.enum(description="A time bucket in the caller's timezone.")
class TimeBucket(Enum):
    HOUR = "hour"
    DAY = "day"


@strawberry.type(description="A count for one group.")
class CountRow:
    source: str | None = None
    type: str | None = None
    kind: str | None = None
    status: str | None = None
    attribute: str | None = strawberry.field(default=None, description="The grouped business attribute's value.")
    bucket: str | None = strawberry.field(default=None, description="Bucket start, ISO 8601 with the local offset.")
    count: int = 0


@strawberry.type(description="Lag percentiles in seconds (nearest rank).")
class LagRow:
    source: str
    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None
    sampled: bool = strawberry.field(description="True when the newest rows of the window were a capped sample.")


@strawberry.type(description="Seconds between two flow steps on one integration path (step A → step B).")
class StepLagRow:
    from_type: str
    from_source: str
    to_type: str
    to_source: str
    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None
    sampled: bool


@strawberry.type(description="Unmatched amounts of open amount mismatches, per currency and age.")
class BacklogRow:
    currency: str
    age: str = strawberry.field(description="<1h, 1h-24h, 1d-7d or >7d since the mismatch opened")
    exceptions: int
    unmatched: Decimal = strawberry.field(description="Sum of absolute differences.")


@strawberry.type(description="Divergent SKUs at a location as a source reports them.")
class DivergenceCountRow:
    location: str | None
    source: str | None
    divergent: int
    raised: int = strawberry.field(description="Of those, raised as open exceptions.")


@strawberry.type(description="Orders placed and their value, per group (channel or attribute value), bucket and "
                             "currency (null: orders placed without an amount).")
class OrderRow:
    group: str | None = strawberry.field(description="The channel (source that reported the order) or the "
                                                     "asked attribute's value.")
    bucket: str | None
    currency: str | None
    orders: int
    value: Decimal | None = strawberry.field(description="Sum of the placed order totals.")


@strawberry.type(description="Seconds from order placed to a milestone (shipped or delivered), nearest rank.")
class CycleTimeRow:
    group: str | None
    bucket: str | None
    milestone: str = strawberry.field(description="shipped or delivered")
    count: int
    p50: float | None
    p90: float | None
    sampled: bool


@strawberry.type(description="Cancelled orders among those placed, and how many came after a stock problem.")
class CancellationRow:
    group: str | None
    bucket: str | None
    orders: int
    cancelled: int
    rate: float
    after_stock_problem: int = strawberry.field(description="Cancelled after a failed reservation, allocation or "
                                                            "pick, or a quantity or stock exception on the order.")
    stock_share: float | None = strawberry.field(description="after_stock_problem / cancelled.")
    sampled: bool


@strawberry.type(description="How often a flow step was done within its SLA (of the steps that were due).")
class SlaRow:
    group: str | None
    step: str
    sla_seconds: float
    on_time: int
    late: int = strawberry.field(description="Done, but after its SLA.")
    overdue: int = strawberry.field(description="Not done and past due.")
    attainment: float | None = strawberry.field(description="on_time / (on_time + late + overdue).")
    sampled: bool


@strawberry.type(description="The age of a source's newest stock position at a location.")
class FreshnessRow:
    source: str
    location: str
    latest: datetime
    age_seconds: float
    positions: int


@strawberry.type(description="One distinct path transactions took: their event types in timeline order.")
class VariantRow:
    activities: list[str] = strawberry.field(description="Event types in order, a repeat in a row folded in.")
    count: int
    share: float = strawberry.field(description="Of the transactions read.")
    deviating: int = strawberry.field(description="Of its transactions, those that depart from the flow.")
    deviations: list[str] = strawberry.field(description="How they depart: `skipped: paid`, `out_of_order: paid`.")
    p50_seconds: float | None = strawberry.field(description="Throughput time, first event to last.")
    p90_seconds: float | None
    max_seconds: float | None


@strawberry.type(description="Process variants of a kind's transactions that started in the window, and "
                             "their conformance to the configured flow.")
class ProcessVariantsResult:
    kind: str
    since: datetime
    until: datetime
    transactions: int
    conforming: int
    deviating: int
    capped: bool = strawberry.field(description="True when only the newest transactions of the window were read.")
    other_variants: int = strawberry.field(description="Distinct paths beyond the ones listed.")
    variants: list[VariantRow]
