"""``/compare`` and GraphQL ``compare(a, b)`` on the seed (real HTTP over ASGITransport, SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.hub.test_exception_rules import FakeClock, at, ingest
from tests.hub.test_maintenance import iso
from tests.support import VIEWER_KEY, cloudevent, gql, running_app
from tests.web.app import deliver_story, login, web_app

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


COMPARE_MAINTENANCE = """query($a: String!, $b: String!) { compare(a: $a, b: $b) {
  steps { name a { status duringMaintenance } b { status duringMaintenance } }
  maintenance { sides window { source reason } } } }"""


@pytest.mark.asyncio
async def test_maintenance_windows_that_overlap_the_compared_periods_are_shown_and_pause_the_clocks(
        store_url: str) -> None:
    """W1 was accepted by the ERP during its maintenance; W2 waits on the ERP, whose clock stood still for the
    window: pending, not overdue (as its trace says). The window is listed for both; one after both periods is not."""
    clock = FakeClock()
    t0 = clock.now
    windows = [{"source": "erp", "from": iso(t0 + timedelta(minutes=10)), "until": iso(t0 + timedelta(minutes=40)),
                "reason": "ERP upgrade"},
               {"source": "wms", "from": iso(t0 + timedelta(hours=5)), "until": iso(t0 + timedelta(hours=6))}]
    async with running_app(store_url, clock=clock, extra={"maintenance": windows}) as (client, hub):
        await ingest(client, hub, cloudevent("shop", "order.placed", [("shop:order", "W1")], time_=at(0)),
                     cloudevent("erp", "order.accepted", [("shop:order", "W1")], time_=at(20)),
                     cloudevent("shop", "order.placed", [("shop:order", "W2")], time_=at(5)))
        clock.now = t0 + timedelta(minutes=45)  # due at t0+35 without the window, t0+65 with it
        answer = await gql(client, COMPARE_MAINTENANCE, VIEWER_KEY, a="W1", b="W2")
        assert "errors" not in answer, answer
        found = answer["data"]["compare"]
        accepted = next(s for s in found["steps"] if s["name"] == "accepted")
        assert accepted == {"name": "accepted", "a": {"status": "done", "duringMaintenance": True},
                            "b": {"status": "pending", "duringMaintenance": True}}
        placed = next(s for s in found["steps"] if s["name"] == "placed")
        assert not placed["a"]["duringMaintenance"] and not placed["b"]["duringMaintenance"]
        assert found["maintenance"] == [{"sides": ["a", "b"], "window": {"source": "erp", "reason": "ERP upgrade"}}]

        assert (await login(client, VIEWER_KEY)).status_code == 303
        page = (await client.get("/compare", params={"a": "W1", "b": "W2"})).text
        assert re.findall(r'data-source="([^"]+)" data-sides="([^"]+)"', page) == [("erp", "a,b")]
        assert "ERP upgrade" in page and "(A and B)" in page
        row = re.search(r'data-step="accepted".*?</tr>', page, re.S)
        assert row and row.group(0).count('data-maintenance="yes"') == 2
        assert '<span class="pill overdue">overdue' not in row.group(0)

        clock.now = t0 + timedelta(minutes=70)  # past the shifted due time: overdue on both pages
        later = (await gql(client, COMPARE_MAINTENANCE, VIEWER_KEY, a="W1", b="W2"))["data"]["compare"]
        assert next(s for s in later["steps"] if s["name"] == "accepted")["b"]["status"] == "overdue"
