"""Roles of a process: ``serve --role web`` beside a ``crosstrace worker``, and ``serve --worker-process``.

Real processes over real HTTP on both stores: a signed webhook to the web process becomes a trace that the
worker normalized; either process SIGKILLed mid-stream loses and doubles nothing; the child worker of
``serve --worker-process`` is started again when it dies, and ends when its parent is killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Server, Worker, free_port, write_config
from tests.e2e.test_crash_safety import all_deliveries, stream, wait_normalized, webhook
from tests.support import OPERATOR_KEY, cloudevent, signed_headers

TRACE = "query($ref: String!) { transaction(ref: $ref) { id events { type source } } }"


def trace(server: Server, ref: str) -> dict | None:
    response = httpx.post(f"{server.url}/graphql", json={"query": TRACE, "variables": {"ref": ref}},
                          headers={"authorization": f"Bearer {OPERATOR_KEY}"})
    assert response.status_code == 200, response.text
    return response.json()["data"]["transaction"]


def post_order(server: Server, order: str) -> str:
    body = json.dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", order)], id=f"evt-{order}")).encode()
    response = httpx.post(f"{server.url}/hooks/erp", content=body, headers=signed_headers(body, msg_id=f"m-{order}"))
    assert response.status_code == 202, response.text
    return response.json()["delivery"]


def waited(probe: Callable[[], dict | None], what: str, timeout: float = 60) -> dict:
    """What ``probe`` answers once it answers something (a liveness bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} not in time")


def wait_trace(server: Server, ref: str, timeout: float = 60) -> dict:
    return waited(lambda: trace(server, ref), f"a trace for {ref}", timeout)


@pytest.mark.asyncio
async def test_a_webhook_to_a_web_process_is_normalized_by_a_worker_process(store_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, store_url)
    web, worker = Server(config, free_port(), "--role", "web"), Worker(config)
    await asyncio.to_thread(web.start)
    try:
        health = httpx.get(f"{web.url}/healthz").json()
        assert health["role"] == "web" and health["checks"]["loops"] == {}  # no background loops of its own
        post_order(web, "SO-1")
        await asyncio.sleep(1.5)
        assert trace(web, "SO-1") is None  # nothing normalizes in the web process
        assert "crosstrace_normalize_pending 1\n" in httpx.get(f"{web.url}/metrics").text  # it sees the backlog
        worker.start()
        found = await asyncio.to_thread(wait_trace, web, "SO-1")
        assert found["events"] == [{"type": "erp.posted", "source": "erp"}]
        post_order(web, "SO-2")  # and the worker keeps taking what arrives
        await asyncio.to_thread(wait_trace, web, "SO-2")
    finally:
        await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(web.stop)
    assert worker.process is not None and worker.process.returncode == 0  # SIGTERM: a clean stop


def holding_duties(worker: Worker) -> dict | None:
    """The worker's /healthz once it holds duties (its first lease round takes every free one)."""
    health = httpx.get(f"{worker.url}/healthz").json()
    return health if health["duties"] else None


@pytest.mark.asyncio
async def test_a_worker_answers_healthz_and_metrics_on_its_health_port(store_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, store_url)
    web, worker = Server(config, free_port(), "--role", "web"), Worker(config, health_port=free_port())
    await asyncio.to_thread(web.start)
    try:
        await asyncio.to_thread(worker.start)  # waits for the worker's /healthz to answer 200
        health = await asyncio.to_thread(waited, lambda: holding_duties(worker), "the worker's duties")
        assert health["status"] == "ok" and health["role"] == "worker", health
        assert {"evaluator", "alerts", "notifier", "retention"} <= set(health["duties"]), health
        assert "crosstrace-normalizer" in health["checks"]["loops"] and health["checks"]["pending"]["ok"], health
        assert "inbox_queue" not in health  # a worker receives nothing
        assert health["node"] != httpx.get(f"{web.url}/healthz").json()["node"]
        post_order(web, "SO-H")
        await asyncio.to_thread(wait_trace, web, "SO-H")
        metrics, node = httpx.get(f"{worker.url}/metrics").text, health["node"]
        assert f'crosstrace_node_info{{node="{node}"}} 1' in metrics, metrics
        assert f'crosstrace_duty_held{{duty="evaluator",node="{node}"}} 1' in metrics, metrics
        assert "crosstrace_normalize_pending 0\n" in metrics
        assert "crosstrace_events_stored_total" in metrics  # its own normalizer's counters
    finally:
        await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(web.stop)
    assert worker.process is not None and worker.process.returncode == 0  # SIGTERM: a clean stop, port and all


@pytest.mark.asyncio
@pytest.mark.parametrize("victim", ["web", "worker"])
async def test_sigkill_of_the_web_or_the_worker_process_loses_and_doubles_nothing(
        store_url: str, tmp_path: Path, victim: str) -> None:
    config = write_config(tmp_path, store_url)
    web, worker = Server(config, free_port(), "--role", "web"), Worker(config)
    await asyncio.to_thread(web.start)
    worker.start()
    try:
        acked, failed = await stream(web, 800, 200, web.kill if victim == "web" else worker.kill)
        killed = web if victim == "web" else worker
        assert killed.process is not None and killed.process.returncode == -9
        if victim == "web":
            assert failed, "the kill must land mid-stream"
            await asyncio.to_thread(web.start)
        else:
            assert not failed  # receiving does not need the worker
            worker.start()
        async with httpx.AsyncClient(timeout=10) as client:  # the senders retry: failed ones and a few acked ones
            for n in sorted(failed) + sorted(acked)[:50]:
                body, headers = webhook(n)
                response = await client.post(f"{web.url}/hooks/erp", content=body, headers=headers)
                assert response.status_code in (200, 202), response.text
                if n in acked:
                    assert (response.status_code, response.json()["delivery"]) == (200, acked[n])
                acked[n] = response.json()["delivery"]
        await asyncio.to_thread(wait_normalized, web)
        stored = await asyncio.to_thread(all_deliveries, web)
        ids = [row["id"] for row in stored]
        assert len(ids) == len(set(ids)) == 800
        assert set(acked.values()) == set(ids)
        assert all(row["state"] == "done" and len(row["eventIds"]) == 1 for row in stored)
        assert len({e for row in stored for e in row["eventIds"]}) == 800
    finally:
        await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(web.stop)


def children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (from /proc: the child may be started by any of its threads)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(") ", 1)[1].split()[:2]
        except (OSError, IndexError):
            continue
        if int(ppid) == pid and state != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"  # a zombie has ended


def wait_for(condition, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout  # a liveness bound, not a timing assertion
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.mark.asyncio
async def test_serve_restarts_its_worker_process_and_the_worker_ends_with_its_parent(
        store_url: str, tmp_path: Path) -> None:
    server = Server(write_config(tmp_path, store_url), free_port(), "--worker-process")
    await asyncio.to_thread(server.start)
    assert server.process is not None
    try:
        first = await asyncio.to_thread(wait_for, lambda: children(server.process.pid))
        post_order(server, "SO-1")
        await asyncio.to_thread(wait_trace, server, "SO-1")
        os.kill(first[0], signal.SIGKILL)
        second = await asyncio.to_thread(wait_for, lambda: [p for p in children(server.process.pid)
                                                             if p != first[0]])
        post_order(server, "SO-2")  # the new child normalizes what arrives
        await asyncio.to_thread(wait_trace, server, "SO-2")
        server.kill()  # SIGKILL: the parent runs no shutdown code, yet its child notices and stops
        await asyncio.to_thread(wait_for, lambda: not alive(second[0]))
    finally:
        await asyncio.to_thread(server.stop)
    assert "the worker process ended (exit status -9); starting it again" in server.log.read_text()
