"""Business KPIs (issue 17 item 4) for GraphQL ``metrics`` and the dashboard's tiles, per channel (the source that
reported the order) or per business attribute, in hour or day buckets of the caller's IANA time zone:

- orders and order value (per currency; the placed amounts of kind ``total``), exact, grouped in SQL;
- cycle time placed → shipped and placed → delivered (p50/p90, seconds, nearest rank);
- SLA attainment per flow step: of the steps that were due, the share done within their SLA;
- cancellation rate, and the share of cancellations that came after a stock problem on the order (a failed
  reservation, allocation or pick, or a quantity or stock exception opened before the cancellation);
- inventory freshness: the age of each source's newest stock position per location;
- the reconciliation backlog by age and value is :func:`hub.store.metrics_queries.reconciliation_backlog`.

Rates and percentiles read at most :data:`SAMPLE_CAP` of the newest orders or transactions of the window and say
``sampled`` when the cap was hit; order counts and values are never sampled.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hub.exceptions import maintenance
from hub.exceptions.flows import transaction_steps
from hub.exceptions.step_outcomes import flow_key
from hub.store import Connection
from hub.store import kpi_queries as kq
from hub.store import step_outcomes as stored_outcomes
from hub.store.metrics_queries import Window, _local_bucket, bucket_start, percentile, timezone

if TYPE_CHECKING:
    from hub.config import Config

SAMPLE_CAP = 100_000
MILESTONES = ("shipped", "delivered")


def _check(bucket: str | None, tz: str) -> Any:
    if bucket not in (None, "hour", "day"):
        raise ValueError("bucket must be hour or day")
    return timezone(tz)


def money(value: Decimal | None) -> str | None:
    """A sum as decimal text with at least two places (``409.94``, ``12.500``), never ``4.1E+2``."""
    if value is None:
        return None
    exact = value.quantize(Decimal("0.0001"))
    cents = exact.quantize(Decimal("0.01"))
    return str(cents if cents == exact else exact.normalize())


async def orders(conn: Connection, window: Window, attribute: str | None = None, bucket: str | None = None,
                 tz: str = "UTC") -> list[dict[str, Any]]:
    """Rows ``{group, bucket, currency, orders, value}`` sorted by bucket, group, currency; ``currency`` is None
    for orders placed without an amount."""
    zone = _check(bucket, tz)
    totals: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, None])
    for row in await kq.order_totals(conn, window, attribute, bucket is not None):
        local = _local_bucket(row["quarter"], bucket, zone) if bucket is not None else None
        entry = totals[(local, row["group"], row["currency"])]
        entry[0] += row["orders"]
        if row["value"] is not None:
            entry[1] = (entry[1] or Decimal(0)) + row["value"]
    result = [{"group": group, "bucket": local, "currency": currency, "orders": n, "value": money(value)}
              for (local, group, currency), (n, value) in totals.items()]
    result.sort(key=lambda r: (r["bucket"] or "", str(r["group"]), str(r["currency"])))
    return result


def _buckets(facts: list[kq.OrderFacts], bucket: str | None, zone: Any) -> dict[tuple[Any, Any], list[kq.OrderFacts]]:
    grouped: dict[tuple[Any, Any], list[kq.OrderFacts]] = defaultdict(list)
    for fact in facts:
        local = bucket_start(fact.placed_at, bucket, zone) if bucket is not None else None
        grouped[(local, fact.group)].append(fact)
    return grouped


def _order(key: tuple[Any, Any]) -> tuple[str, str]:
    return (key[0] or "", str(key[1]))


async def milestones(conn: Connection, window: Window, attribute: str | None = None,
                     cap: int = SAMPLE_CAP) -> tuple[list[kq.OrderFacts], bool]:
    """The orders placed in the window (the newest ``cap``) with their milestones, for :func:`cycle_rows` and
    :func:`cancellation_rows` (read once when both are wanted); True when capped."""
    return await kq.order_facts(conn, window, attribute, cap)


async def cycle_times(conn: Connection, window: Window, attribute: str | None = None, bucket: str | None = None,
                      tz: str = "UTC") -> list[dict[str, Any]]:
    """Seconds from placed to shipped and to delivered, per group (and bucket of the placed time): rows
    ``{group, bucket, milestone, count, p50, p90, sampled}`` for orders that reached the milestone."""
    zone = _check(bucket, tz)
    return cycle_rows(*await milestones(conn, window, attribute), bucket, zone)


def cycle_rows(facts: list[kq.OrderFacts], capped: bool, bucket: str | None = None, zone: Any = None
               ) -> list[dict[str, Any]]:
    """:func:`cycle_times` over facts already read."""
    result = []
    for key, members in sorted(_buckets(facts, bucket, zone).items(), key=lambda kv: _order(kv[0])):
        for milestone in MILESTONES:
            reached = sorted((at - f.placed_at).total_seconds() for f in members
                             if (at := getattr(f, f"{milestone}_at")) is not None)
            if reached:
                result.append({"bucket": key[0], "group": key[1], "milestone": milestone, "count": len(reached),
                               "p50": percentile(reached, 50), "p90": percentile(reached, 90), "sampled": capped})
    return result


async def cancellations(conn: Connection, window: Window, attribute: str | None = None, bucket: str | None = None,
                        tz: str = "UTC") -> list[dict[str, Any]]:
    """Rows ``{group, bucket, orders, cancelled, rate, after_stock_problem, stock_share, sampled}``: ``rate`` is
    cancelled / orders, ``stock_share`` the share of the cancellations that came after a stock problem."""
    zone = _check(bucket, tz)
    return cancellation_rows(*await milestones(conn, window, attribute), bucket, zone)


def cancellation_rows(facts: list[kq.OrderFacts], capped: bool, bucket: str | None = None, zone: Any = None
                      ) -> list[dict[str, Any]]:
    """:func:`cancellations` over facts already read."""
    result = []
    for key, members in sorted(_buckets(facts, bucket, zone).items(), key=lambda kv: _order(kv[0])):
        cancelled = [f for f in members if f.cancelled_at is not None]
        after = [f for f in cancelled if f.stock_problem_at is not None and f.stock_problem_at <= f.cancelled_at]
        result.append({"bucket": key[0], "group": key[1], "orders": len(members), "cancelled": len(cancelled),
                       "rate": len(cancelled) / len(members), "after_stock_problem": len(after),
                       "stock_share": len(after) / len(cancelled) if cancelled else None, "sampled": capped})
    return result


async def sla_attainment(conn: Connection, config: Config, now: datetime, window: Window, kind: str = "order",
                         attribute: str | None = None, cap: int = SAMPLE_CAP) -> list[dict[str, Any]]:
    """Per group and flow step with an SLA: ``on_time`` (done within it), ``late`` (done after it), ``overdue``
    (not done, past due; a source's maintenance window pauses the clock as for `late` exceptions) and
    ``attainment`` = on_time / (on_time + late + overdue), None when none was due yet. Transactions of ``kind``
    whose first event is in the window count; the group is the attribute's value, or the source that reported the
    flow's first step (the channel).

    Counted in one grouped statement from the step outcomes the evaluator keeps (hub.exceptions.step_outcomes);
    only transactions without outcomes for the current flow (not evaluated since ``[flows]`` changed) are walked
    from their events, at most ``cap`` of them (``sampled`` when more), as is every transaction when the window
    names a source."""
    flow = config.flows.get(kind)
    if flow is None:
        raise ValueError(f"no flow for kind {kind!r}")
    slas = {step.name: step.sla for step in flow.steps if step.sla is not None}
    tally: dict[tuple[Any, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    if window.source is None:
        key = flow_key(config, kind) or ""
        for row in await stored_outcomes.counts(conn, kind, window, key, attribute, now):
            if row.step in slas and row.on_time + row.late + row.overdue:
                tally[(row.grp, row.step)] = [int(row.on_time), int(row.late), int(row.overdue)]
        unseen = await stored_outcomes.without_outcomes(conn, kind, window, key, cap)
        lines, capped = await kq.timelines_of(conn, unseen[:cap], attribute), len(unseen) > cap
    else:
        lines, capped = await kq.timelines(conn, kind, window, attribute, cap)
    paused = await maintenance.paused_at(conn, config, now)
    for line in lines:
        if window.source is not None and window.source not in {e.source for e in line.events}:
            continue
        states = transaction_steps(config, kind, line.events, now, paused)
        group = line.group if attribute is not None else _channel(line, flow.steps[0].types)
        for state in states:
            sla = slas.get(state.name)
            if sla is None:
                continue
            if state.status == "done" and state.lag_seconds is not None:
                tally[(group, state.name)][0 if state.lag_seconds <= sla.total_seconds() else 1] += 1
            elif state.status == "overdue":
                tally[(group, state.name)][2] += 1
    order = {step.name: index for index, step in enumerate(flow.steps)}
    result = []
    for (group, step), (on_time, late, overdue) in sorted(tally.items(), key=lambda kv: (str(kv[0][0]),
                                                                                         order[kv[0][1]])):
        due = on_time + late + overdue
        result.append({"group": group, "step": step, "sla_seconds": slas[step].total_seconds(), "on_time": on_time,
                       "late": late, "overdue": overdue, "attainment": on_time / due if due else None,
                       "sampled": capped})
    return result


def _channel(line: kq.Timeline, first_types: tuple[str, ...]) -> str | None:
    return next((e.source for e in line.events if e.type in first_types), None)


async def inventory_freshness(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Per source and location: the newest position's time, its age in seconds at ``now``, how many positions."""
    return [{**row, "age_seconds": max(0.0, (now - row["latest"]).total_seconds())}
            for row in await kq.latest_positions(conn)]
