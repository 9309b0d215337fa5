"""``/compare`` and GraphQL ``compare(a, b)`` on the seed (real HTTP over ASGITransport, SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest

from tests.support import gql
from tests.web.app import deliver_story, web_app

COMPARE = """query($a: String!, $b: String!) { compare(a: $a, b: $b) { a { id } b { id } sameFlow divergesAt
  steps { name kind diverges lagDifferenceSeconds a { status lagSeconds source } b { status lagSeconds } } } }"""


@pytest.mark.asyncio
async def test_a_stuck_order_against_one_that_went_through(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        answer = await gql(client, COMPARE, a="W1001", b="W1002")
        assert "errors" not in answer, answer
        found = answer["data"]["compare"]
        assert found["sameFlow"] and found["divergesAt"] == "accepted"
        steps = {s["name"]: s for s in found["steps"]}
        assert steps["placed"]["a"]["status"] == steps["placed"]["b"]["status"] == "done"
        assert not steps["placed"]["diverges"]
        assert steps["accepted"]["a"]["status"] == "done" and steps["accepted"]["b"]["status"] != "done"
        assert steps["accepted"]["a"]["source"] == "erp" and steps["accepted"]["a"]["lagSeconds"] == 20 * 60
        assert steps["shipped"]["diverges"]
        events = [s for s in found["steps"] if s["kind"] == "event"]
        assert {"sync.failed": "missing"} == {s["name"]: s["b"]["status"] for s in events if s["name"] == "sync.failed"}

        page = await client.get("/compare", params={"a": "W1001", "b": "W1002"})
        assert page.status_code == 200
        assert re.findall(r'data-step="([^"]+)" data-diverges="yes"', page.text)[0] == "accepted"
        assert '<strong id="diverges-at">accepted</strong>' in page.text

        same = (await gql(client, COMPARE, a="W1001", b="SO-1042"))["data"]["compare"]
        assert same["divergesAt"] is None and not any(s["diverges"] for s in same["steps"])

        transfer = (await gql(client, COMPARE, a="W1001", b="TR-9"))["data"]["compare"]
        assert not transfer["sameFlow"] and transfer["steps"][0]["kind"] == "event"

        assert (await gql(client, COMPARE, a="W1001", b="NOPE-404"))["data"]["compare"] is None
        ambiguous = await gql(client, COMPARE, a="W1001", b="7")
        assert ambiguous["errors"][0]["extensions"]["code"] == "AMBIGUOUS_REF"
        assert (await gql(client, COMPARE, a="", b="W1001"))["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

        assert (await client.get("/compare", params={"a": "W1001", "b": "NOPE-404"})).status_code == 404
        assert (await client.get("/compare", params={"a": "W1001", "b": "7"})).status_code == 400
        assert (await client.get("/compare", params={"a": "x" * 5000, "b": "W1001"})).status_code == 400
        empty = await client.get("/compare")
        assert empty.status_code == 200 and "Give two transactions" in empty.text
