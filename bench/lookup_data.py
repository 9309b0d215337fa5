"""The stored data of the lookup figure (``bench.lookup``): traces as correlation leaves them, loaded set-based
and kept for reuse.

Most transactions are small (5 events); a few hundred "looked-up" ones have 50 events, spread over the whole id
range. Every event carries two identity refs, and the shop, erp and wms events of one trace are linked (shop:order,
erp:sales_order). ``events``, ``refs``, ``ref_keys`` and ``transactions`` are filled by ``INSERT … SELECT`` over a
generated series of traces (PostgreSQL ``generate_series``, SQLite a recursive CTE; ``synchronous=OFF`` while
loading), 100,000 traces per transaction, into the tables the migrations made; their secondary indexes are dropped
first and made again afterwards from the same definitions (a sort instead of 10M inserts into each B-tree); then
``VACUUM ANALYZE`` on PostgreSQL (autovacuum would otherwise start on the new rows during the measurement),
``ANALYZE`` on SQLite.

A finished load is marked in ``bench_lookup_dataset`` (its size and shape), so a kept database is reused when the
mark matches (migrated forward first when its schema revision is older, as a hub's start would; the callers' cost
budgets emptied) and loaded anew when it does not: an SQLite file ``lookup-<events>.db`` in a directory of one's
choice, a PostgreSQL database ``bench_lookup_<events>``.
"""
from __future__ import annotations

import asyncio
import random
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from bench.common import PG_URL, Ids, sqlite_url
from hub.store import Store
from hub.store.engine import MIGRATIONS

SMALL, BIG = 5, 50
_CHUNK = 100_000  # traces per transaction
_SYSTEMS = ("shop", "erp", "wms")
_MARK = "bench_lookup_dataset"
_TABLES = ("events", "refs", "ref_keys", "transactions")
# Their secondary indexes as statements making them again (PostgreSQL: on the partitions too, as made first)
_SQLITE_INDEXES = ("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                   f"AND tbl_name IN {_TABLES}")
_PG_INDEXES = ("SELECT indexname, replace(indexdef, ' ON ONLY ', ' ON ') FROM pg_indexes "
               "WHERE schemaname = current_schema() AND tablename = ANY($1::text[]) "
               "AND indexname NOT IN (SELECT conname FROM pg_constraint)")


def keys(trace: int) -> dict[str, tuple[str, str]]:
    """The identity refs of one trace: which systems state which is :data:`_REFS_OF`."""
    return {"shop": ("shop:order", f"50{trace:010d}"), "name": ("shop:order_name", f"#{trace + 1000}"),
            "erp": ("erp:sales_order", f"SO-{trace:08d}"), "wms": ("wms:shipment", f"SH-{trace:08d}")}


_REFS_OF = {"shop": ("shop", "name"), "erp": ("erp", "shop"), "wms": ("wms", "erp")}  # each event's two refs


def system_of(event: int, size: int) -> str:
    """The system of a trace's ``event``-th event: the first third shop, then erp, then wms."""
    return _SYSTEMS[min(2, event * 3 // size)]


class Dataset:
    """Which traces are big (50 events): every ``step``-th, ``big`` of them."""

    def __init__(self, total_events: int, big_traces: int) -> None:
        self.big = min(big_traces, total_events // BIG)
        small_events = total_events - self.big * BIG
        self.traces = self.big + small_events // SMALL
        self.step = max(1, self.traces // max(1, self.big))
        self.big_ids = {i * self.step + self.step // 2 for i in range(self.big)}
        self.events = self.big * BIG + (self.traces - self.big) * SMALL
        self.rows = self.events * 3 + self.traces * 5  # events, 2 refs each, 4 ref keys and a transaction each

    def lookup_refs(self, count: int, seed: int = 7) -> list[str]:
        """Bare ref values (any namespace) of the big traces, as a user pastes them."""
        rng = random.Random(seed)
        big = sorted(self.big_ids)
        return [keys(rng.choice(big))[rng.choice(("shop", "name", "erp", "wms"))][1] for _ in range(count)]


def key_events(size: int) -> dict[str, int]:
    """How many events of a ``size``-event trace state each of its keys (``ref_keys.events``)."""
    counts = dict.fromkeys(("shop", "name", "erp", "wms"), 0)
    for event in range(size):
        for key in _REFS_OF[system_of(event, size)]:
            counts[key] += 1
    return counts


class _Dialect:
    """What differs between SQLite and PostgreSQL in the load statements."""

    def __init__(self, name: str, start: datetime) -> None:
        self.postgres = name == "postgresql"
        self.start = start

    def series(self) -> str:
        if self.postgres:
            return ("ts(t) AS (SELECT generate_series({lo}::bigint, {hi}::bigint)), "
                    "js(j) AS (SELECT generate_series(0, 49))")
        return ("ts(t) AS (SELECT {lo} UNION ALL SELECT t + 1 FROM ts WHERE t < {hi}), "
                "js(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM js WHERE j < 49)")

    def pad(self, expression: str, width: int) -> str:
        return f"lpad(({expression})::text, {width}, '0')" if self.postgres else f"printf('%0{width}d', {expression})"

    def stamp(self, seconds: str) -> str:
        """The start plus ``seconds`` as the column stores it (SQLite: SQLAlchemy's text with microseconds)."""
        start = self.start.strftime("%Y-%m-%d %H:%M:%S")
        if self.postgres:
            return f"(TIMESTAMP '{start}' + ({seconds}) * INTERVAL '1 second')"
        return f"(strftime('%Y-%m-%d %H:%M:%S', '{start}', ({seconds}) || ' seconds') || '.000000')"

    def boolean(self, value: bool) -> str:
        return ("true" if value else "false") if self.postgres else str(int(value))


def _case(expression: str, values: dict[Any, str], quote: bool = True) -> str:
    whens = " ".join(f"WHEN {key!r} THEN {repr(value) if quote else value}" for key, value in values.items())
    return f"CASE {expression} {whens} END"


def _statements(dialect: _Dialect, data: Dataset) -> list[str]:
    """The load statements of one chunk of traces (``{lo}`` to ``{hi}``, formatted in)."""
    heads = {prefix: Ids(prefix)()[:-16] for prefix in ("evt", "tx", "dlv")}
    pad, stamp, false = dialect.pad, dialect.stamp, dialect.boolean(False)
    size = f"CASE WHEN t % {data.step} = {data.step // 2} AND t / {data.step} < {data.big} THEN {BIG} ELSE {SMALL} END"
    ctes = (f"WITH RECURSIVE {dialect.series()}, tr AS (SELECT t, {size} AS size FROM ts), "
            "ev AS (SELECT t, size, j, CASE WHEN j * 3 / size > 2 THEN 2 ELSE j * 3 / size END AS s "
            "FROM tr JOIN js ON j < size) ")
    event_id = f"'{heads['evt']}' || {pad('t', 12)} || {pad('j', 4)}"
    source = _case("s", dict(enumerate(_SYSTEMS)))
    first = {0: "order.placed", 1: "erp.posted", 2: "fulfillment.packed"}
    other = {0: "order.updated", 1: "erp.posted", 2: "shipment.shipped"}
    type_ = (f"CASE WHEN j = 0 OR j = size / 3 OR j = 2 * size / 3 THEN {_case('s', first)} "
             f"ELSE {_case('s', other)} END")
    occurred = "t + 60 * j"
    events = (f"INSERT INTO events (id, source, source_event_id, type, occurred_at, received_at, tx_id, delivery_id, "
              "status, amount_value, amount_currency, amount_kind, unknown_type, out_of_order, duplicates) "
              f"SELECT {event_id}, {source}, {source} || '-' || t || '-' || j, {type_}, {stamp(occurred)}, "
              f"{stamp(occurred + ' + 2')}, '{heads['tx']}' || {pad('t', 16)}, "
              f"'{heads['dlv']}' || {pad('t', 12)} || {pad('j', 4)}, 'ok', "
              "CASE WHEN j = 0 THEN '49.90' END, CASE WHEN j = 0 THEN 'EUR' END, CASE WHEN j = 0 THEN 'total' END, "
              f"{false}, {false}, 0 FROM ev")
    values = {"shop": f"'50' || {pad('t', 10)}", "name": "'#' || (t + 1000)", "erp": f"'SO-' || {pad('t', 8)}",
              "wms": f"'SH-' || {pad('t', 8)}"}
    pairs = [_REFS_OF[system][k] for system in _SYSTEMS for k in (0, 1)]  # by s * 2 + k
    key_of = dict(enumerate(pairs))
    namespaces = {key: keys(0)[key][0] for key in values}
    refs = (f"INSERT INTO refs (event_id, namespace, value, role) SELECT {event_id}, "
            f"{_case('s * 2 + k', {i: namespaces[key] for i, key in key_of.items()})}, "
            f"{_case('s * 2 + k', {i: values[key] for i, key in key_of.items()}, quote=False)}, 'identity' "
            "FROM ev CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1) AS two")
    small, big = key_events(SMALL), key_events(BIG)
    ref_keys = [f"INSERT INTO ref_keys (namespace, value, tx_id, events, demoted) SELECT '{namespaces[key]}', "
                f"{values[key]}, '{heads['tx']}' || {pad('t', 16)}, "
                f"CASE WHEN size = {BIG} THEN {big[key]} ELSE {small[key]} END, {false} FROM tr" for key in values]
    transactions = ("INSERT INTO transactions (id, kind, first_at, last_at, updated_at, events, systems, "
                    f"open_exceptions) SELECT '{heads['tx']}' || {pad('t', 16)}, 'order', {stamp('t')}, "
                    f"{stamp('t + 60 * (size - 1)')}, {stamp('t + 60 * (size - 1)')}, size, "
                    "'[\"erp\", \"shop\", \"wms\"]', 0 FROM tr")
    return [ctes + statement for statement in (events, refs, *ref_keys, transactions)]


def _chunks(data: Dataset) -> Iterator[dict[str, int]]:
    for lo in range(0, data.traces, _CHUNK):
        yield {"lo": lo, "hi": min(data.traces, lo + _CHUNK) - 1}


def _start() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(days=30)


def _revisions() -> ScriptDirectory:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def head_revision() -> str:
    return _revisions().get_current_head() or ""


def _mark(data: Dataset) -> list[str]:
    return [f"CREATE TABLE {_MARK} (events bigint, big integer)",
            f"INSERT INTO {_MARK} VALUES ({data.events}, {data.big})"]


# On reuse: the callers' GraphQL cost budgets as on a new database (runs on one kept database drained the operator's)
_RESET = "DELETE FROM cost_budgets"
# The mark and the schema revision: a load that did not finish has no mark
_MARKED = f"SELECT m.events, m.big, v.version_num FROM {_MARK} m, alembic_version v"


async def _reusable(mark: Sequence[Any] | None, data: Dataset, url: str) -> bool:
    """Whether kept data marked ``mark`` serves ``data``: the same size and shape, at the newest schema revision;
    an older revision is migrated forward first (the hub's own start does the same)."""
    if mark is None or tuple(mark[:2]) != (data.events, data.big):
        return False
    if mark[2] not in {script.revision for script in _revisions().walk_revisions()}:
        return False  # a revision this tree does not know: load anew
    if mark[2] != head_revision():
        await _migrate(url)
    return True


async def _migrate(url: str) -> None:
    store = await Store.open(url)
    await store.close()


def _result(data: Dataset, started: float | None, size: int) -> dict[str, Any]:
    """What a load did (``seconds`` None: the kept data was reused)."""
    seconds = None if started is None else time.perf_counter() - started
    return {"rows": data.rows, "seconds": seconds, "rows_per_s": data.rows / seconds if seconds else None,
            "bytes": size}


def _sqlite_mark(db: Path) -> Sequence[Any] | None:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return None
    try:
        return conn.execute(_MARKED).fetchone()
    except sqlite3.OperationalError:  # no mark: a load that did not finish
        return None
    finally:
        conn.close()


def load_sqlite(db: Path, data: Dataset) -> dict[str, Any]:
    """``data`` into a new SQLite file at ``db`` (schema by the migrations), marked when done."""
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    asyncio.run(_migrate(sqlite_url(str(db))))
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=OFF", "PRAGMA cache_size=-1000000"):
            conn.execute(pragma)
        statements = _statements(_Dialect("sqlite", _start()), data)
        started = time.perf_counter()
        indexes = conn.execute(_SQLITE_INDEXES).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        for bounds in _chunks(data):
            conn.execute("BEGIN")
            for statement in statements:
                conn.execute(statement.format(**bounds))
            conn.execute("COMMIT")
        for _, index in indexes:
            conn.execute(index)
        conn.execute("ANALYZE")
        for statement in _mark(data):
            conn.execute(statement)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return _result(data, started, db.stat().st_size)


@asynccontextmanager
async def sqlite_data(folder: Path, data: Dataset) -> AsyncIterator[tuple[Path, dict[str, Any]]]:
    """The SQLite file of ``data`` in ``folder`` (reused when its mark matches, else loaded) and what loading did."""
    db = folder / f"lookup-{data.events}.db"
    if await _reusable(_sqlite_mark(db), data, sqlite_url(str(db))):
        conn = sqlite3.connect(db)
        try:
            with conn:
                conn.execute(_RESET)
        finally:
            conn.close()
        yield db, _result(data, None, db.stat().st_size)
    else:
        yield db, await asyncio.to_thread(load_sqlite, db, data)


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _postgres_mark(conn: asyncpg.Connection) -> Sequence[Any] | None:
    if await conn.fetchval("SELECT to_regclass($1)", _MARK) is None:
        return None
    return await conn.fetchrow(_MARKED)


async def load_postgres(url: str, data: Dataset) -> dict[str, Any]:
    """``data`` into the (new, empty) PostgreSQL database at ``url``, then VACUUM ANALYZE, marked when done."""
    await _migrate(url)
    conn = await asyncpg.connect(dsn(url))
    try:
        statements = _statements(_Dialect("postgresql", _start()), data)
        started = time.perf_counter()
        indexes = await conn.fetch(_PG_INDEXES, list(_TABLES))
        for name, _ in indexes:
            await conn.execute(f"DROP INDEX {name}")
        for bounds in _chunks(data):
            async with conn.transaction():
                for statement in statements:
                    await conn.execute(statement.format(**bounds))
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for _, index in indexes:
            await conn.execute(index)
        await conn.execute("VACUUM ANALYZE")
        for statement in _mark(data):
            await conn.execute(statement)
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return _result(data, started, size)


@asynccontextmanager
async def postgres_data(data: Dataset, keep: bool) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A database on the local PostgreSQL (``CROSSTRACE_TEST_PG_URL``'s server) holding ``data`` and what loading
    did: with ``keep``, ``bench_lookup_<events>``, reused when its mark matches (else loaded anew) and kept
    afterwards; without, a new database dropped afterwards."""
    name = f"bench_lookup_{data.events}" if keep else f"bench_lookup_{uuid.uuid4().hex[:8]}"
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    admin = await asyncpg.connect(dsn(PG_URL))
    try:
        loaded = None
        if keep and await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            conn = await asyncpg.connect(dsn(url))
            try:
                mark = await _postgres_mark(conn)
            finally:
                await conn.close()
            if await _reusable(mark, data, url):
                conn = await asyncpg.connect(dsn(url))
                try:
                    await conn.execute(_RESET)
                finally:
                    await conn.close()
                loaded = _result(data, None, await admin.fetchval("SELECT pg_database_size($1)", name))
            if loaded is None:
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if loaded is None:
            await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield url, loaded or await load_postgres(url, data)
        finally:
            if not keep:
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
