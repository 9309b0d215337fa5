"""Settlement reconciliation's share of evaluation (issue 17 items 1-2), on a fresh SQLite file (and PostgreSQL).

    .venv/bin/python -m bench.settlements                      # 20,000 orders, payouts of 200 charges
    .venv/bin/python -m bench.settlements --orders 5000 --engines sqlite

Seeds ``--orders`` orders (placed with a total, captured by ``stripe`` with a charge ref) and one payout per
``--per-payout`` charges (its paid, gross and fee events and one ``line`` per charge, naming it by a related ref),
recorded through the normalizer's own ``record_events``. Then, each chunk of 400 transactions in one write
transaction through the hub's own ``Evaluator.evaluate``:

- ``orders``: every order evaluated (whose settlement is the one hop it pulls in), and the part of that time the
  settlement links and facts take (``linked_transactions`` + ``load_settlement_facts`` on the same chunks, timed
  apart): the overhead the rules put on every evaluation;
- ``payouts``: every payout evaluated (reconciling its orders).

Figures are printed, never asserted; compare figures of one run (the load average is printed beside them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

from bench.common import bench_config
from bench.correlate import PG_URL, record_all
from hub.exceptions.evaluate import Evaluator, _tx_event
from hub.exceptions.lifecycle import Changes
from hub.exceptions.settlement_facts import load_settlement_facts
from hub.exceptions.settlements import SettlementSettings
from hub.model import RELATED, Amount, Event, Ref
from hub.store import Store
from hub.store.record import Incoming
from hub.store.settlement_links import linked_transactions, settlements_naming
from hub.store.tables import events, transactions

_CHUNK = 400


def seeded(orders: int, per_payout: int) -> Iterator[Incoming]:
    now = datetime.now(UTC).replace(tzinfo=None)
    usd = "USD"
    for n in range(orders):
        order, charge = Ref("shop:order", f"50{n:010d}"), Ref("stripe:charge", f"ch_{n:012d}")
        yield Incoming(Event("shop", f"o-{n}", "order.placed", now, [order], amount=Amount(Decimal("49.90"), usd)),
                       f"dlv_o_{n // 100}", now)
        yield Incoming(Event("stripe", f"c-{n}", "payment.captured", now, [charge, order],
                             amount=Amount(Decimal("49.90"), usd, "capture")), f"dlv_c_{n // 100}", now)
    for p in range(-(-orders // per_payout)):
        paid = range(p * per_payout, min(orders, (p + 1) * per_payout))
        payout = Ref("stripe:payout", f"po_{p:08d}")
        related = [Ref("stripe:charge", f"ch_{n:012d}", RELATED) for n in paid]
        gross = Decimal("49.90") * len(paid)
        fee = Decimal("1.75") * len(paid)
        for kind, value, refs in (("settlement", gross - fee, [payout, *related]), ("gross", gross, [payout]),
                                  ("fee", fee, [payout])):
            yield Incoming(Event("stripe", f"p-{p}-{kind}", "settlement.paid", now, refs,
                                 amount=Amount(value, usd, kind)), f"dlv_p_{p}", now)
        for n, ref in zip(paid, related, strict=True):
            yield Incoming(Event("stripe", f"p-{p}-line-{n}", "settlement.paid", now, [payout, ref],
                                 amount=Amount(Decimal("49.90"), usd, "line")), f"dlv_p_{p}", now)


async def measure(url: str, orders: int, per_payout: int, search_path: str | None = None) -> dict[str, float]:
    store = await Store.open(url, search_path=search_path)
    try:
        await record_all(store, list(seeded(orders, per_payout)), 2000)
        config = bench_config(url)
        evaluator = Evaluator(store, config, lambda: datetime.now(UTC).replace(tzinfo=None))
        kinds_of = {name: source.kind for name, source in config.sources.items()}
        async with store.read() as conn:
            rows = (await conn.execute(transactions.select().with_only_columns(transactions.c.id,
                                                                               transactions.c.kind))).all()
        by_kind: dict[str, list[str]] = {}
        for tx_id, kind in rows:
            by_kind.setdefault(kind, []).append(tx_id)
        figures: dict[str, float] = {}
        for kind in ("order", "settlement"):
            ids = sorted(by_kind.get(kind, []))
            started = time.perf_counter()
            for start in range(0, len(ids), _CHUNK):
                async with store.write() as conn:
                    await evaluator.evaluate(conn, ids[start:start + _CHUNK], evaluator.now(), Changes())
            figures[f"{kind} evaluate s"] = time.perf_counter() - started
            figures[f"{kind} count"] = len(ids)
        ids = sorted(by_kind.get("order", []))
        spent = 0.0
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            async with store.read() as conn:
                by_tx: dict[str, list] = {}  # read as the evaluator reads them, outside the timed part
                for row in await conn.execute(events.select().where(events.c.tx_id.in_(chunk))):
                    by_tx.setdefault(row.tx_id, []).append(_tx_event(row, kinds_of.get(row.source)))
                started = time.perf_counter()
                named_by = await settlements_naming(conn, chunk)
                await linked_transactions(conn, chunk, named_by)
                await load_settlement_facts(conn, dict.fromkeys(chunk, "order"), by_tx, _tx_event, kinds_of,
                                            config.settlement or SettlementSettings(), named_by)
                spent += time.perf_counter() - started
        figures["order settlement part s"] = spent
        return figures
    finally:
        await store.close()


async def on_engine(engine: str, orders: int, per_payout: int) -> dict[str, float]:
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            return await measure(f"sqlite+aiosqlite:///{folder}/s.db", orders, per_payout)
    import asyncpg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        return await measure(PG_URL, orders, per_payout, search_path=schema)
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--per-payout", type=int, default=200)
    parser.add_argument("--engines", default="sqlite,postgres")
    args = parser.parse_args(argv)
    for engine in filter(None, args.engines.split(",")):
        f = asyncio.run(on_engine(engine, args.orders, args.per_payout))
        orders, payouts = f["order count"], f["settlement count"]
        share = f["order settlement part s"] / f["order evaluate s"]
        print(f"{engine}: {orders:,.0f} orders evaluated in {f['order evaluate s']:.2f} s "
              f"({orders / f['order evaluate s']:,.0f}/s), of which the settlement links and facts "
              f"{f['order settlement part s']:.2f} s ({share:.0%}, timed apart on the same chunks); "
              f"{payouts:,.0f} payouts of {args.per_payout} lines reconciled in {f['settlement evaluate s']:.2f} s "
              f"({f['settlement evaluate s'] / max(payouts, 1) * 1000:,.1f} ms each) "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
