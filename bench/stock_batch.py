"""The stock ledger's part of a batch: statements per 500-event batch and CPU per 100 events, two trees alternating.

    git archive <before> | tar -x -C /tmp/before
    .venv/bin/python -m bench.stock_batch /tmp/before . [--batches 12] [--repeats 2] [--stores sqlite,postgresql]

Each run is a fresh process with the tree first on its path, on a new SQLite file or PostgreSQL schema: the
``/ingest`` bench's stream (``bench.common.order_event``: a shop order, its ERP posting and its WMS shipment, whose
line moves stock at DC1; 977 SKUs) recorded in 500-event batches, then :class:`hub.stock.ledger.StockLedger` applied
to each batch in the same transaction, as the normalizer does. Counted around the ledger only: statements sent
(an ``executemany`` once), the rows ``executemany`` sent (asyncpg runs its statement once per row), distinct
statement texts (each one asyncpg prepares), and the process's CPU ms and the wall ms in the ledger per 100
events (the wall time holds PostgreSQL's work).
"""

from __future__ import annotations

from bench.alternate import in_tree, runs, two_trees

_RUN = """
import asyncio, json, sys, time, uuid
from datetime import datetime, timedelta
from decimal import Decimal
from sqlalchemy import event as sa_event
from bench.common import order_event, order_stream
from hub.config import parse
from hub.correlation.plan import CorrelationSettings
from hub.exceptions.lifecycle import Changes
from hub.model import DEFAULT_JUNK_VALUES, Event, Line, Ref
from hub.stock.ledger import StockLedger
from hub.store import Store
from hub.store.record import Incoming, record_events

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 11, 1, 12)
SOURCES = [{"name": n, "kind": k, "adapter": "cloudevents", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
           for n, k in (("shop", "commerce"), ("erp", "erp"), ("wms", "wms"))]

def items(batches):
    made = []
    for n, (order, stage) in enumerate(order_stream(batches * 500 // 3 + 1, 40)):
        raw = order_event(order, stage, "")
        data = raw["data"]
        made.append(Incoming(Event(source=raw["source"], source_event_id=raw["id"], type=raw["type"],
                                   occurred_at=T0 + timedelta(seconds=n),
                                   refs=[Ref(r["namespace"], r["value"]) for r in data["refs"]],
                                   lines=[Line(ln["sku"], Decimal(ln["qty"]), ln.get("location"))
                                          for ln in data.get("lines", [])]), f"dlv_{n // 10}", T0))
    return [made[i:i + 500] for i in range(0, batches * 500, 500)]

async def main(store_kind, batches):
    import asyncpg
    schema = None
    if store_kind == "sqlite":
        import tempfile
        folder = tempfile.mkdtemp()
        store = await Store.open(f"sqlite+aiosqlite:///{folder}/s.db")
    else:
        schema = f"stockbatch_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(PG.replace("+asyncpg", ""))
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        store = await Store.open(PG, search_path=schema)
    ledger = StockLedger(parse({"sources": SOURCES, "stock": {"settle_minutes": 15}}, {}))
    settings = CorrelationSettings(frozenset(DEFAULT_JUNK_VALUES), 50)
    sent = {"statements": 0, "rows": 0, "texts": set(), "cpu": 0.0, "wall": 0.0, "events": 0}
    def count(_c, _cur, statement, parameters, _ctx, many):
        sent["statements"] += 1
        sent["rows"] += len(parameters) if many else 0
        sent["texts"].add(statement)
    try:
        for batch in items(batches):
            async with store.write() as conn:
                await record_events(store, conn, batch, settings)
                sa_event.listen(store.engine.sync_engine, "before_cursor_execute", count)
                cpu, wall = time.process_time(), time.perf_counter()
                await ledger.apply(conn, batch, T0, Changes())
                sent["cpu"] += time.process_time() - cpu
                sent["wall"] += time.perf_counter() - wall
                sa_event.remove(store.engine.sync_engine, "before_cursor_execute", count)
            sent["events"] += len(batch)
    finally:
        await store.close()
        if schema:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()
    print(json.dumps({"statements": sent["statements"] / batches, "rows": sent["rows"] / batches,
                      "texts": len(sent["texts"]), "cpu_ms_per_100": sent["cpu"] * 1e5 / sent["events"],
                      "wall_ms_per_100": sent["wall"] * 1e5 / sent["events"]}))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def main(argv: list[str] | None = None) -> int:
    parser = two_trees(__doc__)
    parser.add_argument("--batches", type=int, default=12)
    args = parser.parse_args(argv)
    for repeat, store, _, name, tree, load in runs(args):
        r = in_tree(tree, _RUN, store, args.batches)
        print(f"repeat {repeat} {store:10} {name:6}: {r['statements']:5.1f} statements per 500-event batch, "
              f"{r['rows']:6.1f} executemany rows, {r['texts']:3} texts; per 100 events {r['cpu_ms_per_100']:5.2f} ms "
              f"CPU, {r['wall_ms_per_100']:5.2f} ms wall; load {load}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
