"""Issue 13: /healthz reflects the pipeline, not only the process. It answers 503 with the reason while the
oldest pending delivery has waited longer than its threshold or a background loop has stopped completing
ticks, and 200 again once they move; /metrics shows the same figures. Time comes from the app's clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from hub.app import create_app
from hub.config import parse
from hub.errors import ConfigError
from hub.health import HealthSettings, parse_health
from hub.periodic import Heartbeats
from hub.runtime import Hub
from tests.support import cloudevent, config_for, dumps, signed_headers


class Clock:
    """Wall time plus an offset the test moves forward (signatures stay valid: they are checked on it too)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@asynccontextmanager
async def app_with(store_url: str, clock: Clock, evaluate_every: float = 3600,
                   extra: dict | None = None) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    app = create_app(config_for(store_url, extra=extra), clock=clock, evaluate_every=evaluate_every)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as client:
            yield client, app.state.hub


async def eventually(client: httpx.AsyncClient, done: Callable[[httpx.Response], bool]) -> httpx.Response:
    """Ask /healthz until ``done`` holds (a background loop has to run first); bounded, never a timing claim."""
    async with asyncio.timeout(30):
        while not done(response := await client.get("/healthz")):
            await asyncio.sleep(0.02)
    return response


@pytest.mark.asyncio
async def test_a_pending_delivery_older_than_the_threshold_makes_healthz_503_until_it_is_processed(
        store_url: str) -> None:
    clock = Clock()
    async with app_with(store_url, clock, extra={"health": {"max_pending_seconds": 60}}) as (client, hub):
        healthy = await client.get("/healthz")
        assert healthy.status_code == 200, healthy.text
        body = healthy.json()
        assert body["status"] == "ok" and body["checks"]["pending"] == {
            "ok": True, "oldest_seconds": 0.0, "threshold_seconds": 60.0}
        assert body["checks"]["store"]["ok"] and "crosstrace-evaluator" in body["checks"]["loops"]

        await hub.normalizer.stop()  # the normalizer is stuck: the delivery waits
        payload = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-H1")]))
        assert (await client.post("/hooks/erp", content=payload, headers=signed_headers(payload))).status_code == 202
        clock.offset = 30
        assert (await client.get("/healthz")).status_code == 200  # within the threshold
        clock.offset = 90
        stuck = await client.get("/healthz")
        assert stuck.status_code == 503, stuck.text
        assert stuck.json()["status"] == "error" and not stuck.json()["checks"]["pending"]["ok"]
        assert any("oldest pending delivery has waited" in r and "threshold 60 s" in r for r in stuck.json()["reasons"])
        metrics = (await client.get("/metrics")).text
        assert "crosstrace_healthy 0" in metrics
        oldest = float(next(line.split()[1] for line in metrics.splitlines()
                            if line.startswith("crosstrace_pending_oldest_seconds ")))
        assert 89 <= oldest <= 120

        hub.normalizer.start(hub.heartbeats)
        recovered = await eventually(client, lambda r: r.status_code == 200)
        assert recovered.json()["checks"]["pending"]["oldest_seconds"] == 0.0
        assert "crosstrace_healthy 1" in (await client.get("/metrics")).text


@pytest.mark.asyncio
async def test_a_loop_that_stops_completing_ticks_makes_healthz_503_and_200_once_it_ticks_again(
        store_url: str) -> None:
    clock = Clock()
    patient = {"health": {"max_pending_seconds": 3600}}  # only the loop's silence is under test here
    async with app_with(store_url, clock, extra=patient) as (client, hub):
        await hub.normalizer.stop()
        payload = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-H2")]))
        assert (await client.post("/hooks/erp", content=payload, headers=signed_headers(payload))).status_code == 202
        async with hub.started().store.write():  # the one writer is held: the normalizer's batch hangs on it
            hub.normalizer.start(hub.heartbeats)
            clock.offset = 120  # past max(3 × 1 s, 60 s) without a completed tick
            stalled = await client.get("/healthz")
            assert stalled.status_code == 503, stalled.text
            assert stalled.json()["reasons"] == [
                "crosstrace-normalizer has not completed a tick for 120 s (threshold 60 s)"]
            loops = stalled.json()["checks"]["loops"]
            assert loops["crosstrace-normalizer"]["ok"] is False and loops["crosstrace-evaluator"]["ok"] is True
            metrics = (await client.get("/metrics")).text
            assert 'crosstrace_loop_last_tick_seconds{loop="crosstrace-normalizer"} 12' in metrics
            assert "crosstrace_healthy 0" in metrics
        # released: the batch completes (a /healthz that read the queue just before may still show it waiting)
        back = await eventually(client, lambda r: r.status_code == 200
                                and r.json()["checks"]["pending"]["oldest_seconds"] == 0.0)
        assert back.json()["checks"]["loops"]["crosstrace-normalizer"]["ok"] is True


def test_heartbeats_count_a_loop_stalled_after_its_intervals_and_forget_a_stopped_one() -> None:
    now = [1000.0]
    beats = Heartbeats(lambda: now[0], intervals=3, min_seconds=10)
    beats.beat("fast", 1)
    beats.beat("slow", 3600)
    now[0] += 11
    assert beats.ages() == {"fast": (11.0, 10.0), "slow": (11.0, 10800.0)}
    beats.forget("fast")
    assert list(beats.ages()) == ["slow"]


def test_health_config_is_validated() -> None:
    assert parse_health({}) == HealthSettings()
    assert parse_health({"max_pending_seconds": 5, "stall_intervals": 2}) == HealthSettings(5.0, 2.0, 60.0)
    for table, message in [({"max_pending": 5}, "unknown key 'max_pending'"),
                           ({"max_pending_seconds": 0}, "health.max_pending_seconds must be a positive number"),
                           ({"stall_min_seconds": "60"}, "health.stall_min_seconds must be a positive number")]:
        with pytest.raises(ConfigError, match=message):
            parse_health(table)
    assert parse({"health": {"max_pending_seconds": 30}}, {}).health == HealthSettings(30.0)
