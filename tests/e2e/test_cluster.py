"""Three hub processes on one PostgreSQL (issue 15): work is taken once, the partition is one process's, duties
fail over.

Three real ``crosstrace serve`` processes share one database. The repository's stitching scenario (five systems'
signed webhooks, three arrival orders, one where the ERP posting bridges two transactions) is spread across them;
then many more orders arrive with each delivery posted to two processes at the same moment, while the process
that holds every periodic duty is SIGKILLed mid-run and restarted (its senders retry on another process, as a load
balancer would). Every acknowledged delivery is stored and normalized exactly once, each order ends as one
transaction of its five events (what one process makes), no log holds a constraint error, the duties move
to a live process once the dead one's leases lapse, and a GraphQL subscriber on one process is told of the
exceptions the others open.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.server import Server, free_port
from tests.e2e.test_stitching import ARRIVALS, EXPECTED_EVENTS, Story, deliver, trace, write_config

DUTIES = ["alerts", "evaluator", "notifier", "retention"]
LOAD_STORIES = range(10, 40)
STEPS = ["shop", "stripe", "erp", "wms", "easypost"]
_ERRORS = ("UniqueViolation", "IntegrityError", "duplicate key", "unique constraint", "Traceback")


def cluster_config(folder: Path, store_url: str) -> Path:
    path = write_config(folder, store_url)
    path.write_text(path.read_text() + """
[cluster]
lease_seconds = 2
claim_seconds = 3

[graphql]
cost_bucket = 1000000
""")
    return path


def duties(server: Server) -> list[str]:
    try:
        return httpx.get(f"{server.url}/healthz", timeout=2).json().get("duties", [])
    except httpx.HTTPError:
        return []


async def post_twice(client: httpx.AsyncClient, servers: list[Server], story: Story, step: str,
                     rng: random.Random) -> set[str]:
    """POST one delivery to two processes at once; retry on a live one until acknowledged. Its delivery ids."""
    source, body, headers = getattr(story, step)(int(time.time()))
    headers = {**headers, "content-type": "application/json"}
    ids: set[str] = set()

    async def post(server: Server) -> bool:
        try:
            response = await client.post(f"{server.url}/hooks/{source}", content=body, headers=headers)
        except httpx.HTTPError:
            return False
        if response.status_code >= 500:  # starting or stopping (503 Busy): not acknowledged, the sender retries
            return False
        assert response.status_code in (200, 202), response.text
        ids.add(response.json()["delivery"])
        return True

    results = await asyncio.gather(*(post(server) for server in rng.sample(servers, 2)))
    while not any(results):  # both were down: the sender retries elsewhere
        await asyncio.sleep(0.1)
        results = [await post(rng.choice(servers))]
    return ids


@pytest.mark.asyncio
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_three_processes_take_work_once_stitch_as_one_and_fail_over(store_url: str, tmp_path: Path) -> None:
    config = cluster_config(tmp_path, store_url)
    servers = [Server(config, free_port()) for _ in range(3)]
    first, rest = servers[0], servers[1:]
    engine = create_async_engine(store_url)
    try:
        for server in servers:  # the first starts alone: it holds every duty
            await asyncio.to_thread(server.start, 90)
        assert duties(first) == DUTIES and all(duties(server) == [] for server in rest)

        # The stitching scenario, each delivery to the next process in turn.
        stories = {name: Story(n) for n, name in enumerate(ARRIVALS)}
        with httpx.Client(timeout=10) as client:
            turn = 0
            for name, order in ARRIVALS.items():
                for step in order:
                    await asyncio.to_thread(deliver, client, servers[turn % 3], getattr(stories[name], step))
                    turn += 1

        # Many orders at once, each delivery to two processes; the duty holder is killed mid-run.
        rng = random.Random(15)
        load = {n: Story(n) for n in LOAD_STORIES}
        work = [(story, step) for story in load.values() for step in STEPS]
        rng.shuffle(work)
        acked: list[set[str]] = []
        async with httpx.AsyncClient(timeout=10) as client:
            queue: asyncio.Queue[tuple[Story, str]] = asyncio.Queue()
            for item in work:
                queue.put_nowait(item)

            async def sender() -> None:
                while not queue.empty():
                    story, step = queue.get_nowait()
                    acked.append(await post_twice(client, servers, story, step, rng))
                    if len(acked) == len(work) // 3:
                        first.kill()
                        killed_at = time.monotonic()
                        async with asyncio.timeout(30):  # the dead holder's leases lapse, a live process takes them
                            while sorted(duties(rest[0]) + duties(rest[1])) != DUTIES:
                                await asyncio.sleep(0.2)
                        assert time.monotonic() - killed_at < 15
                        await asyncio.to_thread(first.start, 90)

            await asyncio.gather(*(sender() for _ in range(6)))
        assert first.process is not None and first.process.poll() is None  # restarted

        async with asyncio.timeout(90):  # every delivery normalized (claims of the killed process taken over)
            while True:
                async with engine.connect() as conn:
                    pending = (await conn.execute(text("SELECT count(*) FROM deliveries WHERE state <> 'done'"))
                               ).scalar_one()
                if pending == 0:
                    break
                await asyncio.sleep(0.3)

        async with engine.connect() as conn:
            deliveries = (await conn.execute(text("SELECT id, attempts FROM deliveries"))).all()
            per_delivery = dict((await conn.execute(text("SELECT delivery_id, count(*) FROM events "
                                                          "GROUP BY delivery_id"))).all())
            groups = (await conn.execute(text(
                "SELECT tx_id, array_agg(source || ':' || source_event_id ORDER BY source) FROM events "
                "GROUP BY tx_id"))).all()
        assert all(len(ids) == 1 for ids in acked)  # both processes answered with the one stored delivery
        assert {next(iter(ids)) for ids in acked} <= {row.id for row in deliveries}
        assert len(deliveries) == 15 + len(work)  # stored once each
        assert all(row.attempts == 1 for row in deliveries), [r for r in deliveries if r.attempts != 1]
        assert all(per_delivery.get(row.id) == 1 for row in deliveries)  # each yields its one event, once

        # The partition one process makes: every order one transaction of its five events, nothing else.
        expected = {frozenset(_event_keys(story)) for story in [*stories.values(), *load.values()]}
        assert {frozenset(keys) for _, keys in groups} == expected
        with httpx.Client(timeout=10) as client:
            for story in [*stories.values(), *load.values()]:
                found = {tx["id"] for tx in (trace(client, servers[story.n % 3], ref) for ref in story.ids()) if tx}
                assert len(found) == 1, (story.n, found)
            tx = trace(client, servers[1], stories["bridge-last"].tracking)
            assert tx is not None and sorted((e["source"], e["type"]) for e in tx["events"]) == EXPECTED_EVENTS

        # Normalized once: the events the live processes say they stored never add up to more than there are (the
        # restarted one counts from its restart; a delivery two of them processed would be counted by both).
        stored = sum(_counter(server, "crosstrace_events_stored_total") for server in servers)
        assert 0 < stored <= 15 + len(work)

        for server in servers:
            log = server.log.read_text()
            assert not [line for line in log.splitlines() if any(word in line for word in _ERRORS)], log[-3000:]

        # A subscriber on one process sees the exceptions the others open (here: dead letters of unparsable
        # deliveries, each opened by the process that claimed it, almost always the one that received it).
        watcher, others = servers[1], [servers[0], servers[2]]
        opened = await _dead_letters_seen(watcher, others, count=6)
        async with engine.connect() as conn:
            claimants = dict((await conn.execute(text(
                "SELECT id, claimed_by FROM deliveries WHERE state = 'dead'"))).all())
        watcher_node = httpx.get(f"{watcher.url}/healthz", timeout=5).json()["node"]
        assert set(opened) == set(claimants)  # every one, opened wherever it was
        assert any(node != watcher_node for node in claimants.values())  # some by another process
    finally:
        for server in servers:
            await asyncio.to_thread(server.stop)
        await engine.dispose()


def _event_keys(story: Story) -> list[str]:
    """The (source:source_event_id) of a story's five events, as the adapters name them."""
    return [f"shop:shop-evt-{story.n}", f"stripe:evt_stitch{story.n}", f"erp:erp-evt-{story.n}",
            f"wms:wms-evt-{story.n}", f"easypost:evt_ep_stitch{story.n}"]


SUBSCRIBE = """subscription { exceptionEvents(types: ["dead_letter"]) { action exception { id subject } } }"""


async def _dead_letters_seen(watcher: Server, others: list[Server], count: int) -> list[str]:
    """Subscribe on ``watcher`` (graphql-transport-ws), post ``count`` signed unparsable ERP deliveries to the
    others in turn; the delivery ids of the dead letters the subscriber was told about."""
    from websockets.asyncio.client import connect

    from collectors import json_mapping
    from tests.e2e.test_stitching import ERP_SECRET
    from tests.support import OPERATOR_KEY

    ws_url = watcher.url.replace("http://", "ws://") + "/graphql"
    seen: list[str] = []
    async with httpx.AsyncClient(timeout=10) as client, \
            connect(ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                    additional_headers={"authorization": f"Bearer {OPERATOR_KEY}"}) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        async with asyncio.timeout(30):
            while "crosstrace_live_subscribers 1\n" not in (await client.get(f"{watcher.url}/metrics")).text:
                await asyncio.sleep(0.05)
        for n in range(count):
            body = f"not json {n}".encode()
            response = await client.post(f"{others[n % 2].url}/hooks/erp", content=body, headers={
                "x-erp-signature": "sha256=" + json_mapping.sign(ERP_SECRET, body), "content-type": "application/json"})
            assert response.status_code == 202, response.text
        async with asyncio.timeout(60):
            while len(seen) < count:
                message = json.loads(await ws.recv())
                assert message["type"] == "next", message
                event = message["payload"]["data"]["exceptionEvents"]
                if event["action"] == "opened":
                    seen.append(event["exception"]["subject"])
    return seen


def _counter(server: Server, name: str) -> float:
    lines = httpx.get(f"{server.url}/metrics", timeout=10).text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(name + " ") or
               line.startswith(name + "{"))
