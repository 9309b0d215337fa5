"""Aggregates for BI tools and the dashboard: flat rows of counts, lag percentiles and the reconciliation backlog.

Every function takes a read connection and returns a list of plain dicts (one flat row each), so a Grafana
Infinity or Power BI user can table them without reshaping.

- Counts group in SQL. Time buckets in the caller's IANA timezone: SQL groups by the UTC quarter hour (every
  zone's offset is a multiple of 15 minutes), Python maps each quarter to the local hour or day and sums, so
  daylight-saving days come out right on both SQLite and PostgreSQL.
- Percentiles (nearest rank) are computed in Python over a bounded fetch: at most :data:`SAMPLE_CAP` of the
  newest rows in the window; each row says how many samples it used, and ``sampled`` when the cap was hit.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Integer, Text, and_, case, cast, func, literal, select
from sqlalchemy.dialects.postgresql import NUMERIC
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.backlog_counts import UNRESOLVED_MISMATCHES, contribution
from hub.store.exception_counts import HOURLY, counted_statuses, hour_of, opened_in_hours
from hub.store.exception_queries import counted
from hub.store.tables import (
    backlog_counts,
    backlog_counts_daily,
    deliveries,
    events,
    exception_counts,
    exception_counts_hourly,
    exceptions,
    transaction_attributes,
    transactions,
)

SAMPLE_CAP = 100_000
MAX_GROUP_ROWS = 200_000  # grouped rows fetched before the caller is asked for a narrower window
QUARTER = 900
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("<1h", timedelta(hours=1)), ("1h-24h", timedelta(days=1)), ("1d-7d", timedelta(days=7)), (">7d", None))

# subject → (table, time column, {dimension: column}); a dimension a subject lacks is a ValueError.
_SUBJECTS: dict[str, tuple[Any, Any, dict[str, Any]]] = {
    "deliveries": (deliveries, deliveries.c.received_at, {"source": deliveries.c.source,
                                                          "status": deliveries.c.state}),
    "events": (events, events.c.occurred_at, {"source": events.c.source, "type": events.c.type,
                                              "status": events.c.status}),
    "transactions": (transactions, transactions.c.first_at, {"kind": transactions.c.kind}),
    "exceptions": (exceptions, exceptions.c.opened_at, {"source": exceptions.c.system, "type": exceptions.c.type,
                                                        "kind": exceptions.c.tx_kind,
                                                        "status": exceptions.c.status}),
}
DIMENSIONS = ("source", "type", "kind", "status")
_TX_OF = {"events": events.c.tx_id, "transactions": transactions.c.id, "exceptions": exceptions.c.tx_id}
_COUNTED = {"source": exception_counts.c.system, "type": exception_counts.c.type, "kind": exception_counts.c.tx_kind,
            "status": exception_counts.c.status}


@dataclass(frozen=True, slots=True)
class Window:
    """Rows whose time (UTC, naive) is in ``[since, until)``; either end may be open."""

    since: datetime | None = None
    until: datetime | None = None
    source: str | None = None


def timezone(name: str) -> ZoneInfo:
    """The IANA zone; ``ValueError`` naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA timezone {name!r} (use names such as Europe/Berlin or UTC)") from None


def epoch_seconds(conn: AsyncConnection, column: Any) -> Any:
    """Seconds since 1970 of a naive-UTC datetime column, in the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), Integer)
    return cast(func.strftime("%s", column), Integer)


def _where(query: Any, time_column: Any, window: Window, source_column: Any | None) -> Any:
    if window.since is not None:
        query = query.where(time_column >= window.since)
    if window.until is not None:
        query = query.where(time_column < window.until)
    if window.source is not None:
        if source_column is None:
            raise ValueError("this subject cannot be filtered by source")
        query = query.where(source_column == window.source)
    return query


async def counts(conn: AsyncConnection, subject: str, group_by: Sequence[str], window: Window = Window(),
                 bucket: str | None = None, tz: str = "UTC", attribute: str | None = None) -> list[dict[str, Any]]:
    """Rows ``{<dimension>: value, …, "bucket": local start (ISO 8601 with offset) or None, "count": n}``.

    ``subject`` is deliveries, events, transactions or exceptions; ``group_by`` any of source, type, kind,
    status the subject has (transactions by source count each transaction once per source that reported on
    it); ``bucket`` hour or day in ``tz``; ``attribute`` names a business attribute to group by as well (rows
    get ``"attribute"``: its value on the row's transaction, None where it has none). Sorted by bucket, then the
    dimensions.
    """
    if subject not in _SUBJECTS:
        raise ValueError(f"unknown subject {subject!r}: one of {sorted(_SUBJECTS)}")
    if bucket not in (None, "hour", "day"):
        raise ValueError("bucket must be hour or day")
    zone = timezone(tz)
    table, time_column, columns = _SUBJECTS[subject]
    if attribute is not None:
        if subject not in _TX_OF:
            raise ValueError(f"{subject} have no transaction to take attribute {attribute!r} from")
        attrs = transaction_attributes.alias("attr")
        table = table.outerjoin(attrs, and_(attrs.c.tx_id == _TX_OF[subject], attrs.c.name == attribute))
        columns = {**columns, "attribute": attrs.c.value}
        group_by = [*group_by, "attribute"]
    elif subject == "exceptions" and bucket is None and window.since is None and window.until is None:
        return await _counted_exceptions(conn, group_by, window.source)
    if subject == "exceptions" and attribute is None:
        hourly = await _hourly_exceptions(conn, group_by, window, bucket, zone)
        if hourly is not None:
            return hourly
    count: Any = func.count()
    source_column = columns.get("source")
    if subject == "transactions" and ("source" in group_by or window.source is not None):
        # A transaction's sources are its events' sources: count distinct transactions per source.
        columns = {**columns, "source": events.c.source}
        source_column = events.c.source
        table = table.join(events, events.c.tx_id == transactions.c.id)
        count = func.count(transactions.c.id.distinct())
    for name in group_by:
        if name not in columns:
            raise ValueError(f"{subject} cannot be grouped by {name!r}: use {sorted(columns)}")
    dims = list(dict.fromkeys(group_by))
    selected = [columns[name].label(name) for name in dims]
    if bucket is not None:
        selected.append((epoch_seconds(conn, time_column) // QUARTER).label("quarter"))
    query = _where(select(*selected, count.label("count")).select_from(table), time_column, window, source_column)
    if selected:
        query = query.group_by(*selected)
    rows = (await conn.execute(query.limit(MAX_GROUP_ROWS + 1))).all()
    if len(rows) > MAX_GROUP_ROWS:
        raise ValueError(f"more than {MAX_GROUP_ROWS} groups: narrow the window (since/until) or group by less")
    totals: dict[tuple[Any, ...], int] = defaultdict(int)
    for row in rows:
        local = _local_bucket(row.quarter, bucket, zone) if bucket is not None else None
        totals[(*(getattr(row, name) for name in dims), local)] += int(row.count)
    result = [{**dict(zip(dims, key[:-1], strict=True)), "bucket": key[-1], "count": n} for key, n in totals.items()]
    result.sort(key=lambda r: (r["bucket"] or "", *(str(r[name]) for name in dims)))
    return result


async def _counted_exceptions(conn: AsyncConnection, group_by: Sequence[str],
                              source: str | None) -> list[dict[str, Any]]:
    """Exception counts with no time window, from the maintained counters (the same rows :func:`counts` gives)."""
    dims = list(dict.fromkeys(group_by))
    for name in dims:
        if name not in _COUNTED:
            raise ValueError(f"exceptions cannot be grouped by {name!r}: use {sorted(_COUNTED)}")
    conditions = [exception_counts.c.n != 0] + ([exception_counts.c.system == source] if source is not None else [])
    rows = await counted(conn, conditions, {name: _COUNTED[name] for name in dims})
    result = [{**{name: row[name] for name in dims}, "bucket": None, "count": row["count"]} for row in rows]
    result.sort(key=lambda r: tuple(str(r[name]) for name in dims))
    return result or ([] if dims else [{"bucket": None, "count": 0}])  # no dimension: one total row, as in SQL


async def _hourly_exceptions(conn: AsyncConnection, group_by: Sequence[str], window: Window, bucket: str | None,
                             zone: ZoneInfo) -> list[dict[str, Any]] | None:
    """The same rows as :func:`counts` from the hourly counters, the (at most two) hours a window edge cuts counted
    from their rows; or None when they cannot answer exactly: more than one dimension, a source filter beside
    another dimension, or a zone whose offset is not whole hours (its local hours split UTC ones)."""
    dims = list(dict.fromkeys(group_by))
    if len(dims) > 1 or any(name not in HOURLY for name in dims):
        return None
    if window.source is not None and dims not in ([], ["source"]):
        return None
    cut = sorted({hour_of(edge) for edge in (window.since, window.until)
                  if edge is not None and edge != edge.replace(minute=0, second=0, microsecond=0)})
    h = exception_counts_hourly.c
    dim = dims[0] if dims else ("source" if window.source is not None else "")
    query = select(h.hour, h.value, func.sum(h.n).label("n")).where(h.dim == dim)
    if window.source is not None:
        query = query.where(h.value == window.source)
    if window.since is not None:
        query = query.where(h.hour >= hour_of(window.since) + (1 if hour_of(window.since) in cut else 0))
    if window.until is not None:
        query = query.where(h.hour < hour_of(window.until))
    counted = [tuple(row) for row in await conn.execute(query.group_by(h.hour, h.value).having(func.sum(h.n) != 0))]
    if cut:
        counted += await _cut_hours(conn, dims, window, cut)
    totals: dict[tuple[Any, str | None], int] = defaultdict(int)
    for hour, value, n in counted:
        local = None
        if bucket is not None:
            offset = datetime.fromtimestamp(hour * 3600, UTC).astimezone(zone).utcoffset() or timedelta()
            if offset % timedelta(hours=1):
                return None
            local = _local_bucket(hour * 4, bucket, zone)
        totals[((value or None) if dims else None, local)] += int(n)
    result = [{**({dims[0]: value} if dims else {}), "bucket": local, "count": n}
              for (value, local), n in totals.items() if n]
    result.sort(key=lambda r: (r["bucket"] or "", *(str(r[name]) for name in dims)))
    if not result and not dims and bucket is None:
        return [{"bucket": None, "count": 0}]  # one total row, as SQL's count without GROUP BY gives
    return result


async def _cut_hours(conn: AsyncConnection, dims: list[str], window: Window, cut: list[int]) -> list[tuple[Any, ...]]:
    """(hour, value, n) of the exceptions in the window opened in the ``cut`` hours (an index range each)."""
    _, time_column, columns = _SUBJECTS["exceptions"]
    found = []
    for hour in cut:
        grouped = [columns[name] for name in dims]
        query = _where(select(*grouped, func.count()).where(opened_in_hours([hour]), counted_statuses([hour])),
                       time_column, window, columns["source"])
        rows = await conn.execute(query.group_by(*grouped) if grouped else query)
        found += [(hour, row[0] if dims else None, row[-1]) for row in rows]
    return found


def bucket_start(moment: datetime, bucket: str, zone: ZoneInfo) -> str:
    """The local start (ISO 8601 with offset) of the hour or day in ``zone`` that holds a naive-UTC moment."""
    return _local_bucket(int(moment.replace(tzinfo=UTC).timestamp()) // QUARTER, bucket, zone)


def _local_bucket(quarter: int, bucket: str | None, zone: ZoneInfo) -> str:
    local = datetime.fromtimestamp(int(quarter) * QUARTER, UTC).astimezone(zone)
    start = local.replace(minute=0, second=0, microsecond=0)  # keeps the offset (and fold) of that hour
    if bucket == "day":
        # Re-attach the zone so the offset is the one in force at local midnight (DST days).
        start = start.replace(hour=0, tzinfo=None).replace(tzinfo=zone)
    return start.isoformat()


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None for no values)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _summary(values: list[float], capped: bool) -> dict[str, Any]:
    values.sort()
    return {"count": len(values), "p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "max": values[-1] if values else None, "sampled": capped}


async def receive_lag(conn: AsyncConnection, window: Window = Window()) -> list[dict[str, Any]]:
    """Per source, seconds from ``occurred_at`` (the source's clock) to ``received_at`` (ours), for events that
    occurred in the window: rows ``{source, count, p50, p90, p99, max, sampled}``."""
    query = _where(select(events.c.source, events.c.occurred_at, events.c.received_at), events.c.occurred_at,
                   window, events.c.source)
    rows = (await conn.execute(query.order_by(events.c.occurred_at.desc()).limit(SAMPLE_CAP + 1))).all()
    capped = len(rows) > SAMPLE_CAP
    lags: dict[str, list[float]] = defaultdict(list)
    for row in rows[:SAMPLE_CAP]:
        lags[row.source].append((row.received_at - row.occurred_at).total_seconds())
    return [{"source": source, **_summary(values, capped)} for source, values in sorted(lags.items())]


async def step_lag(conn: AsyncConnection, window: Window = Window(), from_type: str | None = None,
                   to_type: str | None = None) -> list[dict[str, Any]]:
    """Seconds between consecutive flow steps on a transaction's timeline, per path.

    A step is the first event of each type on a transaction (timeline order: occurred_at, received_at); a path
    is (from step, its source) → (to step, its source). Transactions whose first event is in the window count.
    ``from_type``/``to_type`` keep only one pair (then not necessarily adjacent: A's first event to B's).
    Rows ``{from_type, from_source, to_type, to_source, count, p50, p90, p99, max, sampled}``.
    """
    tx_ids = _where(select(transactions.c.id), transactions.c.first_at, Window(window.since, window.until), None)
    query = (select(events.c.tx_id, events.c.type, events.c.source, events.c.occurred_at)
             .where(events.c.tx_id.in_(tx_ids.order_by(transactions.c.id.desc()).limit(SAMPLE_CAP).scalar_subquery()))
             .order_by(events.c.tx_id, events.c.occurred_at, events.c.received_at, events.c.id)
             .limit(SAMPLE_CAP * 5 + 1))
    rows = (await conn.execute(query)).all()
    capped = len(rows) > SAMPLE_CAP * 5
    steps: dict[str, list[Any]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for row in rows[:SAMPLE_CAP * 5]:
        if (row.tx_id, row.type) not in seen:
            seen.add((row.tx_id, row.type))
            steps[row.tx_id].append(row)
    lags: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
    for timeline in steps.values():
        if from_type is not None or to_type is not None:
            by_type = {row.type: row for row in timeline}
            pairs = [(by_type[from_type], by_type[to_type])] if from_type in by_type and to_type in by_type else []
        else:
            pairs = list(zip(timeline, timeline[1:], strict=False))
        for a, b in pairs:
            if window.source is not None and window.source not in (a.source, b.source):
                continue
            lags[(a.type, a.source, b.type, b.source)].append((b.occurred_at - a.occurred_at).total_seconds())
    return [{"from_type": k[0], "from_source": k[1], "to_type": k[2], "to_source": k[3], **_summary(v, capped)}
            for k, v in sorted(lags.items())]


def _age_bucket(age: timedelta) -> str:
    for name, limit in AGE_BUCKETS:
        if limit is None or age < limit:
            return name
    return AGE_BUCKETS[-1][0]


async def reconciliation_backlog(conn: AsyncConnection, now: datetime) -> list[dict[str, Any]]:
    """Unmatched amounts from open (or acknowledged) amount mismatches, per currency and age since opened.

    Rows ``{currency, age, exceptions, unmatched}``: ``unmatched`` is the sum of absolute differences (a
    decimal string); age buckets are <1h, 1h-24h, 1d-7d, >7d. Read from the backlog counters
    (:mod:`hub.store.backlog_counts`): per day for the days before the oldest edge's, per hour after it; summed per
    bucket by PostgreSQL, in Python on SQLite (no exact decimal sum there); the (at most three) hours an age edge cuts
    are counted from their rows.
    """
    edges = [(name, hour_of(now - limit)) for name, limit in AGE_BUCKETS if limit is not None]
    cut = {hour for _, hour in edges}
    oldest, first_hourly_day = AGE_BUCKETS[-1][0], min(cut) // 24
    counted: dict[tuple[str, str], int] = defaultdict(int)
    amounts: dict[tuple[str, str], list[Any]] = defaultdict(list)  # decimal texts or Decimals, summed once
    b, d = backlog_counts.c, backlog_counts_daily.c
    # an hour no edge cuts is wholly younger than the first edge it is after
    age = case(*((b.hour > edge, name) for name, edge in edges), else_=oldest).label("age")
    hours = select(b.currency, age, b.n, b.unmatched).where(b.n > 0, b.hour >= first_hourly_day * 24,
                                                             b.hour.not_in(cut))
    days = select(d.currency, literal(oldest).label("age"), d.n, d.unmatched).where(d.n > 0,
                                                                                 d.day < first_hourly_day)
    for part in (hours, days):
        if conn.dialect.name == "postgresql":  # summed there (numeric is exact): a row per currency and age
            part = part.subquery()
            part = select(part.c.currency, part.c.age, func.sum(part.c.n),
                          cast(func.sum(cast(part.c.unmatched, NUMERIC)), Text)).group_by(part.c.currency, part.c.age)
        for currency, label, n, unmatched in await conn.execute(part):
            counted[(currency, label)] += n
            amounts[(currency, label)].append(unmatched)
    rows = UNRESOLVED_MISMATCHES.where(opened_in_hours(cut))
    for row in await conn.execute(rows):
        found = contribution(row.evidence)
        if found is not None:
            key = (found[0], _age_bucket(now - row.opened_at))
            counted[key] += 1
            amounts[key].append(found[1])
    order = {name: i for i, (name, _) in enumerate(AGE_BUCKETS)}
    return [{"currency": currency, "age": age, "exceptions": counted[(currency, age)],
             "unmatched": str(sum(map(Decimal, amounts[(currency, age)])))}
            for currency, age in sorted(counted, key=lambda key: (key[0], order[key[1]]))]
