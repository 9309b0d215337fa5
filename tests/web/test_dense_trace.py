"""Readable evidence and dense traces (real HTTP over ASGITransport, SQLite and PostgreSQL): evidence as an
expected-vs-actual table, a settlement relating many charges folded, one marker per moment of a lane."""

from __future__ import annotations

import re

import pytest

from tests.web.app import deliver_story, web_app
from tests.web.seed import settlement


@pytest.mark.asyncio
async def test_a_settlement_of_67_charges_reads_folded(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        for path, body, headers in settlement():
            assert (await client.post(path, content=body, headers=headers)).status_code == 202
        await hub.normalizer.run_until_idle()
        page = (await client.get((await client.get("/search", params={"ref": "po_77"})).headers["location"])).text

        events = page[page.index('<table id="events">'):page.index("</table>", page.index('<table id="events">'))]
        assert events.count("<code>pay:charge</code> × 67") == 3 and "<code>pay:charge:ch_5</code>" not in events
        assert "<summary>67 related</summary>" in page  # the refs table: one folded row
        related = page[page.index('<details id="related"'):]
        assert re.search(r"<summary>7 related: 7 orders · this settlement: 700.00 EUR</summary>", related)
        assert len(re.findall(r'<li><a href="/t/tx_\w+"><strong>W70\d\d</strong>', related)) == 7

        markers = re.findall(r'<a href="\?event=\w+#event" class="marker" data-type="([^"]+)"[^>]*data-count="(\d)"',
                             page)
        assert markers == [("settlement.paid", "3")]  # three events at one moment: one marker, one label
        assert ">settlement.paid ×3</text>" in page and 'width="30" height="30" rx="15" fill="transparent"' in page

        queue = (await client.get("/exceptions")).text  # W1002 is late: evidence as expected vs actual
        assert re.search(r'<span role="cell" class="what">accepted</span><span role="cell" class="expected">done</span>'
                         r'<span role="cell" class="actual">missing</span>', queue)
        assert "<dt>waiting_on</dt>" in queue
        assert re.search(r'<span id="total-count">\d+</span> matches\)', queue)  # not "2 match"


@pytest.mark.asyncio
async def test_few_related_refs_stay_unfolded(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        for path, body, headers in settlement(orders=2, unknown=1):
            assert (await client.post(path, content=body, headers=headers)).status_code == 202
        await hub.normalizer.run_until_idle()
        page = (await client.get((await client.get("/search", params={"ref": "po_77"})).headers["location"])).text
        assert "<code>pay:charge:ch_2</code>" in page and "× 3" not in page and '<details id="related"' not in page
