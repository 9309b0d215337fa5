"""Figure 3: ``transaction(ref)`` latency and CPU per lookup — GraphQL (normal and hot), a bare JSON endpoint, the
store function and bare SQL — on SQLite and PostgreSQL at two stored sizes (``python -m bench.lookup``).

Setup: the schema comes from ``hub.store.Store.open`` (the Alembic migration); then ``events``, ``refs``,
``ref_keys`` and ``transactions`` are bulk-loaded: ``sqlite3.executemany`` in large transactions (``synchronous=OFF``
while loading only), or asyncpg ``copy_records_to_table`` into a new PostgreSQL database (dropped afterwards). Most
transactions are small (5 events); a few hundred "looked-up" ones have 50 events, spread over the whole id range.
Every event carries two identity refs, and the shop, erp and wms events of one trace are linked (shop:order,
erp:sales_order), as correlation would leave them.

Measured over N lookups of random bare ref values of the 50-event traces (after a warm-up), each with its p50/p99
and this process's CPU per lookup (every thread; PostgreSQL's own backend is another process, not counted):
- ``graphql``: POST /graphql with the TRACE query (the text; the normal graphql-core execution) through the real
  app (``create_app``, lifespan running) in-process over ``httpx.ASGITransport``, as the admin (unmasked, like the
  bare endpoint); ``graphql_masked``: the same as an operator, whose answers have personal data masked;
- ``graphql_hot`` / ``graphql_hot_masked``: the same document registered by APQ and sent by ``documentId``: a hot
  persisted document, answered by its compiled plan (resolvers/hot_documents.py; checked to be taken);
  ``graphql_hot_masked_walk``: the baseline of the masked one, the plan's response masked by ``mask_json`` walking
  all of it (as before the plan worked its masking out once; the same bytes);
- ``bare_json``: a raw-ASGI endpoint (in this module) over the same transport and the same app's store: the one
  store call ``hub.store.trace.get_trace`` (ref → the trace, without related transactions and exceptions, which
  TRACE does not ask and GraphQL does not read), encoded with orjson;
- ``store``: ``get_trace`` with no HTTP at all (SQLAlchemy Core on aiosqlite or asyncpg);
- ``bare_sql``: the driver directly (``sqlite3``; asyncpg prepared statements): ref → tx_id on ref_keys, then
  events LEFT JOIN refs for that tx;
- ``asgi_floor``: a no-op raw-ASGI endpoint over the same transport (what httpx.ASGITransport costs).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from sqlalchemy.engine import make_url

from bench.common import ADMIN_KEY, OPERATOR_KEY, PG_URL, Ids, bench_config, latency_summary, ratio, sqlite_url
from bench.ingest import EVENT_COLUMNS
from hub.store import Store
from hub.store.trace import AmbiguousRef, get_trace
from resolvers.persisted import document_id

TRACE = """query($ref: String!) { transaction(ref: $ref) { id kind systems
  refs { namespace value role }
  events { id source type occurredAt receivedAt lagSeconds status error outOfOrder unknownType deliveryId
           refs { namespace value role } } } }"""
TRACE_ID = document_id(TRACE)

SMALL, BIG = 5, 50
_SYSTEMS = ("shop", "erp", "wms")
_TYPES = {"shop": ("order.placed", "order.updated"), "erp": ("erp.posted", "erp.posted"),
          "wms": ("fulfillment.packed", "shipment.shipped")}


def _sqlite_stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DATETIME storage format


def _keys(trace: int) -> dict[str, tuple[str, str]]:
    return {"shop": ("shop:order", f"50{trace:010d}"), "name": ("shop:order_name", f"#{trace + 1000}"),
            "erp": ("erp:sales_order", f"SO-{trace:08d}"), "wms": ("wms:shipment", f"SH-{trace:08d}")}


def _event_refs(system: str, keys: dict[str, tuple[str, str]]) -> list[tuple[str, str]]:
    if system == "shop":
        return [keys["shop"], keys["name"]]
    if system == "erp":
        return [keys["erp"], keys["shop"]]
    return [keys["wms"], keys["erp"]]


class Dataset:
    """Which traces are big (50 events) and how the rows of each trace look."""

    def __init__(self, total_events: int, big_traces: int) -> None:
        self.big = min(big_traces, total_events // BIG)
        small_events = total_events - self.big * BIG
        self.traces = self.big + small_events // SMALL
        step = max(1, self.traces // max(1, self.big))
        self.big_ids = {i * step + step // 2 for i in range(self.big)}
        self.events = self.big * BIG + (self.traces - self.big) * SMALL

    def chunks(self, traces_per_chunk: int, stamp: Any = None
               ) -> Iterator[tuple[list[tuple], list[tuple], list[tuple], list[tuple]]]:
        """Rows of events, refs, ref_keys and transactions; times as ``stamp`` renders them (SQLite's text)."""
        _stamp = stamp or _sqlite_stamp
        event_id, tx_id, delivery_id = Ids("evt"), Ids("tx"), Ids("dlv")
        start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30)
        events: list[tuple] = []
        refs: list[tuple] = []
        keys_rows: list[tuple] = []
        txs: list[tuple] = []
        for trace in range(self.traces):
            size = BIG if trace in self.big_ids else SMALL
            tx = tx_id()
            keys = _keys(trace)
            first = start + timedelta(seconds=trace)
            counts = dict.fromkeys(keys.values(), 0)
            for j in range(size):
                system = _SYSTEMS[min(2, j * 3 // size)]
                occurred = first + timedelta(seconds=60 * j)
                eid = event_id()
                type_ = _TYPES[system][0 if j in (0, size // 3, 2 * size // 3) else 1]
                events.append((eid, system, f"{system}-{trace}-{j}", type_, _stamp(occurred),
                               _stamp(occurred + timedelta(seconds=2)), tx, delivery_id(), "ok", None, None,
                               None, "49.90" if j == 0 else None, "EUR" if j == 0 else None,
                               "total" if j == 0 else None, 0, 0, 0))
                for ns, value in _event_refs(system, keys):
                    refs.append((eid, ns, value, "identity"))
                    counts[(ns, value)] += 1
            keys_rows.extend((ns, value, tx, n, 0) for (ns, value), n in counts.items())
            last = first + timedelta(seconds=60 * (size - 1))
            txs.append((tx, "order", _stamp(first), _stamp(last), _stamp(last), size, '["erp", "shop", "wms"]', 0))
            if len(txs) >= traces_per_chunk:
                yield events, refs, keys_rows, txs
                events, refs, keys_rows, txs = [], [], [], []
        if txs:
            yield events, refs, keys_rows, txs

    def lookup_refs(self, count: int, seed: int = 7) -> list[str]:
        """Bare ref values (any namespace) of the big traces, as a user pastes them."""
        rng = random.Random(seed)
        big = sorted(self.big_ids)
        return [_keys(rng.choice(big))[rng.choice(("shop", "name", "erp", "wms"))][1] for _ in range(count)]


async def _migrate(url: str) -> None:
    store = await Store.open(url)
    await store.close()


def load(db: Path, data: Dataset) -> dict[str, Any]:
    asyncio.run(_migrate(sqlite_url(str(db))))
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=OFF", "PRAGMA cache_size=-1000000"):
        conn.execute(pragma)
    statements = (f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({', '.join('?' * 18)})",  # later columns: defaults
                  *(f"INSERT INTO {table} VALUES ({', '.join('?' * width)})"
                    for table, width in (("refs", 4), ("ref_keys", 5), ("transactions", 8))))
    rows = 0
    started = time.perf_counter()
    for chunk in data.chunks(traces_per_chunk=20_000):
        conn.execute("BEGIN")
        for statement, values in zip(statements, chunk, strict=True):
            conn.executemany(statement, values)
            rows += len(values)
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()
    elapsed = time.perf_counter() - started
    return {"rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed, "bytes": db.stat().st_size}


_PG_TABLES = ("events", "refs", "ref_keys", "transactions")


def _pg_typed(table: str, row: tuple) -> tuple:
    """A row of :meth:`Dataset.chunks` as asyncpg's binary COPY wants it (booleans, JSON text)."""
    if table == "events":
        return (*row[:15], bool(row[15]), bool(row[16]), row[17])
    if table == "ref_keys":
        return (*row[:4], bool(row[4]))
    return row


async def load_postgres(url: str, data: Dataset) -> dict[str, Any]:
    """The same rows into a fresh PostgreSQL database with asyncpg ``copy_records_to_table``, then ANALYZE."""
    await _migrate(url)
    conn = await asyncpg.connect(_dsn(url))
    try:
        columns = {"events": [c.strip() for c in EVENT_COLUMNS.split(",")]}
        rows = 0
        started = time.perf_counter()
        for chunk in data.chunks(traces_per_chunk=20_000, stamp=lambda moment: moment):
            async with conn.transaction():
                for table, values in zip(_PG_TABLES, chunk, strict=True):
                    await conn.copy_records_to_table(table, records=[_pg_typed(table, v) for v in values],
                                                     columns=columns.get(table))
                    rows += len(values)
        await conn.execute("ANALYZE")
        elapsed = time.perf_counter() - started
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return {"rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed, "bytes": size}


_RESOLVE = "SELECT DISTINCT tx_id FROM ref_keys WHERE value = {} AND tx_id IS NOT NULL"
_TRACE = ("SELECT e.*, r.namespace, r.value, r.role FROM events e LEFT JOIN refs r ON r.event_id = e.id "
          "WHERE e.tx_id = {} ORDER BY e.occurred_at, e.received_at, e.id, r.namespace, r.value")


def _cpu_summary(times: list[float], cpu: float) -> dict[str, float]:
    summary = latency_summary(times)
    summary["cpu_ms"] = cpu / len(times) * 1000 if times else float("nan")
    return summary


def bare_sql(db: Path, refs: list[str], warmup: int) -> dict[str, float]:
    """The same lookup as plain SQL on the stdlib driver: the floor of what the store can do."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    times, cpu = [], 0.0
    for index, ref in enumerate(refs):
        started, cpu_started = time.perf_counter(), time.process_time()
        (tx,) = conn.execute(_RESOLVE.format("?"), (ref,)).fetchone()
        rows = conn.execute(_TRACE.format("?"), (tx,)).fetchall()
        if index >= warmup:
            times.append(time.perf_counter() - started)
            cpu += time.process_time() - cpu_started
        assert len(rows) == 2 * BIG, (ref, len(rows))
    conn.close()
    return _cpu_summary(times, cpu)


async def bare_sql_postgres(url: str, refs: list[str], warmup: int) -> dict[str, float]:
    """The same two statements on asyncpg (prepared), no SQLAlchemy: PostgreSQL's floor (cpu_ms: this process)."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        resolve, trace = await conn.prepare(_RESOLVE.format("$1")), await conn.prepare(_TRACE.format("$1"))
        times, cpu = [], 0.0
        for index, ref in enumerate(refs):
            started, cpu_started = time.perf_counter(), time.process_time()
            tx = await resolve.fetchval(ref)
            rows = await trace.fetch(tx)
            if index >= warmup:
                times.append(time.perf_counter() - started)
                cpu += time.process_time() - cpu_started
            assert len(rows) == 2 * BIG, (ref, len(rows))
    finally:
        await conn.close()
    return _cpu_summary(times, cpu)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    """A new database on the local PostgreSQL (``CROSSTRACE_TEST_PG_URL``'s server), dropped afterwards."""
    name = f"bench_lookup_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(PG_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _read_body(receive: Any) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _send(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def trace_payload(store: Store, ref: str) -> dict[str, Any] | None:
    """What the GraphQL TRACE query returns, from the one store call ``get_trace`` (hub/store/trace.py)."""
    async with store.read() as conn:
        try:
            trace = await get_trace(conn, ref, linked=False)  # what TRACE asks: no related, no exceptions
        except AmbiguousRef:
            return None
    if trace is None:
        return None
    events, previous = [], None
    for record in trace.events:
        events.append({"id": record.id, "source": record.source, "type": record.type,
                       "occurredAt": record.occurred_at, "receivedAt": record.received_at,
                       "lagSeconds": (record.occurred_at - previous).total_seconds() if previous else None,
                       "status": record.status, "error": record.error, "outOfOrder": record.out_of_order,
                       "unknownType": record.unknown_type, "deliveryId": record.delivery_id,
                       "refs": [{"namespace": n, "value": v, "role": r} for n, v, r in trace.event_refs(record)]})
        previous = record.occurred_at
    tx = trace.transaction
    return {"id": tx.id, "kind": tx.kind, "systems": list(tx.systems or []),
            "refs": [{"namespace": r.namespace, "value": r.value, "role": r.role} for r in trace.refs],
            "events": events}


class BenchRoutes:
    """The hub app plus ``POST /bare`` (the bare JSON endpoint) and ``POST /floor`` (no-op), raw ASGI."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/bare":
            ref = orjson.loads(await _read_body(receive))["ref"]
            payload = await trace_payload(self._app.state.hub.started().store, ref)
            await _send(send, 200, orjson.dumps({"data": {"transaction": payload}}))
        elif scope["type"] == "http" and scope["path"] == "/floor":
            await _read_body(receive)
            await _send(send, 200, b'{"data":null}')
        else:
            await self._app(scope, receive, send)


async def _timed(refs: list[str], warmup: int, call: Any, budget: float) -> dict[str, float]:
    """Latencies of ``call`` over the refs (the first ``warmup`` not counted), stopping after ``budget`` s; with
    ``cpu_ms``, this process's CPU time per counted lookup (every thread: aiosqlite's included)."""
    times, cpu = [], 0.0
    deadline = time.perf_counter() + budget
    for index, ref in enumerate(refs):
        started, cpu_started = time.perf_counter(), time.process_time()
        await call(ref)
        if index >= warmup:
            times.append(time.perf_counter() - started)
            cpu += time.process_time() - cpu_started
        if started > deadline:
            break
    return _cpu_summary(times, cpu)


def _graphql_app(app: Any) -> Any:
    return next(route.endpoint for route in app.routes if getattr(route, "path", None) == "/graphql")


async def in_app(url: str, refs: list[str], warmup: int, budget: float) -> dict[str, dict[str, float]]:
    from hub.app import create_app

    app = create_app(bench_config(url), evaluate_every=3600)
    results: dict[str, dict[str, float]] = {}
    async with app.router.lifespan_context(app):
        store = app.state.hub.started().store
        hot = getattr(_graphql_app(app), "hot", None)  # resolvers.hot_documents (None before it existed)
        transport = httpx.ASGITransport(app=BenchRoutes(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     headers={"authorization": f"Bearer {ADMIN_KEY}"}) as client:
            async def ask(body: dict[str, Any], key: str) -> None:
                response = await client.post("/graphql", json=body, headers={"authorization": f"Bearer {key}"})
                assert len(response.json()["data"]["transaction"]["events"]) == BIG, response.text[:300]

            async def graphql(ref: str) -> None:  # as the admin: unmasked, like the bare endpoint
                await ask({"query": TRACE, "variables": {"ref": ref}}, ADMIN_KEY)

            async def graphql_masked(ref: str) -> None:  # as an operator: personal data masked (hub/access/privacy.py)
                await ask({"query": TRACE, "variables": {"ref": ref}}, OPERATOR_KEY)

            async def graphql_hot(ref: str) -> None:  # the persisted document by id: the compiled plan answers it
                await ask({"documentId": TRACE_ID, "variables": {"ref": ref}}, ADMIN_KEY)

            async def graphql_hot_masked(ref: str) -> None:
                await ask({"documentId": TRACE_ID, "variables": {"ref": ref}}, OPERATOR_KEY)

            async def graphql_hot_masked_walk(ref: str) -> None:
                with _masking_whole_responses():
                    await graphql_hot_masked(ref)

            async def bare(ref: str) -> None:
                response = await client.post("/bare", content=orjson.dumps({"ref": ref}))
                assert len(orjson.loads(response.content)["data"]["transaction"]["events"]) == BIG

            async def floor(ref: str) -> None:
                await client.post("/floor", content=orjson.dumps({"ref": ref}))

            async def in_store(ref: str) -> None:
                assert len((await trace_payload(store, ref) or {})["events"]) == BIG

            await _check_same(client, refs[0])
            calls = [("graphql", graphql), ("graphql_masked", graphql_masked)]
            if hot is not None:  # registered by APQ: persisted, and hot after its first (normal) run
                apq = {"persistedQuery": {"version": 1, "sha256Hash": TRACE_ID.removeprefix("sha256:")}}
                await ask({"query": TRACE, "variables": {"ref": refs[0]}, "extensions": apq}, ADMIN_KEY)
                calls += [("graphql_hot", graphql_hot), ("graphql_hot_masked", graphql_hot_masked),
                          ("graphql_hot_masked_walk", graphql_hot_masked_walk)]
            calls += [("bare_json", bare), ("store", in_store), ("asgi_floor", floor)]
            for name, call in calls:
                if hot is not None:
                    hot.enabled = name.startswith("graphql_hot")  # the text query times the normal path
                answered = hot.answered if hot is not None else 0
                results[name] = await _timed(refs, warmup, call, budget)
                if name.startswith("graphql_hot"):
                    assert hot.answered - answered == results[name]["n"] + warmup, "the fast path was not taken"
    return results


@contextmanager
def _masking_whole_responses() -> Iterator[None]:
    """Compiled plans render unmasked and ``mask_json`` masks the whole response (the baseline of their masks)."""
    from hub.access.privacy import mask_json
    from resolvers.trace_plan import TracePlan

    render = TracePlan.render

    def render_then_mask(plan: TracePlan, trace: Any, masked: bool = False) -> tuple[dict[str, Any], int]:
        data, actual = render(plan, trace)
        return (mask_json(data) if masked else data), actual

    TracePlan.render = render_then_mask  # type: ignore[method-assign]
    try:
        yield
    finally:
        TracePlan.render = render  # type: ignore[method-assign]


async def _check_same(client: httpx.AsyncClient, ref: str) -> None:
    """The bare endpoint answers what GraphQL answers (times aside: GraphQL renders them its own way)."""
    gql = (await client.post("/graphql", json={"query": TRACE, "variables": {"ref": ref}})).json()["data"]
    bare = orjson.loads((await client.post("/bare", content=orjson.dumps({"ref": ref}))).content)["data"]
    strip = ("occurredAt", "receivedAt")
    for payload in (gql, bare):
        for event in payload["transaction"]["events"]:
            for key in strip:
                event.pop(key)
    assert gql == bare, "the bare JSON endpoint does not return what GraphQL returns"


FIGURES = ("graphql", "graphql_masked", "graphql_hot", "graphql_hot_masked", "graphql_hot_masked_walk", "bare_json",
           "store", "bare_sql", "asgi_floor")


def run(tmp: Path, *, events: int, lookups: int, big_traces: int = 500, warmup: int = 50,
        budget: float = 60.0, store: str = "sqlite") -> dict[str, Any]:
    """The figure on one store (``sqlite`` or ``postgres``) at ``events`` stored events."""
    return asyncio.run(_run(tmp, events, lookups, big_traces, warmup, budget, store))


async def _run(tmp: Path, events: int, lookups: int, big_traces: int, warmup: int, budget: float,
               store: str) -> dict[str, Any]:
    data = Dataset(events, big_traces)
    refs = data.lookup_refs(lookups + warmup)
    if store == "postgres":
        async with fresh_postgres() as url:
            loaded = await load_postgres(url, data)
            results = await _measure(data, loaded, refs, url, lookups, warmup, budget)
            results["bare_sql"] = await bare_sql_postgres(url, refs, warmup)
    else:
        db = tmp / "lookup.db"
        loaded = await asyncio.to_thread(load, db, data)
        results = await _measure(data, loaded, refs, sqlite_url(str(db)), lookups, warmup, budget)
        results["bare_sql"] = await asyncio.to_thread(bare_sql, db, refs, warmup)
    results["store_kind"] = store
    for name in FIGURES:
        r = results.get(name)
        if r is not None:
            print(f"  {name:<18} p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  mean {r['mean_ms']:6.2f} ms  "
                  f"CPU {r['cpu_ms']:6.2f} ms/lookup ({r['n']} lookups)", flush=True)
    results["graphql_over_bare_json_p50"] = ratio(results["graphql"]["p50_ms"], results["bare_json"]["p50_ms"])
    results["bare_json_over_sql_p50"] = ratio(results["bare_json"]["p50_ms"], results["bare_sql"]["p50_ms"])
    results["store_over_sql_p50"] = ratio(results["store"]["p50_ms"], results["bare_sql"]["p50_ms"])
    line = (f"  graphql/bare_json p50 = {results['graphql_over_bare_json_p50']:.1f}x; "
            f"store/bare_sql p50 = {results['store_over_sql_p50']:.1f}x")
    if "graphql_hot" in results:
        results["hot_over_bare_json_p50"] = ratio(results["graphql_hot"]["p50_ms"], results["bare_json"]["p50_ms"])
        line += f"; graphql_hot/bare_json p50 = {results['hot_over_bare_json_p50']:.1f}x"
    if "graphql_hot_masked_walk" in results:
        results["hot_masked_over_walk_cpu"] = ratio(results["graphql_hot_masked"]["cpu_ms"],
                                                    results["graphql_hot_masked_walk"]["cpu_ms"])
        line += f"; graphql_hot_masked/its mask_json walk CPU = {results['hot_masked_over_walk_cpu']:.2f}x"
    print(line, flush=True)
    return results


async def _measure(data: Dataset, loaded: dict[str, Any], refs: list[str], url: str, lookups: int, warmup: int,
                   budget: float) -> dict[str, Any]:
    print(f"  loaded {data.events:,} events in {data.traces:,} transactions ({data.big} of {BIG} events) = "
          f"{loaded['rows']:,} rows in {loaded['seconds']:.1f} s ({loaded['rows_per_s']:,.0f} rows/s); "
          f"{loaded['bytes'] / 1e6:,.0f} MB; load average {os.getloadavg()[0]:.1f}", flush=True)
    results: dict[str, Any] = {"events": data.events, "transactions": data.traces, "load": loaded,
                               "lookups": lookups, "loadavg_before": os.getloadavg()[0]}
    results.update(await in_app(url, refs, warmup, budget))
    results["loadavg_after"] = os.getloadavg()[0]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", default="100000,1000000", help="stored events, comma-separated sizes")
    parser.add_argument("--stores", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--lookups", type=int, default=1000, help="timed lookups per figure")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds at most per figure")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    everything = []
    for events in (int(n) for n in args.events.split(",")):
        for store in args.stores.split(","):
            print(f"\n[transaction(ref)] {store}, {events:,} stored events", flush=True)
            with tempfile.TemporaryDirectory(prefix="ct-lookup-") as tmp:
                everything.append(run(Path(tmp), events=events, lookups=args.lookups, budget=args.budget,
                                      store=store))
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
