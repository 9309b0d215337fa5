"""Figure 3: ``transaction(ref)`` latency and CPU per lookup — GraphQL (normal and hot), a bare JSON endpoint, the
store function and bare SQL — on SQLite and PostgreSQL at two stored sizes (``python -m bench.lookup``).

Setup (bench/lookup_data.py): ``events``, ``refs``, ``ref_keys`` and ``transactions`` loaded set-based
(``INSERT … SELECT`` over a generated series) into the schema the migrations make: most transactions have 5 events,
a few hundred "looked-up" ones 50. ``--data DIR`` keeps the SQLite file there and ``--keep`` the PostgreSQL
database ``bench_lookup_<events>``; either is reused by the next run when its size and shape match (an older
schema migrated forward).

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
- ``store``: ``get_trace`` with no HTTP at all, and the bare endpoint's payload built from it; ``store_call``: the
  ``get_trace`` call alone (a read connection, then the call: on the driver, ``hub/store/driver.py``);
- ``bare_sql``: the driver directly (``sqlite3``; asyncpg prepared statements): ref → tx_id on ref_keys, then
  events LEFT JOIN refs for that tx;
- ``asgi_floor``: a no-op raw-ASGI endpoint over the same transport (what httpx.ASGITransport costs).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from bench.common import ADMIN_KEY, OPERATOR_KEY, bench_config, latency_summary, ratio, sqlite_url
from bench.lookup_data import BIG, Dataset, dsn, postgres_data, sqlite_data
from bench.lookup_plans import explained_postgres, explained_sqlite
from bench.lookup_plans import show as show_plans
from hub.store import Store
from hub.store.trace import AmbiguousRef, get_trace
from resolvers.persisted import document_id

TRACE = """query($ref: String!) { transaction(ref: $ref) { id kind systems
  refs { namespace value role }
  events { id source type occurredAt receivedAt lagSeconds status error outOfOrder unknownType deliveryId
           refs { namespace value role } } } }"""
TRACE_ID = document_id(TRACE)

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
    conn = await asyncpg.connect(dsn(url))
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

            async def store_call(ref: str) -> None:  # the one store call alone, without building the payload
                async with store.read() as conn:
                    trace = await get_trace(conn, ref, linked=False)
                assert trace is not None and len(trace.events) == BIG

            await _check_same(client, refs[0])
            calls = [("graphql", graphql), ("graphql_masked", graphql_masked)]
            if hot is not None:  # registered by APQ: persisted, and hot after its first (normal) run
                apq = {"persistedQuery": {"version": 1, "sha256Hash": TRACE_ID.removeprefix("sha256:")}}
                await ask({"query": TRACE, "variables": {"ref": refs[0]}, "extensions": apq}, ADMIN_KEY)
                calls += [("graphql_hot", graphql_hot), ("graphql_hot_masked", graphql_hot_masked),
                          ("graphql_hot_masked_walk", graphql_hot_masked_walk)]
            calls += [("bare_json", bare), ("store", in_store), ("store_call", store_call), ("asgi_floor", floor)]
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
           "store", "store_call", "bare_sql", "asgi_floor")


def run(folder: Path, *, events: int, lookups: int, big_traces: int = 500, warmup: int = 50,
        budget: float = 60.0, store: str = "sqlite", keep: bool = False, explain: bool = False) -> dict[str, Any]:
    """The figure on one store (``sqlite``: its file in ``folder``; ``postgres``: a database of its own, kept and
    reused with ``keep``) at ``events`` stored events; with ``explain``, also the plans of one lookup."""
    return asyncio.run(_run(folder, events, lookups, big_traces, warmup, budget, store, keep, explain))


async def _run(folder: Path, events: int, lookups: int, big_traces: int, warmup: int, budget: float,
               store: str, keep: bool, explain: bool) -> dict[str, Any]:
    data = Dataset(events, big_traces)
    refs = data.lookup_refs(lookups + warmup)
    if store == "postgres":
        async with postgres_data(data, keep) as (url, loaded):
            results = await _measure(data, loaded, refs, url, lookups, warmup, budget)
            results["bare_sql"] = await bare_sql_postgres(url, refs, warmup)
            if explain:
                results["plans"] = await _explained(url, refs[0], explained_postgres)
    else:
        async with sqlite_data(folder, data) as (db, loaded):
            results = await _measure(data, loaded, refs, sqlite_url(str(db)), lookups, warmup, budget)
            results["bare_sql"] = await asyncio.to_thread(bare_sql, db, refs, warmup)
            if explain:
                results["plans"] = await _explained(sqlite_url(str(db)), refs[0],
                                                    lambda store, ref: explained_sqlite(store, db, ref))
    results["store_kind"] = store
    for name in FIGURES:
        r = results.get(name)
        if r is not None:
            print(f"  {name:<18} p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  mean {r['mean_ms']:6.2f} ms  "
                  f"CPU {r['cpu_ms']:6.2f} ms/lookup ({r['n']} lookups)", flush=True)
    results["graphql_over_bare_json_p50"] = ratio(results["graphql"]["p50_ms"], results["bare_json"]["p50_ms"])
    results["bare_json_over_sql_p50"] = ratio(results["bare_json"]["p50_ms"], results["bare_sql"]["p50_ms"])
    results["store_over_sql_p50"] = ratio(results["store"]["p50_ms"], results["bare_sql"]["p50_ms"])
    results["store_call_over_sql_cpu"] = ratio(results["store_call"]["cpu_ms"], results["bare_sql"]["cpu_ms"])
    line = (f"  graphql/bare_json p50 = {results['graphql_over_bare_json_p50']:.1f}x; "
            f"store/bare_sql p50 = {results['store_over_sql_p50']:.1f}x; "
            f"store_call/bare_sql CPU = {results['store_call_over_sql_cpu']:.1f}x")
    if "graphql_hot" in results:
        results["hot_over_bare_json_p50"] = ratio(results["graphql_hot"]["p50_ms"], results["bare_json"]["p50_ms"])
        line += f"; graphql_hot/bare_json p50 = {results['hot_over_bare_json_p50']:.1f}x"
    if "graphql_hot_masked_walk" in results:
        results["hot_masked_over_walk_cpu"] = ratio(results["graphql_hot_masked"]["cpu_ms"],
                                                    results["graphql_hot_masked_walk"]["cpu_ms"])
        line += f"; graphql_hot_masked/its mask_json walk CPU = {results['hot_masked_over_walk_cpu']:.2f}x"
    print(line, flush=True)
    if explain:
        show_plans(results["plans"])
    return results


async def _explained(url: str, ref: str, explained: Any) -> list[dict[str, Any]]:
    store = await Store.open(url)
    try:
        return await explained(store, ref)
    finally:
        await store.close()


async def _measure(data: Dataset, loaded: dict[str, Any], refs: list[str], url: str, lookups: int, warmup: int,
                   budget: float) -> dict[str, Any]:
    how = ("reused" if loaded["seconds"] is None else
           f"loaded in {loaded['seconds']:.1f} s ({loaded['rows_per_s']:,.0f} rows/s)")
    print(f"  {data.events:,} events in {data.traces:,} transactions ({data.big} of {BIG} events) = "
          f"{loaded['rows']:,} rows {how}; {loaded['bytes'] / 1e6:,.0f} MB; load average {os.getloadavg()[0]:.1f}",
          flush=True)
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
    parser.add_argument("--data", type=Path, help="keep the SQLite files in this directory and reuse them")
    parser.add_argument("--keep", action="store_true",
                        help="keep the PostgreSQL databases (bench_lookup_<events>) and reuse them")
    parser.add_argument("--explain", action="store_true",
                        help="also print the plans of one lookup's statements (PostgreSQL: EXPLAIN ANALYZE, BUFFERS)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    everything = []
    for events in (int(n) for n in args.events.split(",")):
        for store in args.stores.split(","):
            print(f"\n[transaction(ref)] {store}, {events:,} stored events", flush=True)
            with _folder(args.data) as folder:
                everything.append(run(folder, events=events, lookups=args.lookups, budget=args.budget,
                                      store=store, keep=args.keep, explain=args.explain))
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2, default=str))
    return 0


@contextmanager
def _folder(data: Path | None) -> Iterator[Path]:
    """``data`` (created if missing), or a temporary directory removed afterwards."""
    if data is not None:
        data.mkdir(parents=True, exist_ok=True)
        yield data
        return
    with tempfile.TemporaryDirectory(prefix="ct-lookup-") as tmp:
        yield Path(tmp)


if __name__ == "__main__":
    sys.exit(main())
