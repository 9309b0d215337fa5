"""Outbound notifications against a real receiver: a Starlette app on uvicorn (free port) that checks the
Standard Webhooks signature, answers 500 twice and then accepts. The hub runs with a fake clock, on
SQLite and PostgreSQL; the notification arrives exactly once, after backoff, and nothing else is sent.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from collectors.base import SignatureError
from collectors.standard_webhooks import verify
from hub.errors import ConfigError
from hub.exceptions.notify import backoff
from hub.exceptions.notify_targets import notifications_from_config
from hub.store.tables import notification_outbox
from tests.e2e.server import free_port
from tests.hub.test_exception_rules import FakeClock, at, ingest
from tests.support import OPERATOR_KEY, VIEWER_KEY, cloudevent, gql, running_app

NOTIFY_SECRET = "whsec_" + "bm90aWZpY2F0aW9uLXNlY3JldC1mb3ItdGVzdHM="


@dataclass
class Receiver:
    """Records every attempt; fails the first ``failures`` with 500."""

    failures: int = 2
    attempts: list[tuple[str, str]] = field(default_factory=list)  # (path, webhook-id)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    hold: asyncio.Event | None = None  # when set up, every request waits for it (a receiver that hangs)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def hook(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        try:
            verify(request.headers, body, [NOTIFY_SECRET], time.time())
        except SignatureError:
            self.bad_signatures += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        self.attempts.append((request.url.path, request.headers["webhook-id"]))
        if len(self.attempts) <= self.failures:
            return JSONResponse({"error": "try later"}, status_code=500)
        self.accepted.append({"id": request.headers["webhook-id"], **json.loads(body)})
        return JSONResponse({"ok": True})


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[str]:
    app = Starlette(routes=[Route("/ops", receiver.hook, methods=["POST"]),
                            Route("/finance", receiver.hook, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def targets(base: str) -> list[dict[str, Any]]:
    return [{"name": "ops", "url": f"{base}/ops", "secret": NOTIFY_SECRET, "types": ["failed"]},
            {"name": "finance", "url": f"{base}/finance", "secret": NOTIFY_SECRET, "types": ["amount_mismatch"],
             "actions": ["opened"]}]


async def outbox_rows(hub: Any) -> list[Any]:
    async with hub.started().store.read() as conn:
        return list(await conn.execute(select(notification_outbox).order_by(notification_outbox.c.history_id)))


@pytest.mark.asyncio
async def test_notification_arrives_once_after_two_failures_with_backoff(store_url: str) -> None:
    receiver = Receiver()
    clock = FakeClock()
    async with receiving(receiver) as base, \
            running_app(store_url, clock=clock, extra={"notifications": targets(base)}) as (client, hub):
        await ingest(client, hub, cloudevent("erp", "sync.failed", [("erp:so", "SO-1")], time_=at(0), error="timeout"))
        await hub.notifier.run_once()  # the background sender may have been first: the lock makes it one attempt
        assert [path for path, _ in receiver.attempts] == ["/ops"] and not receiver.accepted

        await hub.notifier.send_due()  # not due yet: backoff
        assert len(receiver.attempts) == 1
        [row] = await outbox_rows(hub)
        assert (row.state, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
        wait = (row.next_attempt_at - clock.naive()).total_seconds()
        assert 2.5 <= wait <= 5.0  # first retry: 5 s with equal jitter

        for _ in range(3):
            clock.now += timedelta(hours=1)
            await hub.notifier.send_due()
        assert len(receiver.attempts) == 3 and len({msg_id for _, msg_id in receiver.attempts}) == 1
        [sent] = receiver.accepted  # exactly once, with the id every retry carried
        assert sent["id"] == receiver.attempts[0][1] and sent["type"] == "exception.opened"
        data = sent["data"]
        assert (data["type"], data["rule"], data["status"]) == ("failed", "event.failed", "open")
        assert sent["data"]["evidence"]["error"] == "timeout" and receiver.bad_signatures == 0
        [row] = await outbox_rows(hub)
        assert (row.state, row.attempts) == ("delivered", 3)

        exception_id = sent["data"]["id"]
        await gql(client, 'mutation($id: ID!) { acknowledgeException(id: $id) { count } }', key=OPERATOR_KEY,
                  id=exception_id)
        await gql(client, 'mutation($id: ID!) { resolveException(id: $id, note: "fixed") { count } }',
                  key=OPERATOR_KEY, id=exception_id)
        await hub.notifier.run_once()
        assert [m["type"] for m in receiver.accepted] == ["exception.opened", "exception.resolved"]  # no ack
        resolved = receiver.accepted[1]
        assert resolved["data"]["change"] == {"action": "resolved", "actor": "ops", "note": "fixed",
                                              "at": resolved["data"]["change"]["at"]}
        assert all(path == "/ops" for path, _ in receiver.attempts)  # finance matches amount mismatches only


@pytest.mark.asyncio
async def test_a_receiver_that_never_accepts_ends_failed_after_max_attempts(store_url: str) -> None:
    receiver = Receiver(failures=10_000)
    clock = FakeClock()
    async with receiving(receiver) as base, \
            running_app(store_url, clock=clock, extra={"notifications": targets(base)}) as (client, hub):
        total = {"value": "10.00", "currency": "EUR", "kind": "total"}
        await ingest(client, hub, cloudevent("shop", "order.placed", [("shop:order", "7")], time_=at(0), amount=total),
                     cloudevent("shop", "payment.captured", [("shop:order", "7")], time_=at(1),
                                amount={"value": "9.00", "currency": "EUR", "kind": "capture"}))
        await hub.notifier.run_once()
        for _ in range(12):
            clock.now += timedelta(hours=2)
            await hub.notifier.send_due()
        [row] = await outbox_rows(hub)
        assert (row.target, row.state, row.attempts) == ("finance", "failed", 10)
        assert [path for path, _ in receiver.attempts] == ["/finance"] * 10


@pytest.mark.asyncio
async def test_a_hanging_receiver_never_holds_up_ingest(store_url: str) -> None:
    receiver = Receiver(failures=0, hold=asyncio.Event())
    clock = FakeClock()
    async with receiving(receiver) as base, \
            running_app(store_url, clock=clock, extra={"notifications": targets(base)}) as (client, hub):
        await ingest(client, hub, cloudevent("erp", "sync.failed", [("erp:so", "SO-1")], time_=at(0)))
        sending = asyncio.create_task(hub.notifier.run_once())
        async with asyncio.timeout(30):
            await receiver.arrived.wait()  # a POST is now in flight and will not finish until released
            await ingest(client, hub, cloudevent("erp", "sync.failed", [("erp:so", "SO-2")], time_=at(1)))
        assert not sending.done()
        result = await gql(client, '{ exceptions(filter: {type: ["failed"]}, first: 1) { totalCount } }',
                           key=VIEWER_KEY)
        assert result["data"]["exceptions"]["totalCount"] == 2  # ingested and evaluated meanwhile
        receiver.hold.set()
        await sending
        clock.now += timedelta(hours=1)  # if the held POST timed out, its retry is due now
        await hub.notifier.run_once()
        assert len({m["data"]["id"] for m in receiver.accepted}) == 2  # both exceptions notified in the end


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    for attempt, full in ((1, 5), (2, 10), (3, 20), (10, 2560), (11, 3600), (30, 3600)):
        delays = [backoff(attempt, rng) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 10  # jittered, not a fixed schedule


@pytest.mark.parametrize(("item", "environ", "message"), [
    ({"url": "https://x.example/h", "secret": "env:HOOK"}, {}, "environment variable HOOK is not set"),
    ({"url": "https://x.example/h", "secret": "plain"}, {}, "starting with whsec_"),
    ({"url": "ftp://x.example/h", "secret": NOTIFY_SECRET}, {}, "must be an http(s) URL"),
    ({"url": "https://x.example/h", "secret": NOTIFY_SECRET, "actions": ["changed"]}, {}, "'changed' is not one of"),
    ({"url": "https://x.example/h", "secret": NOTIFY_SECRET, "severities": ["loud"]}, {}, "'loud' is not one of"),
])
def test_bad_notification_config_names_the_key(item: dict[str, Any], environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match="notifications\\[0\\]") as error:
        notifications_from_config([item], environ)
    assert message in str(error.value)


def test_env_secret_resolves() -> None:
    item = {"url": "https://x.example/h", "secret": "env:HOOK"}
    [target] = notifications_from_config([item], {"HOOK": NOTIFY_SECRET})
    assert target.secret == NOTIFY_SECRET and target.actions == ("opened", "resolved", "escalated")
