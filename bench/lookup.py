"""Figure 3: ``transaction(ref)`` latency at 1M (or 10M) stored events — GraphQL, bare SQL, a bare JSON endpoint.

Setup: the schema comes from ``hub.store.Store.open`` (the Alembic migration); then ``events``, ``refs``,
``ref_keys`` and ``transactions`` are bulk-loaded with ``sqlite3.executemany`` in large transactions
(``synchronous=OFF`` while loading only). Most transactions are small (5 events); a few hundred "looked-up"
ones have 50 events, spread over the whole id range. Every event carries two identity refs, and the shop,
erp and wms events of one trace are linked (shop:order, erp:sales_order), as correlation would leave them.

Measured over N lookups of random bare ref values of the 50-event traces (after a warm-up):
- ``graphql``: POST /graphql with the TRACE query of tests/hub/test_app.py, through the real app
  (``create_app``, lifespan running) in-process over ``httpx.ASGITransport``, as the admin (unmasked, like the
  bare endpoint); ``graphql_masked``: the same as an operator, whose answers have personal data masked;
- ``bare_json``: a raw-ASGI endpoint (in this module) over the same transport and the same app's store: the one
  store call ``hub.store.trace.get_trace`` (ref → the whole trace, related and exceptions included), encoded
  with orjson;
- ``store``: ``get_trace`` with no HTTP at all (aiosqlite + SQLAlchemy Core);
- ``bare_sql``: ``sqlite3`` directly: ref → tx_id on ref_keys, then events LEFT JOIN refs for that tx;
- ``asgi_floor``: a no-op raw-ASGI endpoint over the same transport (what httpx.ASGITransport costs).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import ADMIN_KEY, OPERATOR_KEY, Ids, bench_config, latency_summary, ratio, sqlite_url
from bench.ingest import EVENT_COLUMNS
from hub.store import Store
from hub.store.trace import AmbiguousRef, get_trace

TRACE = """query($ref: String!) { transaction(ref: $ref) { id kind systems
  refs { namespace value role }
  events { id source type occurredAt receivedAt lagSeconds status error outOfOrder unknownType deliveryId
           refs { namespace value role } } } }"""

SMALL, BIG = 5, 50
_SYSTEMS = ("shop", "erp", "wms")
_TYPES = {"shop": ("order.placed", "order.updated"), "erp": ("erp.posted", "erp.posted"),
          "wms": ("fulfillment.packed", "shipment.shipped")}


def _stamp(moment: datetime) -> str:
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

    def chunks(self, traces_per_chunk: int) -> Iterator[tuple[list[tuple], list[tuple], list[tuple], list[tuple]]]:
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


async def _migrate(db: Path) -> None:
    store = await Store.open(sqlite_url(str(db)))
    await store.close()


def load(db: Path, data: Dataset) -> dict[str, Any]:
    asyncio.run(_migrate(db))
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


def bare_sql(db: Path, refs: list[str], warmup: int) -> dict[str, float]:
    """The same lookup as plain SQL on the stdlib driver: the floor of what the store can do."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    resolve = "SELECT DISTINCT tx_id FROM ref_keys WHERE value = ? AND tx_id IS NOT NULL"
    trace = ("SELECT e.*, r.namespace, r.value, r.role FROM events e LEFT JOIN refs r ON r.event_id = e.id "
             "WHERE e.tx_id = ? ORDER BY e.occurred_at, e.received_at, e.id, r.namespace, r.value")
    times = []
    for index, ref in enumerate(refs):
        started = time.perf_counter()
        (tx,) = conn.execute(resolve, (ref,)).fetchone()
        rows = conn.execute(trace, (tx,)).fetchall()
        if index >= warmup:
            times.append(time.perf_counter() - started)
        assert len(rows) == 2 * BIG, (ref, len(rows))
    conn.close()
    return latency_summary(times)


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
            trace = await get_trace(conn, ref)
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
    """Latencies of ``call`` over the refs (the first ``warmup`` not counted), stopping after ``budget`` s."""
    times = []
    deadline = time.perf_counter() + budget
    for index, ref in enumerate(refs):
        started = time.perf_counter()
        await call(ref)
        if index >= warmup:
            times.append(time.perf_counter() - started)
        if started > deadline:
            break
    return latency_summary(times)


async def in_app(db: Path, refs: list[str], warmup: int, budget: float) -> dict[str, dict[str, float]]:
    from hub.app import create_app

    app = create_app(bench_config(sqlite_url(str(db))), evaluate_every=3600)
    results: dict[str, dict[str, float]] = {}
    async with app.router.lifespan_context(app):
        store = app.state.hub.started().store
        transport = httpx.ASGITransport(app=BenchRoutes(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     headers={"authorization": f"Bearer {ADMIN_KEY}"}) as client:
            async def graphql(ref: str) -> None:  # as the admin: unmasked, like the bare endpoint
                response = await client.post("/graphql", json={"query": TRACE, "variables": {"ref": ref}})
                assert len(response.json()["data"]["transaction"]["events"]) == BIG, response.text[:300]

            async def graphql_masked(ref: str) -> None:  # as an operator: personal data masked (hub/access/privacy.py)
                response = await client.post("/graphql", json={"query": TRACE, "variables": {"ref": ref}},
                                             headers={"authorization": f"Bearer {OPERATOR_KEY}"})
                assert len(response.json()["data"]["transaction"]["events"]) == BIG, response.text[:300]

            async def bare(ref: str) -> None:
                response = await client.post("/bare", content=orjson.dumps({"ref": ref}))
                assert len(orjson.loads(response.content)["data"]["transaction"]["events"]) == BIG

            async def floor(ref: str) -> None:
                await client.post("/floor", content=orjson.dumps({"ref": ref}))

            async def in_store(ref: str) -> None:
                assert len((await trace_payload(store, ref) or {})["events"]) == BIG

            await _check_same(client, refs[0])
            for name, call in (("graphql", graphql), ("graphql_masked", graphql_masked), ("bare_json", bare),
                               ("store", in_store), ("asgi_floor", floor)):
                results[name] = await _timed(refs, warmup, call, budget)
    return results


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


def run(tmp: Path, *, events: int, lookups: int, big_traces: int = 500, warmup: int = 50,
        budget: float = 60.0) -> dict[str, Any]:
    db = tmp / "lookup.db"
    data = Dataset(events, big_traces)
    loaded = load(db, data)
    print(f"  loaded {data.events:,} events in {data.traces:,} transactions ({data.big} of {BIG} events) = "
          f"{loaded['rows']:,} rows in {loaded['seconds']:.1f} s ({loaded['rows_per_s']:,.0f} rows/s, "
          f"synchronous=OFF); file {loaded['bytes'] / 1e6:,.0f} MB", flush=True)
    refs = data.lookup_refs(lookups + warmup)
    results: dict[str, Any] = {"events": data.events, "transactions": data.traces, "load": loaded,
                               "lookups": lookups}
    results.update(asyncio.run(in_app(db, refs, warmup, budget)))
    results["bare_sql"] = bare_sql(db, refs, warmup)
    for name in ("graphql", "graphql_masked", "bare_json", "store", "bare_sql", "asgi_floor"):
        r = results[name]
        print(f"  {name:<14} p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  mean {r['mean_ms']:6.2f} ms "
              f"({r['n']} lookups)", flush=True)
    results["graphql_over_bare_json_p50"] = ratio(results["graphql"]["p50_ms"], results["bare_json"]["p50_ms"])
    results["bare_json_over_sql_p50"] = ratio(results["bare_json"]["p50_ms"], results["bare_sql"]["p50_ms"])
    print(f"  graphql/bare_json p50 = {results['graphql_over_bare_json_p50']:.1f}x; "
          f"bare_json/bare_sql p50 = {results['bare_json_over_sql_p50']:.1f}x", flush=True)
    return results
