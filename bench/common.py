"""Shared bench helpers: the bench config, synthetic CloudEvents, ids, percentiles and process CPU."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

from hub.access.auth import digest
from hub.config import Config, parse
from hub.store import Store

SECRET = "whsec_" + "YmVuY2gtc2VjcmV0LWZvci1jcm9zc3RyYWNlLTEyMzQ1Ng=="  # any base64 key will do
OPERATOR_KEY = "ct_bench-operator-key"
ADMIN_KEY = "ct_bench-admin-key"  # sees personal data unmasked, like the bare JSON endpoint of the lookup figure
SOURCES = ("shop", "erp", "wms")
PG_URL = os.environ.get("CROSSTRACE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@asynccontextmanager
async def scratch_postgres(prefix: str) -> AsyncIterator[tuple[Any, Store, str]]:
    """A migrated store in a schema of its own on the local PostgreSQL, an asyncpg connection whose search_path
    is that schema (for the bare baseline), and the schema's name; the schema is dropped afterwards."""
    import asyncpg

    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        store = await Store.open(PG_URL, search_path=schema)
        await admin.execute(f'SET search_path TO "{schema}"')
        try:
            yield admin, store, schema
        finally:
            await store.close()
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


def bench_config(store_url: str) -> Config:
    """Three signed CloudEvents sources (shop, erp, wms), an operator and an admin key, as a deployment has."""
    return parse({
        "store": {"url": store_url},
        "sources": [
            {"name": "shop", "kind": "commerce", "adapter": "cloudevents", "secret": SECRET},
            {"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": SECRET},
            {"name": "wms", "kind": "wms", "adapter": "cloudevents", "secret": SECRET},
        ],
        "api_keys": [{"name": "bench", "role": "operator", "key_sha256": digest(OPERATOR_KEY)},
                     {"name": "bench-admin", "role": "admin", "key_sha256": digest(ADMIN_KEY)}],
        "graphql": {"cost_bucket": 1_000_000},  # the lookup figure times queries; the per-caller budget is not it
    }, {})


def sqlite_url(path: str) -> str:
    return f"sqlite+aiosqlite:///{path}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def order_event(order: int, stage: int, when: str, *, source_override: str | None = None) -> dict[str, Any]:
    """Stage 0/1/2 of one order: shop order.placed, erp erp.posted, wms shipment.shipped.

    The refs link the three: shop:order on 0 and 1, erp:sales_order on 1 and 2 (DESIGN §3 correlation).
    """
    shop_order = f"50{order:010d}"
    sales_order = f"SO-{order:08d}"
    if stage == 0:
        source, type_ = "shop", "order.placed"
        refs = [("shop:order", shop_order), ("shop:order_name", f"#{order + 1000}")]
        extra: dict[str, Any] = {"amount": {"value": f"{(order % 9000) / 100 + 10:.2f}", "currency": "EUR"},
                                 "lines": [{"sku": f"SKU-{order % 977:04d}", "qty": 1 + order % 3}]}
    elif stage == 1:
        source, type_ = "erp", "erp.posted"
        refs = [("erp:sales_order", sales_order), ("shop:order", shop_order)]
        extra = {}
    else:
        source, type_ = "wms", "shipment.shipped"
        refs = [("wms:shipment", f"SH-{order:08d}"), ("erp:sales_order", sales_order)]
        extra = {"lines": [{"sku": f"SKU-{order % 977:04d}", "qty": 1 + order % 3, "location": "DC1"}]}
    return {"specversion": "1.0", "id": f"{source}-{order}-{stage}", "source": source_override or source,
            "type": type_, "time": when, "datacontenttype": "application/json",
            "data": {"refs": [{"namespace": ns, "value": value} for ns, value in refs], **extra}}


def order_stream(orders: int, lag: int) -> Iterator[tuple[int, int]]:
    """(order, stage) in arrival order: each order's erp event comes ``lag`` orders later, its wms event
    ``2*lag`` later, so links cross batches and correlation must find what earlier batches stored."""
    for step in range(orders + 2 * lag):
        for stage in range(3):
            order = step - stage * lag
            if 0 <= order < orders:
                yield order, stage


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


class Ids:
    """Time-sortable ids shaped like ``hub.ids`` (prefix + 26 Crockford chars), cheap enough for 10M rows."""

    def __init__(self, prefix: str, epoch_ms: int | None = None) -> None:
        from hub.ids import ulid

        self._head = f"{prefix}_{ulid(epoch_ms or int(time.time() * 1000))[:10]}"
        self._next = 0

    def __call__(self) -> str:
        self._next += 1
        return f"{self._head}{self._next:016d}"


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[rank]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    values = sorted(seconds)
    return {"n": len(values), "p50_ms": percentile(values, 50) * 1000, "p99_ms": percentile(values, 99) * 1000,
            "mean_ms": sum(values) / len(values) * 1000 if values else float("nan")}


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds a process (and its reaped children) used so far, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")
