"""``metrics``: BI aggregates as flat rows; thin resolvers over :mod:`hub.store.metrics_queries`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import strawberry
from graphql import GraphQLError

from hub import kpis
from hub.access.privacy import mask_groups
from hub.export.process_variants import process_variants
from hub.model import as_utc
from hub.store import inbox_log
from hub.store import metrics_queries as mq
from resolvers.permissions import masks_for
from schema.metrics import (
    BacklogRow,
    CancellationRow,
    CountRow,
    CycleTimeRow,
    DivergenceCountRow,
    FreshnessRow,
    LagRow,
    MetricDimension,
    MetricSubject,
    OrderRow,
    ProcessVariantsResult,
    SlaRow,
    StepLagRow,
    TimeBucket,
    VariantRow,
)

try:  # stock divergence lives in hub/stock/queries.py (stock positions); absent in builds without it
    from hub.stock.queries import divergence_counts as _divergence_counts
except ImportError:  # pragma: no cover - depends on the build
    _divergence_counts = None


def _bad_input(exc: ValueError) -> GraphQLError:
    return GraphQLError(str(exc), extensions={"code": "BAD_USER_INPUT"})


@dataclass
class _Scope:
    window: mq.Window
    timezone: str


@strawberry.type(description="BI aggregates over one window (UTC bounds) in one timezone; each list is flat rows.")
class Metrics:
    scope: strawberry.Private[_Scope]

    @strawberry.field(description="Counts grouped by any of source, type, kind, status, a time bucket and a "
                                  "business attribute (`attribute: \"channel\"`: rows carry its value).")
    async def counts(self, info: strawberry.Info, subject: MetricSubject, group_by: list[MetricDimension],
                     bucket: TimeBucket | None = None, attribute: str | None = None) -> list[CountRow]:
        store = info.context["hub"].started().store
        if subject is MetricSubject.DELIVERIES:
            await inbox_log.caught_up(store)  # deliveries just acknowledged are counted
        try:
            async with store.read() as conn:
                rows = await mq.counts(conn, subject.value, [d.value for d in group_by], self.scope.window,
                                       bucket.value if bucket else None, self.scope.timezone, attribute)
        except ValueError as exc:
            raise _bad_input(exc) from None
        return [CountRow(**row) for row in _masked(info, rows, attribute, "attribute")]

    @strawberry.field(description="Seconds from occurred (source clock) to received (hub clock), per source.")
    async def receive_lag(self, info: strawberry.Info) -> list[LagRow]:
        return [LagRow(**row) for row in await _read(info, mq.receive_lag, self.scope.window)]

    @strawberry.field(description="Seconds between consecutive flow steps per path; or between two given steps.")
    async def step_lag(self, info: strawberry.Info, from_type: str | None = None,
                       to_type: str | None = None) -> list[StepLagRow]:
        if (from_type is None) != (to_type is None):
            raise GraphQLError("give both `fromType` and `toType`, or neither", extensions={"code": "BAD_USER_INPUT"})
        rows = await _read(info, mq.step_lag, self.scope.window, from_type, to_type)
        return [StepLagRow(**row) for row in rows]

    @strawberry.field(description="Unmatched amounts from open amount mismatches, by currency and age.")
    async def reconciliation_backlog(self, info: strawberry.Info) -> list[BacklogRow]:
        rows = await _read(info, mq.reconciliation_backlog, _now(info.context["hub"]))
        return [BacklogRow(currency=r["currency"], age=r["age"], exceptions=r["exceptions"],
                           unmatched=Decimal(r["unmatched"])) for r in rows]

    @strawberry.field(description="Orders placed in the window and their value, per channel (the source that "
                                  "reported them) or per value of `attribute`, per currency and bucket.")
    async def orders(self, info: strawberry.Info, attribute: str | None = None,
                     bucket: TimeBucket | None = None) -> list[OrderRow]:
        rows = await self._kpi(info, kpis.orders, attribute, bucket)
        return [OrderRow(**{**row, "value": None if row["value"] is None else Decimal(row["value"])}) for row in rows]

    @strawberry.field(description="Order cycle time, placed → shipped and placed → delivered (p50/p90 seconds), "
                                  "per channel or attribute value, by the bucket of the placed time.")
    async def cycle_times(self, info: strawberry.Info, attribute: str | None = None,
                          bucket: TimeBucket | None = None) -> list[CycleTimeRow]:
        return [CycleTimeRow(**row) for row in await self._kpi(info, kpis.cycle_times, attribute, bucket)]

    @strawberry.field(description="Cancellation rate of the orders placed, and the share cancelled after a stock "
                                  "problem, per channel or attribute value.")
    async def cancellations(self, info: strawberry.Info, attribute: str | None = None,
                            bucket: TimeBucket | None = None) -> list[CancellationRow]:
        return [CancellationRow(**row) for row in await self._kpi(info, kpis.cancellations, attribute, bucket)]

    @strawberry.field(description="Per flow step with an SLA: the share done within it, for transactions of "
                                  "`kind` that started in the window, per channel or attribute value.")
    async def sla_attainment(self, info: strawberry.Info, kind: str = "order",
                             attribute: str | None = None) -> list[SlaRow]:
        hub = info.context["hub"]
        try:
            rows = await _read(info, kpis.sla_attainment, hub.config, _now(hub), self.scope.window, kind, attribute)
        except ValueError as exc:
            raise _bad_input(exc) from None
        return [SlaRow(**row) for row in _masked(info, rows, attribute, "group")]

    @strawberry.field(description="Inventory freshness: the age of each source's newest stock position per location.")
    async def inventory_freshness(self, info: strawberry.Info) -> list[FreshnessRow]:
        return [FreshnessRow(**row) for row in await _read(info, kpis.inventory_freshness,
                                                           _now(info.context["hub"]))]

    @strawberry.field(description="The distinct paths transactions of `kind` took (started in the window; by "
                                  "default the last 7 days), with counts, throughput time and conformance to the "
                                  "configured flow; the `first` most frequent.")
    async def process_variants(self, info: strawberry.Info, kind: str = "order",
                               first: int = 20) -> ProcessVariantsResult:
        hub = info.context["hub"]
        if kind not in hub.config.flows:
            raise GraphQLError(f"no flow for kind {kind!r}: one of {sorted(hub.config.flows)}",
                               extensions={"code": "BAD_USER_INPUT"})
        if not 1 <= first <= 100:
            raise GraphQLError("`first` must be 1 to 100", extensions={"code": "BAD_USER_INPUT"})
        now = _now(hub)
        until = self.scope.window.until or now
        since = self.scope.window.since or until - timedelta(days=7)
        async with hub.started().store.read() as conn:
            result = await process_variants(conn, hub.config, kind, since, until, now, first)
        fields = {name: value for name, value in asdict(result).items() if name != "variants"}
        return ProcessVariantsResult(**fields, variants=[
            VariantRow(**{**asdict(v), "activities": list(v.activities), "deviations": list(v.deviations)})
            for v in result.variants])

    async def _kpi(self, info: strawberry.Info, function: Any, attribute: str | None,
                   bucket: TimeBucket | None) -> list[dict[str, Any]]:
        try:
            return _masked(info, await _read(info, function, self.scope.window, attribute,
                                             bucket.value if bucket else None, self.scope.timezone), attribute, "group")
        except ValueError as exc:
            raise _bad_input(exc) from None

    @strawberry.field(description="Divergent SKUs per location and source (stock positions).")
    async def divergences(self, info: strawberry.Info) -> list[DivergenceCountRow]:
        if _divergence_counts is None:
            raise GraphQLError("stock divergence is not available in this build",
                               extensions={"code": "NOT_AVAILABLE"})
        rows = await _read(info, _divergence_counts)
        return [DivergenceCountRow(**row) for row in rows]


def _masked(info: strawberry.Info, rows: list[dict[str, Any]], attribute: str | None,
            column: str) -> list[dict[str, Any]]:
    """Rows grouped by a personal attribute (``customer_name``) with its values masked for callers below admin."""
    return mask_groups(rows, attribute, column) if masks_for(info.context) else rows


def _now(hub: Any) -> datetime:
    """The hub's clock (the app's, injectable in tests); naive UTC."""
    return hub.now()


async def _read(info: strawberry.Info, function: Any, *args: Any) -> list[dict[str, Any]]:
    async with info.context["hub"].started().store.read() as conn:
        return await function(conn, *args)


@strawberry.type
class MetricsQuery:
    @strawberry.field(description="BI aggregates. `since`/`until` bound the window (UTC), `timezone` (IANA; "
                                  "`timeZone` is the same) sets where hour and day buckets start, `source` narrows "
                                  "to one system.")
    def metrics(self, since: datetime | None = None, until: datetime | None = None, source: str | None = None,
                timezone: str = "UTC", time_zone: str | None = None) -> Metrics:
        timezone = time_zone or timezone
        try:
            mq.timezone(timezone)
        except ValueError as exc:
            raise _bad_input(exc) from None
        return Metrics(scope=_Scope(mq.Window(since and as_utc(since), until and as_utc(until), source), timezone))
