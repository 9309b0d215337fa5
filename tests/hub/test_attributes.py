"""Business attributes (issue 18 item 2): named by a source's config, read from real signed webhooks, kept per
transaction through merges, filterable in ``transactions`` and groupable in ``metrics``, on both stores."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from collectors import shopify
from hub.config import parse
from hub.errors import ConfigError
from hub.store.tables import transaction_attributes
from tests.paths import FIXTURES
from tests.support import ERP_SECRET, VIEWER_KEY, cloudevent, dumps, gql, running_app, signed_headers
from tests.web.app import login

SHOPIFY_SECRET = "shpss_app-secret-for-tests"
ORDER = json.loads((FIXTURES / "shopify" / "order.json").read_text())["order"]
SOURCES = [{"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": ERP_SECRET,
            "attributes": {"data.store": "store"}},
           {"name": "shop", "kind": "commerce", "adapter": "shopify", "secret": SHOPIFY_SECRET,
            "attributes": {"source_name": "channel", "shipping_address.country_code": "country",
                           "line_items": "ignored_not_a_scalar"}}]


async def _order(client: Any, hub: Any, order_id: int, channel: str, country: str) -> None:
    body = dumps({**ORDER, "id": order_id, "name": f"#{order_id}", "source_name": channel,
                  "shipping_address": {**ORDER["shipping_address"], "country_code": country}})
    response = await client.post("/hooks/shop", content=body, headers={
        "content-type": "application/json", "x-shopify-topic": "orders/create",
        "x-shopify-hmac-sha256": shopify.sign(SHOPIFY_SECRET, body), "x-shopify-webhook-id": f"wh-{order_id}",
        "x-shopify-event-id": f"ev-{order_id}", "x-shopify-shop-domain": "demo.myshopify.com"})
    assert response.status_code == 202, response.text
    await hub.normalizer.run_until_idle()


async def _erp(client: Any, hub: Any, type_: str, refs: list[tuple[str, str]], **data: Any) -> None:
    body = dumps(cloudevent("erp", type_, refs, **data))
    response = await client.post("/hooks/erp", content=body, headers=signed_headers(body))
    assert response.status_code == 202, response.text
    await hub.normalizer.run_until_idle()


LISTED = """query($attrs: [AttributeInput!]) { transactions(first: 10, filter: {attributes: $attrs}) {
  edges { node { refs { namespace value } attributes { name value } } } } }"""
GROUPED = """{ metrics { counts(subject: TRANSACTIONS, groupBy: [KIND], attribute: "channel") { kind attribute count }
  events: counts(subject: EVENTS, groupBy: [SOURCE], attribute: "store") { source attribute count } } }"""


def _attributes(result: dict[str, Any]) -> list[dict[str, str]]:
    return [{a["name"]: a["value"] for a in edge["node"]["attributes"]}
            for edge in result["data"]["transactions"]["edges"]]


@pytest.mark.asyncio
async def test_attributes_are_kept_per_transaction_filtered_and_grouped(store_url: str) -> None:
    async with running_app(store_url, extra={"sources": SOURCES}) as (client, hub):
        await _order(client, hub, 1001, "web", "US")
        await _order(client, hub, 1002, "pos", "DE")
        # The ERP knows sales order SO-9 in store BER-1 before it names the web order: two transactions...
        await _erp(client, hub, "order.accepted", [("erp:sales_order", "SO-9")], store="BER-1")
        # ...merged when it posts SO-9 citing web order 1001; a later statement of a name wins.
        await _erp(client, hub, "erp.posted", [("erp:sales_order", "SO-9"), ("shop:order", "1001")], store="BER-2")

        web = await gql(client, LISTED, attrs=[{"name": "channel", "value": "web"}])
        assert "errors" not in web, web
        assert _attributes(web) == [{"channel": "web", "country": "US", "store": "BER-2"}]
        both = await gql(client, LISTED, attrs=[{"name": "channel", "value": "web"},
                                                {"name": "country", "value": "DE"}])
        assert _attributes(both) == []
        de = await gql(client, LISTED, attrs=[{"name": "country", "value": "DE"}])
        assert _attributes(de) == [{"channel": "pos", "country": "DE"}]
        assert len(_attributes(await gql(client, LISTED, attrs=None))) == 2

        grouped = await gql(client, GROUPED)
        assert "errors" not in grouped, grouped
        assert grouped["data"]["metrics"]["counts"] == [{"kind": "order", "attribute": "pos", "count": 1},
                                                        {"kind": "order", "attribute": "web", "count": 1}]
        assert grouped["data"]["metrics"]["events"] == [
            {"source": "erp", "attribute": "BER-2", "count": 2}, {"source": "shop", "attribute": "BER-2", "count": 1},
            {"source": "shop", "attribute": None, "count": 1}]
        async with hub.started().store.read() as conn:  # the merged-away transaction kept no rows
            rows = (await conn.execute(select(transaction_attributes.c.tx_id).distinct())).scalars().all()
        assert len(rows) == 2

        assert (await login(client, VIEWER_KEY)).status_code == 303  # the web list filters the same way
        page = await client.get("/", params={"attribute": "country=DE"})
        assert page.status_code == 200
        assert "Only transactions with <strong>country: DE</strong>" in page.text
        assert page.text.count('href="/t/tx_') == 1 and 'href="/?attribute=channel%3Dpos">channel: pos</a>' in page.text
        assert "No transaction has these attributes" in (await client.get("/?attribute=country=FR")).text

        bad = await gql(client, '{ metrics { counts(subject: DELIVERIES, groupBy: [], attribute: "x") { count } } }')
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_attribute_names_are_checked_in_config() -> None:
    source = {"name": "shop", "kind": "commerce", "adapter": "shopify", "secret": "s"}
    with pytest.raises(ConfigError, match="attributes name 'Sales Rep'"):
        parse({"sources": [{**source, "attributes": {"note": "Sales Rep"}}]}, {})
    with pytest.raises(ConfigError, match="must map payload paths"):
        parse({"sources": [{**source, "attributes": ["channel"]}]}, {})
    assert parse({"sources": [{**source, "attributes": {"source_name": "channel"}}]}, {}).sources[
        "shop"].attributes == {"source_name": "channel"}
