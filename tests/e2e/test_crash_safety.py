"""Crash safety: SIGKILL the real server mid-stream; every acknowledged delivery survives exactly once.

A stream of signed webhooks goes to a real `crosstrace serve` process over HTTP. Once a few hundred
are acknowledged the process is killed with SIGKILL (no shutdown code runs). After a restart, a
sender's retries are replayed (the failed ones and some acknowledged ones), and the test proves that
every delivery that got a 2xx is stored once, normalized, and yields its event exactly once.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.server import Server, free_port, write_config
from tests.support import OPERATOR_KEY, cloudevent, signed_headers

QUERY = """query($after: String) { deliveries(first: 100, after: $after) {
  nodes { id state eventIds } pageInfo { hasNextPage endCursor } } }"""


def webhook(n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", f"SO-{n}")], id=f"evt-{n}")).encode()
    return body, signed_headers(body, msg_id=f"msg_{n}")


async def stream(server: Server, total: int, kill_after: int,
                 kill: Callable[[], None] | None = None) -> tuple[dict[int, str], set[int]]:
    """Send `total` webhooks with 16 in flight; SIGKILL the server (or call ``kill``) once `kill_after` are
    acknowledged."""
    acked: dict[int, str] = {}
    failed: set[int] = set()
    killed = threading.Event()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(n)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            body, headers = webhook(n)
            try:
                response = await client.post(f"{server.url}/hooks/erp", content=body, headers=headers)
            except httpx.HTTPError:
                failed.add(n)
                continue
            if response.status_code in (200, 202):
                acked[n] = response.json()["delivery"]
                if len(acked) >= kill_after and not killed.is_set():
                    killed.set()
                    (kill or server.kill)()
            else:
                failed.add(n)

    async with httpx.AsyncClient(timeout=5) as client:
        await asyncio.gather(*(worker(client) for _ in range(16)))
    return acked, failed


def all_deliveries(server: Server) -> list[dict]:
    rows: list[dict] = []
    after = None
    while True:
        data = httpx.post(f"{server.url}/graphql", json={"query": QUERY, "variables": {"after": after}},
                          headers={"authorization": f"Bearer {OPERATOR_KEY}"}).json()  # anonymous reads nothing
        page = data["data"]["deliveries"]
        rows += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return rows
        after = page["pageInfo"]["endCursor"]


def wait_normalized(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = httpx.get(f"{server.url}/metrics").text
        if "crosstrace_normalize_pending 0\n" in metrics:
            return
        time.sleep(0.2)
    raise AssertionError("deliveries were not normalized in time")


@pytest.mark.asyncio
async def test_sigkill_mid_stream_loses_and_doubles_nothing(store_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = Server(write_config(tmp_path, store_url), free_port())
    server.start()
    try:
        acked, failed = await stream(server, total=1200, kill_after=300)
        assert server.process is not None and server.process.returncode == -9
        assert len(acked) >= 300 and failed, "the kill must land mid-stream"
        if store_url.startswith("sqlite"):  # one process appends to the inbox log; its normalizer moves it
            with sqlite3.connect(tmp_path / "hub.db.inbox") as log:
                logged = {row[0] for row in log.execute("SELECT id FROM entries")}
            log.close()
            assert set(acked.values()) <= logged

        server.start()
        async with httpx.AsyncClient(timeout=10) as client:  # the senders retry: failed ones and a few acked ones
            for n in sorted(failed) + sorted(acked)[:50]:
                body, headers = webhook(n)
                response = await client.post(f"{server.url}/hooks/erp", content=body, headers=headers)
                assert response.status_code in (200, 202), response.text
                if n in acked:
                    assert (response.status_code, response.json()["delivery"]) == (200, acked[n])
                acked[n] = response.json()["delivery"]
        wait_normalized(server)

        stored = all_deliveries(server)
        ids = [row["id"] for row in stored]
        assert len(ids) == len(set(ids)) == 1200
        assert set(acked.values()) == set(ids)
        assert all(row["state"] == "done" and len(row["eventIds"]) == 1 for row in stored)
        events = [e for row in stored for e in row["eventIds"]]
        assert len(set(events)) == 1200
    finally:
        server.stop()
