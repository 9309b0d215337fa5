"""``exceptionEvents`` over graphql-transport-ws: a real websocket client against a real server process.

The server is ``crosstrace serve`` (uvicorn) on a free port, on SQLite and PostgreSQL. An amount
mismatch opens (captured 90 of a 100 EUR order), changes (another 5 captured) and resolves (the last 5):
each step arrives on the socket as it happens.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.server import Server
from tests.support import OPERATOR_KEY, cloudevent

SUBSCRIBE = """subscription { exceptionEvents(types: ["amount_mismatch"]) {
  action exception { id type status evidence transactionId } } }"""


async def post(client: httpx.AsyncClient, server: Server, event: dict[str, Any]) -> None:
    response = await client.post(f"{server.url}/ingest", content=json.dumps(event), headers={
        "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents+json"})
    assert response.status_code == 202, response.text


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(30):  # a bound against hanging forever, not a timing assertion
        message = json.loads(await ws.recv())
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    return message["payload"]["data"]["exceptionEvents"]


async def subscribed(client: httpx.AsyncClient, server: Server, count: int) -> None:
    """Wait until the server reports ``count`` live subscribers (strawberry starts the resolver in a task)."""
    async with asyncio.timeout(30):
        while f"crosstrace_live_subscribers {count}\n" not in (await client.get(f"{server.url}/metrics")).text:
            await asyncio.sleep(0.05)


def payment(value: str, n: int) -> dict[str, Any]:
    return cloudevent("erp", "payment.captured", [("erp:so", "SO-77")], id=f"cap-{n}", time_=f"2026-11-01T12:0{n}:00Z",
                      amount={"value": value, "currency": "EUR", "kind": "capture"})


@pytest.mark.asyncio
async def test_opened_changed_resolved_arrive_over_graphql_transport_ws(server: Server) -> None:
    ws_url = server.url.replace("http://", "ws://") + "/graphql"
    async with httpx.AsyncClient(timeout=10) as client, \
            connect(ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                    additional_headers={"authorization": f"Bearer {OPERATOR_KEY}"}) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        await subscribed(client, server, 1)

        await post(client, server, cloudevent("erp", "order.placed", [("erp:so", "SO-77")], id="placed",
                                              amount={"value": "100.00", "currency": "EUR", "kind": "total"}))
        await post(client, server, payment("90.00", 1))
        opened = await next_event(ws)
        assert opened["action"] == "opened" and opened["exception"]["status"] == "open"
        assert opened["exception"]["evidence"]["difference"] == "-10.00"

        await post(client, server, payment("5.00", 2))
        changed = await next_event(ws)
        assert changed["action"] == "changed" and changed["exception"]["id"] == opened["exception"]["id"]
        assert changed["exception"]["evidence"]["difference"] == "-5.00"

        await post(client, server, payment("5.00", 3))
        resolved = await next_event(ws)
        assert resolved["action"] == "resolved" and resolved["exception"]["id"] == opened["exception"]["id"]
        assert resolved["exception"]["status"] == "resolved"

        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        await subscribed(client, server, 0)  # the server lets go of the subscriber when the client completes
