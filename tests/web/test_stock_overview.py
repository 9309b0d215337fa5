"""``/stock`` without a SKU lists every SKU and location: sources with the age of their latest figure, divergence
and value at risk, sortable; a blank location and a negative on-hand are explained (real HTTP, both stores)."""

from __future__ import annotations

import re

import pytest

from tests.support import cloudevent
from tests.web import seed
from tests.web.app import deliver_story, web_app

ROW = re.compile(r'<tr data-sku="([^"]*)" data-location="([^"]*)">')


@pytest.mark.asyncio
async def test_the_stock_overview_lists_every_cell_sorted_and_explained(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        oversold = cloudevent("shop", "inventory.snapshot", [], id="s-inv",
                              lines=[{"sku": "SKU-RED-M", "qty": -3, "state": "on_hand"}])  # no location, below 0
        path, body, headers = seed.signed("shop", oversold)
        assert (await client.post(path, content=body, headers=headers)).status_code == 202
        await hub.normalizer.run_until_idle()

        page = (await client.get("/stock")).text
        cells = ROW.findall(page)
        assert ("SKU-GRN-L", "STORE-12") in cells and ("SKU-RED-M", "") in cells
        assert cells[0] == ("SKU-GRN-L", "STORE-12")  # the divergent cell first (sorted by divergence)
        grn = page[page.index('data-sku="SKU-GRN-L" data-location="STORE-12"'):]
        grn = grn[:grn.index("</tr>")]
        assert "erp" in grn and "wms" in grn and re.search(r"ago, 40", grn) and '<td class="num bad">3</td>' in grn
        blank = page[page.index('data-sku="SKU-RED-M" data-location=""'):]
        blank = blank[:blank.index("</tr>")]
        assert "no location: reported channel-wide" in blank
        assert "shop: -3 on hand, it sold or moved more than it counted" in blank  # a snapshot said -3

        by_sku = ROW.findall((await client.get("/stock", params={"sort": "sku"})).text)
        assert by_sku == sorted(by_sku)
        assert (await client.get("/stock", params={"sort": "nonsense"})).status_code == 200
        at_store = ROW.findall((await client.get("/stock", params={"location": "STORE-12"})).text)
        assert at_store and all(location == "STORE-12" for _, location in at_store)
