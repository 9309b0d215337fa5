"""The exception counters equal a fresh GROUP BY after any sequence of opens, refreshes, acknowledgements,
assignments, resolutions and reopens (hypothesis, on an SQLite file and the real PostgreSQL); and the counts
read from them equal the counts over the rows."""

from __future__ import annotations

import asyncio
import importlib.util
import tempfile
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from hub.access.privacy import redactor
from hub.exceptions.lifecycle import Finding, act, clear_exception, raise_exception
from hub.store import Store
from hub.store import dashboard_queries as dq
from hub.store import erasure as stored_erasure
from hub.store import exception_queries as xq
from hub.store import metrics_queries as mq
from hub.store.engine import MIGRATIONS
from hub.store.exception_counts import DIMS, UNRESOLVED_BY_TYPE, hour_of, rebuild
from hub.store.tables import backlog_counts_daily, exception_counts, exception_counts_hourly, exceptions
from tests.conftest import PG_URL, pg_execute

T0 = datetime(2026, 11, 1)
SUBJECTS = ["tx_1", "tx_2", "tx_3"]
RULES = {"sla": "late", "amount": "amount_mismatch"}
DIFFERENCES = ("1.50", "-2.25", "n/a")  # an unreadable difference is left out of the backlog

a_raise = st.tuples(st.just("raise"), st.sampled_from(sorted(RULES)), st.sampled_from(SUBJECTS),
                    st.sampled_from(["warning", "error", "critical"]), st.sampled_from([None, "order", "transfer"]),
                    st.sampled_from([None, "erp", "wms"]), st.integers(0, 2))
a_person = st.tuples(st.sampled_from(["acknowledged", "resolved", "assigned"]), st.sampled_from(sorted(RULES)),
                     st.sampled_from(SUBJECTS))
a_clear = st.tuples(st.just("clear"), st.sampled_from(sorted(RULES)), st.sampled_from(SUBJECTS))
operations = st.lists(st.one_of(a_raise, a_person, a_clear), min_size=1, max_size=25)


async def fresh_counts(conn: Any) -> dict[tuple[str, ...], int]:
    columns = [func.coalesce(exceptions.c[d], "") for d in DIMS]
    rows = await conn.execute(select(*columns, func.count()).group_by(*columns))
    return {tuple(row[:-1]): row[-1] for row in rows}


async def kept_counts(conn: Any) -> dict[tuple[str, ...], int]:
    rows = await conn.execute(select(*(exception_counts.c[d] for d in DIMS), exception_counts.c.n)
                              .where(exception_counts.c.n != 0))
    return {tuple(row[:-1]): row[-1] for row in rows}


async def fresh_hourly(conn: Any) -> dict[tuple[str, int, str], int]:
    """The hourly counters counted over the rows in Python: every dimension, and the unresolved ones by type."""
    found: dict[tuple[str, int, str], int] = {}
    for row in await conn.execute(select(exceptions)):
        hour = hour_of(row.opened_at)
        keys = [("", ""), ("status", row.status), ("type", row.type), ("source", row.system or ""),
                ("kind", row.tx_kind or "")] + ([(UNRESOLVED_BY_TYPE, row.type)] if row.status != "resolved" else [])
        for dim, value in keys:
            found[(dim, hour, value)] = found.get((dim, hour, value), 0) + 1
    return found


async def kept_hourly(conn: Any) -> dict[tuple[str, int, str], int]:
    h = exception_counts_hourly.c
    return {(row.dim, row.hour, row.value): row.n
            for row in await conn.execute(select(h.dim, h.hour, h.value, h.n).where(h.n != 0))}


async def fresh_backlog_days(conn: Any) -> dict[tuple[str, int], tuple[int, Decimal]]:
    """The backlog per currency and day opened, summed over the rows in Python."""
    return await summed_backlog(conn, lambda opened_at: hour_of(opened_at) // 24)


async def summed_backlog(conn: Any, period: Any) -> dict[tuple[str, Any], tuple[int, Decimal]]:
    """Unresolved amount mismatches over the rows, per currency and ``period(opened_at)``: (how many, sum of |diff|)."""
    found: dict[tuple[str, Any], tuple[int, Decimal]] = {}
    for row in await conn.execute(select(exceptions.c.opened_at, exceptions.c.evidence)
                                  .where(exceptions.c.type == "amount_mismatch", exceptions.c.status != "resolved")):
        try:
            difference = abs(Decimal(str(row.evidence.get("difference", "0"))))
        except InvalidOperation:
            continue
        key = (str(row.evidence.get("currency") or "?"), period(row.opened_at))
        n, total = found.get(key, (0, Decimal(0)))
        found[key] = (n + 1, total + difference)
    return found


async def kept_backlog_days(conn: Any) -> dict[tuple[str, int], tuple[int, Decimal]]:
    d = backlog_counts_daily.c
    return {(row.currency, row.day): (row.n, Decimal(row.unmatched))
            for row in await conn.execute(select(d.currency, d.day, d.n, d.unmatched).where(d.n != 0))}


async def play(store: Store, ops: list[tuple[Any, ...]]) -> None:
    for i, op in enumerate(ops):
        now = T0 + timedelta(minutes=23 * i)  # a few hours: hourly counters and the hours a bound cuts
        async with store.write() as conn:
            if op[0] == "raise":
                _, rule, subject, severity, tx_kind, system, value = op
                evidence = {"value": value} if rule == "sla" else {  # a refresh can change the difference
                    "value": value, "difference": DIFFERENCES[value], "currency": ("EUR", "USD", "EUR")[value]}
                await raise_exception(conn, Finding(rule, RULES[rule], severity, subject, f"{rule} on {subject}",
                                                    evidence, subject, tx_kind, system,
                                                    system and f"{system}-kind"), now=now)
            elif op[0] == "clear":
                await clear_exception(conn, rule=op[1], subject=op[2])
            else:
                latest = (await conn.execute(select(exceptions.c.id).where(exceptions.c.key == f"{op[1]}|{op[2]}")
                                             .order_by(exceptions.c.opened_at.desc()).limit(1))).scalar()
                if latest is not None:
                    await act(conn, [latest], actor="ana", action=op[0], assignee="bo")


async def check_case(store: Store, ops: list[tuple[Any, ...]]) -> None:
    await play(store, ops)
    async with store.read() as conn:
        assert await kept_counts(conn) == await fresh_counts(conn)
        assert await kept_hourly(conn) == await fresh_hourly(conn)
        assert await kept_backlog_days(conn) == await fresh_backlog_days(conn)
        rows = (await conn.execute(select(exceptions))).all()
        for by in (["type", "status"], ["source", "severity", "tx_kind"], ["queue", "system_kind"], ["source"], []):
            for flt in (xq.ExceptionFilter(), xq.ExceptionFilter(status=("open", "acknowledged")),
                        xq.ExceptionFilter(type=("late",), source="erp")):
                for checked in (flt, replace(flt, since=T0 - timedelta(days=1))):  # the counters; hourly or rows
                    assert grouped(await xq.group_counts(conn, checked, T0, by), by) == scanned_groups(
                        rows, checked, T0, by)
                    assert await xq.count_exceptions(conn, checked, T0) == scanned_count(rows, checked, T0)
        for flt in TIME_BOUNDED:
            assert await xq.count_exceptions(conn, flt, LATER) == scanned_count(rows, flt, LATER), flt
            for by in (["status"], ["type"], ["source"], ["tx_kind"], ["severity"], []):
                assert grouped(await xq.group_counts(conn, flt, LATER, by), by) == scanned_groups(
                    rows, flt, LATER, by), (flt, by)
        unresolved = (await conn.execute(select(exceptions.c.type, exceptions.c.opened_at)
                                         .where(exceptions.c.status != "resolved"))).all()
        for now in (T0, T0 + timedelta(minutes=70), T0 + timedelta(days=2), T0 + timedelta(days=7, hours=5),
                    T0 + timedelta(days=9)):
            expected: dict[tuple[str, str], int] = {}
            for row in unresolved:
                age = next((label for label, limit in mq.AGE_BUCKETS if limit is not None
                            and row.opened_at > now - limit), mq.AGE_BUCKETS[-1][0])
                expected[(row.type, age)] = expected.get((row.type, age), 0) + 1
            assert {(r["type"], r["age"]): r["count"] for r in await dq.open_exceptions_by_age(conn, now)} == expected
            assert {(r["currency"], r["age"]): (r["exceptions"], Decimal(r["unmatched"]))
                    for r in await mq.reconciliation_backlog(conn, now)} == await scanned_backlog(conn, now)
        windows = [(T0 - timedelta(days=1), T0 + timedelta(days=2)),  # whole hours
                   (T0 - timedelta(seconds=1), T0 + timedelta(days=2)),  # an edge inside an hour: its rows
                   (T0 + timedelta(minutes=50), T0 + timedelta(hours=4, minutes=10)),  # both edges cut an hour
                   (T0 + timedelta(minutes=10), T0 + timedelta(minutes=40)),  # both in one hour
                   (T0 + timedelta(hours=2, minutes=30), None), (None, T0 + timedelta(hours=3, minutes=20))]
        for group_by, source in ((["type"], None), (["status"], None), (["source"], None), (["kind"], None),
                                 ([], None), ([], "erp"), (["source"], "wms")):
            for bucket, tz in ((None, "UTC"), ("hour", "UTC"), ("day", "Europe/Berlin"), ("day", "Asia/Kolkata")):
                for since, until in windows:
                    window = mq.Window(since, until, source)
                    assert metric_counts(await mq.counts(conn, "exceptions", group_by, window, bucket, tz),
                                         group_by) == scanned_metrics(rows, group_by, window, bucket, tz), (
                        group_by, window, bucket, tz)
        for group_by in (["type", "status"], ["source", "kind"], []):
            assert await mq.counts(conn, "exceptions", group_by) == await mq.counts(
                conn, "exceptions", group_by, mq.Window(since=T0 - timedelta(days=1)))


LATER = T0 + timedelta(hours=9, minutes=50)
TIME_BOUNDED = [xq.ExceptionFilter(status=("open",), older_than=timedelta(hours=3, minutes=10)),
                xq.ExceptionFilter(status=("open", "acknowledged"), older_than=timedelta(minutes=90),
                                   since=T0 + timedelta(minutes=50)),
                xq.ExceptionFilter(type=("late",), since=T0 + timedelta(hours=2, minutes=5)),
                xq.ExceptionFilter(source="erp", until=T0 + timedelta(hours=4, minutes=30)),
                xq.ExceptionFilter(tx_kind="order", older_than=timedelta(hours=1)),
                xq.ExceptionFilter(since=T0 + timedelta(minutes=10), until=T0 + timedelta(hours=6, minutes=1)),
                xq.ExceptionFilter(status=("resolved",), since=T0 + timedelta(hours=8), until=T0),  # empty range
                xq.ExceptionFilter(status=("open",), type=("late",), older_than=timedelta(hours=2))]  # two dims


def matching(rows: list[Any], flt: xq.ExceptionFilter, now: datetime) -> list[Any]:
    """The rows a filter of status, type, source, transaction kind and time bounds keeps (read in Python)."""
    return [row for row in rows if (not flt.status or row.status in flt.status)
            and (not flt.type or row.type in flt.type) and flt.source in (None, row.system)
            and flt.tx_kind in (None, row.tx_kind)
            and (flt.older_than is None or row.opened_at <= now - flt.older_than)
            and (flt.since is None or row.opened_at >= flt.since)
            and (flt.until is None or row.opened_at < flt.until)]


def scanned_count(rows: list[Any], flt: xq.ExceptionFilter, now: datetime) -> int:
    return len(matching(rows, flt, now))


def scanned_groups(rows: list[Any], flt: xq.ExceptionFilter, now: datetime,
                   by: list[str]) -> dict[tuple[Any, ...], int]:
    """The rows a filter keeps, counted per value of ``by`` (source is the ``system`` column)."""
    found: dict[tuple[Any, ...], int] = {}
    for row in matching(rows, flt, now):
        key = tuple(getattr(row, "system" if name == "source" else name) for name in by)
        found[key] = found.get(key, 0) + 1
    return found


def grouped(counts: list[dict[str, Any]], by: list[str]) -> dict[tuple[Any, ...], int]:
    """``group_counts`` rows as {values: count}, no zero (an empty total)."""
    return {tuple(row[name] for name in by): row["count"] for row in counts if row["count"]}


METRIC_COLUMNS = {"type": "type", "status": "status", "source": "system", "kind": "tx_kind"}


def scanned_metrics(rows: list[Any], group_by: list[str], window: mq.Window, bucket: str | None,
                    tz: str) -> dict[tuple[Any, ...], int]:
    """What ``metrics`` counts of exceptions must answer, counted over the rows in Python."""
    found: dict[tuple[Any, ...], int] = {}
    for row in rows:
        if ((window.since is not None and row.opened_at < window.since)
                or (window.until is not None and row.opened_at >= window.until)
                or window.source not in (None, row.system)):
            continue
        key = (*(getattr(row, METRIC_COLUMNS[name]) for name in group_by),
               bucket and mq.bucket_start(row.opened_at, bucket, mq.timezone(tz)))
        found[key] = found.get(key, 0) + 1
    return found


def metric_counts(counts: list[dict[str, Any]], group_by: list[str]) -> dict[tuple[Any, ...], int]:
    """``metrics`` count rows as {(values…, bucket): count}, no zero (an empty total)."""
    return {(*(row[name] for name in group_by), row["bucket"]): row["count"] for row in counts if row["count"]}


async def scanned_backlog(conn: Any, now: datetime) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """The reconciliation backlog summed over the rows (what the counters must answer)."""
    return await summed_backlog(conn, lambda opened_at: next((
        label for label, limit in mq.AGE_BUCKETS if limit is not None and opened_at > now - limit),
        mq.AGE_BUCKETS[-1][0]))


async def run_case(engine: str, ops: list[tuple[Any, ...]]) -> None:
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            store = await Store.open(f"sqlite+aiosqlite:///{folder}/c.db")
            try:
                await check_case(store, ops)
            finally:
                await store.close()
        return
    schema = f"c_{uuid.uuid4().hex[:10]}"
    await pg_execute(f'CREATE SCHEMA "{schema}"')
    try:
        store = await Store.open(PG_URL, search_path=schema)
        try:
            await check_case(store, ops)
        finally:
            await store.close()
    finally:
        await pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.parametrize("engine, examples", [("sqlite", 40), ("postgres", 10)])
def test_counters_equal_a_fresh_group_by(engine: str, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=operations)
    def check(ops: list[tuple[Any, ...]]) -> None:
        asyncio.run(run_case(engine, ops))

    check()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_backlog_follows_a_changed_difference_acknowledgement_and_resolution(engine: str) -> None:
    """The reconciliation backlog's counters move with a refresh that changes the difference and currency."""
    raised = [("raise", "amount", "tx_1", "error", None, None, value) for value in (0, 1, 2, 0)]
    asyncio.run(run_case(engine, [*raised, ("acknowledged", "amount", "tx_1"), raised[1],
                                  ("resolved", "amount", "tx_1"), raised[0], ("raise", "amount", "tx_2", "error", None,
                                                                              None, 1)]))


@pytest.mark.asyncio
async def test_rebuild_counts_rows_written_around_the_hub(store: Store) -> None:
    """A bulk load that bypassed hub.exceptions.lifecycle (a restore, the bench) is counted afresh by ``rebuild``."""
    async with store.write() as conn:
        await conn.execute(exceptions.insert(), [
            {"id": f"exc_{i}", "type": "late", "severity": "warning", "rule": "sla", "subject": f"tx_{i}",
             "key": f"sla|tx_{i}", "status": "open" if i % 3 else "resolved", "message": "late", "evidence": {},
             "system": "erp" if i % 2 else None, "opened_at": T0, "updated_at": T0} for i in range(7)])
        await conn.execute(exceptions.insert(), [
            {"id": f"exc_m{i}", "type": "amount_mismatch", "severity": "error", "rule": "amount", "subject": f"tx_{i}",
             "key": f"amount|tx_{i}", "status": "open" if i % 3 else "resolved", "message": "amount",
             "evidence": {"difference": f"-{i}.5", "currency": "EUR"}, "opened_at": T0 - timedelta(hours=i),
             "updated_at": T0} for i in range(5)])
        await rebuild(conn)
    async with store.read() as conn:
        assert await kept_counts(conn) == await fresh_counts(conn)
        assert await kept_hourly(conn) == await fresh_hourly(conn)
        assert await xq.count_exceptions(conn, xq.ExceptionFilter(status=("open",)), T0) == 7
        later = T0 + timedelta(days=1)
        assert await scanned_backlog(conn, later) == {("EUR", "1d-7d"): (3, Decimal("8.5"))}
        assert {(r["currency"], r["age"]): (r["exceptions"], Decimal(r["unmatched"]))
                for r in await mq.reconciliation_backlog(conn, later)} == await scanned_backlog(conn, later)


@pytest.mark.asyncio
async def test_migration_counts_the_unresolved_exceptions_by_hour_and_type(store: Store) -> None:
    """The migration that adds the hourly unresolved-by-type counters fills them from the rows already stored."""
    await _insert_around_the_hub(store)
    async with store.write() as conn:
        await conn.execute(delete(exception_counts_hourly).where(exception_counts_hourly.c.dim == UNRESOLVED_BY_TYPE))
        await conn.run_sync(_run_upgrade, _migration("unresolved_by_type_hourly"))
    async with store.read() as conn:
        kept = {key: n for key, n in (await kept_hourly(conn)).items() if key[0] == UNRESOLVED_BY_TYPE}
        assert kept and kept == {key: n for key, n in (await fresh_hourly(conn)).items()
                                 if key[0] == UNRESOLVED_BY_TYPE}
        assert await dq.open_exceptions_by_age(conn, T0 + timedelta(minutes=30)) != []


async def _insert_around_the_hub(store: Store) -> None:
    async with store.write() as conn:
        await conn.execute(exceptions.insert(), [
            {"id": f"exc_{i}", "type": ("late", "failed")[i % 2], "severity": "warning", "rule": "sla",
             "subject": f"tx_{i}", "key": f"sla|tx_{i}", "status": ("open", "acknowledged", "resolved")[i % 3],
             "message": "late", "evidence": {}, "opened_at": T0 - timedelta(minutes=37 * i), "updated_at": T0}
            for i in range(40)])


def _migration(name: str) -> Any:
    """The module of the migration whose file name ends in ``name``."""
    path = next((Path(MIGRATIONS) / "versions").glob(f"*_{name}.py"))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _run_upgrade(connection: Any, module: Any) -> None:
    with Operations.context(MigrationContext.configure(connection)):
        module.upgrade()


@pytest.mark.asyncio
async def test_a_time_bounded_total_reads_only_the_hours_a_bound_cuts(store: Store) -> None:
    """The queue's total and counts for an age or time range sum whole hours from the counters: rows deleted around
    the hub from a whole hour still count (they are not read), rows of the hour a bound cuts are read."""
    async with store.write() as conn:
        await conn.execute(exceptions.insert(), [
            {"id": f"exc_{i:03d}", "type": "late", "severity": "warning", "rule": "sla", "subject": f"tx_{i}",
             "key": f"sla|tx_{i}", "status": "open", "message": "late", "evidence": {},
             "opened_at": T0 + timedelta(minutes=6 * i), "updated_at": T0} for i in range(300)])  # 10 an hour
        await rebuild(conn)
    now, older_than = T0 + timedelta(hours=30), timedelta(hours=5, minutes=30)  # cuts hour 24 at 24:30
    flt = xq.ExceptionFilter(status=("open",), older_than=older_than)
    async with store.read() as conn:
        assert await xq.count_exceptions(conn, flt, now) == 246  # 24 whole hours and 06, 12, …, 30 of hour 24
    async with store.write() as conn:
        await conn.execute(delete(exceptions).where(exceptions.c.opened_at < T0 + timedelta(hours=1)))
        await conn.execute(delete(exceptions).where(exceptions.c.opened_at == T0 + timedelta(hours=24, minutes=12)))
    async with store.read() as conn:
        assert await xq.count_exceptions(conn, flt, now) == 245
        assert await xq.group_counts(conn, flt, now, ["status"]) == [{"status": "open", "count": 245}]


@pytest.mark.asyncio
async def test_migration_counts_the_backlog_per_day(store: Store) -> None:
    """The migration that adds the per-day backlog counters fills them from the hourly ones (exact sums)."""
    async with store.write() as conn:
        for i, (difference, currency) in enumerate((("1.10", "EUR"), ("-2.205", "EUR"), ("3", "USD"), ("0.01", "EUR"))):
            await raise_exception(conn, Finding("amount", "amount_mismatch", "error", f"tx_{i}", "amount",
                                                {"difference": difference, "currency": currency}, f"tx_{i}"),
                                  now=T0 + timedelta(hours=17 * i))
    async with store.write() as conn:
        kept = await kept_backlog_days(conn)
        await conn.run_sync(backlog_counts_daily.drop)
        await conn.run_sync(_run_upgrade, _migration("backlog_counts_daily"))
    async with store.read() as conn:
        assert await kept_backlog_days(conn) == kept == await fresh_backlog_days(conn) == {
            ("EUR", hour_of(T0) // 24): (2, Decimal("3.305")), ("USD", hour_of(T0) // 24 + 1): (1, Decimal(3)),
            ("EUR", hour_of(T0) // 24 + 2): (1, Decimal("0.01"))}


@pytest.mark.asyncio
async def test_metrics_counts_read_only_the_hours_a_window_edge_cuts(store: Store) -> None:
    """``metrics`` counts of exceptions over a window whose edges fall inside hours sum the whole hours from the
    counters: rows deleted around the hub from a whole hour still count, rows of the hours an edge cuts are read."""
    async with store.write() as conn:
        await conn.execute(exceptions.insert(), [
            {"id": f"exc_{i:03d}", "type": "late", "severity": "warning", "rule": "sla", "subject": f"tx_{i}",
             "key": f"sla|tx_{i}", "status": "open", "message": "late", "evidence": {}, "system": "erp",
             "opened_at": T0 + timedelta(minutes=6 * i), "updated_at": T0} for i in range(100)])  # 10 an hour
        await rebuild(conn)
    window = mq.Window(T0 + timedelta(minutes=25), T0 + timedelta(hours=5, minutes=40))  # cuts hours 0 and 5
    expected = [{"type": "late", "bucket": None, "count": 52}]  # 00:30…00:54, hours 1-4 whole, 05:00…05:36
    async with store.read() as conn:
        assert await mq.counts(conn, "exceptions", ["type"], window) == expected
    async with store.write() as conn:
        await conn.execute(delete(exceptions).where(exceptions.c.opened_at == T0 + timedelta(hours=2)))
        await conn.execute(delete(exceptions).where(exceptions.c.opened_at == T0 + timedelta(minutes=30)))
    async with store.read() as conn:
        assert await mq.counts(conn, "exceptions", ["type"], window) == [{**expected[0], "count": 51}]
        assert await mq.counts(conn, "exceptions", [], replace(window, source="erp"), "hour") == [
            {"bucket": f"2026-11-01T0{hour}:00:00+00:00", "count": n} for hour, n in enumerate((4, 10, 10, 10, 10, 7))]


@pytest.mark.asyncio
async def test_erasure_rewriting_the_evidence_moves_the_backlog(store: Store) -> None:
    """eraseCustomer rewrites an exception's evidence (hub.store.erasure.set_exception_text): a value the backlog
    reads that named the customer moves the counters with it."""
    email = "jane@example.com"
    async with store.write() as conn:
        await raise_exception(conn, Finding("amount", "amount_mismatch", "error", "tx_1", "amount on tx_1",
                                            {"difference": "4.20", "currency": email}, "tx_1"), now=T0)
    async with store.write() as conn:
        for row in await stored_erasure.exception_texts(conn, ["tx_1"]):
            await stored_erasure.set_exception_text(conn, row.id, row.message, redactor({email})(row.evidence))
    async with store.read() as conn:
        later = T0 + timedelta(days=3)  # the hour opened is read from the counters (no age edge cuts it)
        assert {(r["currency"], r["age"]): (r["exceptions"], Decimal(r["unmatched"]))
                for r in await mq.reconciliation_backlog(conn, later)} == await scanned_backlog(conn, later) == {
            ("[erased]", "1d-7d"): (1, Decimal("4.20"))}
        assert await kept_counts(conn) == await fresh_counts(conn)
