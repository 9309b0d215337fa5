"""The dashboard ``/dashboard``: deliveries and events per source over time, lag percentiles per source and
per flow step, failures and dead letters, open exceptions by type and age, the divergence heat map, source
health, and the process map for a chosen transaction kind and window.

Every number comes from a ``hub`` function (``hub.store.dashboard_queries``, ``hub.export.process_map``,
``hub.stock.queries``) that GraphQL can expose unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub import kpis
from hub.access.privacy import mask_groups
from hub.export.process_map import process_map
from hub.export.process_variants import process_variants
from hub.ingest.polling import source_health
from hub.model import TRANSACTION_KINDS
from hub.runtime import Hub
from hub.store import dashboard_queries as dq
from hub.store import inbox_log
from hub.store import metrics_queries as mq
from hub.store.unlinked import unlinked_per_source
from web import charts
from web.common import masks_personal_data, now_of, render
from web.stock import divergence_heat

# window → (span, metrics bucket); buckets are UTC hours or days, as GraphQL ``metrics`` counts them.
WINDOWS = {"6h": (timedelta(hours=6), "hour"), "24h": (timedelta(days=1), "hour"),
           "7d": (timedelta(days=7), "hour"), "30d": (timedelta(days=30), "day")}
DEFAULT_WINDOW = "24h"
STEP_ROWS = 10
_GROUPED_TILES = ("kpi_orders", "kpi_cycle", "kpi_cancel", "kpi_sla")  # rows per channel or attribute value
TILE_CAP = 20_000  # the business tiles' rates and percentiles read the newest orders of the window (GraphQL: 100,000)


def _series(rows: list[dict[str, Any]]) -> dict[str, list[tuple[datetime, float]]]:
    series: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for row in rows:
        at = datetime.fromisoformat(row["bucket"]).astimezone(UTC).replace(tzinfo=None)
        series[row["source"]].append((at, float(row["count"])))
    return dict(series)


def _failures(deliveries: list[dict[str, Any]], events: list[dict[str, Any]],
              unlinked: dict[str, int]) -> list[dict[str, Any]]:
    """Per source: deliveries, dead letters (deliveries in state dead), failed events, and the events that name
    nothing they are about (unlinked: in no transaction; all of them, not only this window's)."""
    result: dict[str, dict[str, int]] = defaultdict(lambda: {"deliveries": 0, "dead_letters": 0, "failed_events": 0,
                                                             "unlinked": 0})
    for source, count in unlinked.items():
        result[source]["unlinked"] = count
    for row in deliveries:
        result[row["source"]]["deliveries"] += row["count"]
        if row["status"] == "dead":
            result[row["source"]]["dead_letters"] += row["count"]
    for row in events:
        if row["status"] == "failed":
            result[row["source"]]["failed_events"] += row["count"]
    return [{"source": source, **values} for source, values in sorted(result.items())]


async def _business(conn: Any, hub: Hub, scope: mq.Window, by: str | None, now: datetime) -> dict[str, Any]:
    """The KPI tiles: the same functions GraphQL ``metrics`` serves (orders, cycleTimes, cancellations,
    slaAttainment, inventoryFreshness, reconciliationBacklog), per channel or per attribute ``by``."""
    facts, capped = await kpis.milestones(conn, scope, by, TILE_CAP)
    return {"kpi_orders": await kpis.orders(conn, scope, by),
            "kpi_cycle": kpis.cycle_rows(facts, capped), "kpi_cancel": kpis.cancellation_rows(facts, capped),
            "kpi_sla": await kpis.sla_attainment(conn, hub.config, now, scope, "order", by, TILE_CAP),
            "kpi_sampled": capped, "tile_cap": TILE_CAP,
            "kpi_fresh": await kpis.inventory_freshness(conn, now),
            "kpi_backlog": await mq.reconciliation_backlog(conn, now)}


def routes(hub: Hub) -> list[BaseRoute]:
    async def dashboard(request: Request) -> Response:
        window = request.query_params.get("window", DEFAULT_WINDOW)
        if window not in WINDOWS:
            window = DEFAULT_WINDOW
        by = request.query_params.get("by", "").strip()[:40] or None  # a business attribute, else the channel
        kind = request.query_params.get("kind", "order")
        if kind not in TRANSACTION_KINDS:
            kind = "order"
        span, bucket = WINDOWS[window]
        now = now_of(hub)
        step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
        until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        if bucket == "day":
            until = until.replace(hour=0) + timedelta(days=1)
        since = until - span
        scope = mq.Window(since, until)
        await inbox_log.caught_up(hub.started().store)  # delivery counts and source health see every one acknowledged
        async with hub.started().store.read() as conn:
            deliveries = await mq.counts(conn, "deliveries", ["source"], scope, bucket=bucket)
            events = await mq.counts(conn, "events", ["source"], scope, bucket=bucket)
            lag = await mq.receive_lag(conn, scope)
            step_lag = await mq.step_lag(conn, scope)
            failures = _failures(await mq.counts(conn, "deliveries", ["source", "status"], scope),
                                 await mq.counts(conn, "events", ["source", "status"], scope),
                                 await unlinked_per_source(conn))
            by_age = await dq.open_exceptions_by_age(conn, now)
            pm = await process_map(conn, kind, since, until)
            variants = await process_variants(conn, hub.config, kind, since, until, now, limit=12)
            heat = await divergence_heat(conn)
            business = await _business(conn, hub, scope, by, now)
        if masks_personal_data(request):  # tiles grouped by a personal attribute (customer_name) show it masked
            business.update({tile: mask_groups(business[tile], by, "group") for tile in _GROUPED_TILES})
        health = await source_health(hub.started().store, hub.config, now)
        ages = [label for label, _ in mq.AGE_BUCKETS]
        age_table: dict[str, dict[str, int]] = defaultdict(dict)
        for row in by_age:
            age_table[row["type"]][row["age"]] = row["count"]
        return render(request, "dashboard.html", {
            "window": window, "windows": list(WINDOWS), "kind": kind, "kinds": TRANSACTION_KINDS,
            "since": since, "until": until, "now": now,
            "deliveries_chart": charts.time_chart(_series(deliveries), since, until, step, "deliveries per source"),
            "events_chart": charts.time_chart(_series(events), since, until, step, "events per source"),
            "has_deliveries": bool(deliveries), "has_events": bool(events), "lag": lag,
            "steps": sorted(step_lag, key=lambda r: -r["count"])[:STEP_ROWS], "step_rows": len(step_lag),
            "failures": failures, "ages": ages, "age_table": dict(sorted(age_table.items())),
            "age_peak": max([r["count"] for r in by_age] + [0]), "heat": heat, "health": health, "pm": pm,
            "pm_svg": charts.process_map_svg(pm), "color": charts.heat, "by": by, "variants": variants,
            **business})

    return [Route("/dashboard", dashboard)]
