"""GraphQL ``transactionsByContact`` against a real ``crosstrace serve`` over real HTTP, for each role: an admin
finds a customer's order by email or phone (any spacing); viewers, operators and anonymous callers are refused;
every call by a known key is in the audit log with the contact's fingerprint, never its value (both stores)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.e2e.server import Server, free_port, write_config
from tests.e2e.test_roles import wait_trace
from tests.support import ADMIN_KEY, OPERATOR_KEY, VIEWER_KEY, cloudevent, signed_headers

EMAIL, PHONE = "Ana.Lima@Example.org", "+351 912 345 678"
BY_CONTACT = "query($c: String!) { transactionsByContact(contact: $c) { id refs { namespace value } } }"
AUDIT = """{ auditLog(first: 50, filter: {action: "transactionsByContact"}) {
  nodes { actor role action object result } } }"""


@pytest_asyncio.fixture
async def server(tmp_path: Path, store_url: str) -> AsyncIterator[Server]:
    hub = Server(write_config(tmp_path, store_url, every_role=True), free_port())
    await asyncio.to_thread(hub.start)
    try:
        yield hub
    finally:
        await asyncio.to_thread(hub.stop)


def ask(server: Server, query: str, key: str | None, **variables: Any) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code in (200, 401), response.text
    return response.json()


def code(answer: dict[str, Any]) -> str:
    return answer["errors"][0]["extensions"]["code"]


@pytest.mark.asyncio
async def test_only_an_admin_finds_a_transaction_by_contact_and_each_call_is_audited(server: Server) -> None:
    event = cloudevent("erp", "order.placed", [("erp:sales_order", "SO-77")], id="evt-so-77",
                       customer={"email": EMAIL, "phone": PHONE, "first_name": "Ana"})
    body = json.dumps(event).encode()
    assert httpx.post(f"{server.url}/hooks/erp", content=body, headers=signed_headers(body)).status_code == 202
    order = await asyncio.to_thread(wait_trace, server, "SO-77")

    for typed in (EMAIL, " ana.lima@example.ORG ", PHONE, "00351-912-345-678"):
        found = ask(server, BY_CONTACT, ADMIN_KEY, c=typed)
        assert "errors" not in found, found
        assert [t["id"] for t in found["data"]["transactionsByContact"]] == [order["id"]], typed
    assert {"namespace": "erp:sales_order", "value": "SO-77"} in found["data"]["transactionsByContact"][0]["refs"]
    assert ask(server, BY_CONTACT, ADMIN_KEY, c="someone.else@example.org")["data"]["transactionsByContact"] == []
    assert code(ask(server, BY_CONTACT, ADMIN_KEY, c="SO-77")) == "BAD_USER_INPUT"
    assert code(ask(server, BY_CONTACT, ADMIN_KEY, c="x" * 5000)) == "BAD_USER_INPUT"

    for key in (VIEWER_KEY, OPERATOR_KEY):
        refused = ask(server, BY_CONTACT, key, c=EMAIL)
        assert code(refused) == "FORBIDDEN" and refused["data"] is None, refused
    assert code(ask(server, BY_CONTACT, None, c=EMAIL)) == "UNAUTHORIZED"

    entries = ask(server, AUDIT, ADMIN_KEY)["data"]["auditLog"]["nodes"]
    outcomes = sorted((e["actor"], e["role"], e["result"]) for e in entries)
    assert outcomes == sorted([("root", "admin", "ok")] * 5 + [("root", "admin", "error")] * 2
                              + [("bi", "viewer", "denied"), ("ops", "operator", "denied")]), entries
    objects = {e["object"] for e in entries if e["result"] == "ok"}
    assert len(objects) == 3 and all(o.startswith("contact=sha256:") for o in objects), objects  # email, phone, other
    written = json.dumps(entries).lower()
    assert "lima" not in written and "351912345678" not in written
