"""The trace page and GraphQL's ``transaction(ref)`` render one ``hub.store.trace.Trace``: the same events, refs,
related transactions and exceptions for a seeded transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.support import ADMIN_KEY, cloudevent, gql
from tests.web import seed
from tests.web.app import deliver_story, web_app

TRACE = """query($ref: String!) { transaction(ref: $ref) { id kind refs { namespace value role }
  events { id type source refs { namespace value role } } related { id } exceptions { id type } } }"""

EVENT_ROW = re.compile(r'<a href="\?event=(evt_\w+)#event">([^<]+)</a>')
REF_ROW = re.compile(r'<tr><td><code>([^<]+)</code></td><td><a href="/search\?ref=[^"]*"><code>([^<]+)</code></a>\n'
                     r'( <span class="muted">related</span>)?')
RELATED = re.compile(r'<li><a href="/t/(tx_\w+)">')  # its number (else its id) inside
EXCEPTION_ROW = re.compile(r'<tr><td>([a-z_.]+)</td><td><span class="pill')


def _section(page: str, start: str, end: str) -> str:
    return page[page.index(start):page.index(end, page.index(start))]


@pytest.mark.asyncio
async def test_trace_page_and_graphql_render_the_same_trace(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        # a payout that relates to the first order: a related transaction on both renderings
        path, body, headers = seed.signed("pay", cloudevent(
            "pay", "settlement.paid", [("pay:payout", "po_9"), ("shop:order", "W1001", "related")], id="p-9",
            amount={"value": "55.00", "currency": "EUR", "kind": "settlement"}))
        assert (await client.post(path, content=body, headers=headers)).status_code == 202
        await hub.normalizer.run_until_idle()

        answer = await gql(client, TRACE, key=ADMIN_KEY, ref="W1001")
        assert "errors" not in answer, answer
        tx = answer["data"]["transaction"]
        page = await client.get(f"/t/{tx['id']}")
        assert page.status_code == 200
        text = unescape(page.text)

        events_table = _section(text, '<table id="events">', "</table>")
        assert [(e, t) for e, t in EVENT_ROW.findall(events_table)] == [(e["id"], e["type"]) for e in tx["events"]]
        assert len(tx["events"]) == 7
        refs_table = _section(text, "<h2>Refs</h2>", "</table>")
        assert [(ns, v, "related" if rel else "identity") for ns, v, rel in REF_ROW.findall(refs_table)] == \
            [(r["namespace"], r["value"], r["role"]) for r in tx["refs"]]
        assert {r["value"] for r in tx["refs"]} >= set(seed.ORDER_REFS.values())
        related = _section(text, "<h2>Related transactions</h2>", "</aside>")
        assert RELATED.findall(related) == [r["id"] for r in tx["related"]]
        assert len(tx["related"]) == 1
        exceptions = _section(text, '<h2 id="exceptions">', "Work these in the queue")  # evidence holds divs
        assert EXCEPTION_ROW.findall(exceptions) == [x["type"] for x in tx["exceptions"]]
        assert tx["exceptions"], "the failed ERP sync raised an exception on this transaction"

        # and the payout's own trace shows the order as related, both ways
        payout = (await gql(client, TRACE, key=ADMIN_KEY, ref="po_9"))["data"]["transaction"]
        assert [r["id"] for r in payout["related"]] == [tx["id"]]
        assert RELATED.findall(unescape((await client.get(f"/t/{payout['id']}")).text)) == [tx["id"]]
