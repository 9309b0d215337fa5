"""The web pages over real HTTP (ASGITransport) on SQLite and PostgreSQL, with the seed delivered as signed webhooks."""

from __future__ import annotations

import re

import pytest

from tests.support import OPERATOR_KEY, cloudevent
from tests.web import seed
from tests.web.app import deliver_story, web_app

LANES = re.compile(r'<g class="lane" data-lane="([^"]+)"')


async def _trace_url(client, ref: str) -> str:  # type: ignore[no-untyped-def]
    response = await client.get("/search", params={"ref": ref})
    assert response.status_code == 303, (ref, response.status_code)
    return response.headers["location"]


@pytest.mark.asyncio
async def test_every_ref_lands_on_the_same_trace(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        targets = {name: await _trace_url(client, ref) for name, ref in seed.ORDER_REFS.items()}
        assert len(set(targets.values())) == 1, targets
        target = targets["web order"]
        tx_id = target.rsplit("/", 1)[1]
        assert await _trace_url(client, tx_id) == target
        assert await _trace_url(client, "erp:sales_order:SO-1042") == target
        assert await _trace_url(client, "TR-9") != target  # the transfer is its own transaction

        choice = await client.get("/search", params={"ref": "7"})  # two systems use "7" for different orders
        assert choice.status_code == 200
        assert len(set(re.findall(r'href="/t/(tx_\w+)"', choice.text))) == 2
        assert "2 transactions match" in choice.text  # each row says what it is: kind, its ids, systems, first seen
        assert "<code>shop:order:7</code>" in choice.text and "<code>erp:sales_order:7</code>" in choice.text
        single = await client.get(await _trace_url(client, "W1002"))
        assert "1 event from shop" in single.text  # not "1 events"
        assert "namespace" in choice.text

        sku = await client.get("/search", params={"ref": "SKU-GRN-L"})
        assert sku.status_code == 303 and sku.headers["location"] == "/stock?sku=SKU-GRN-L"

        missing = await client.get("/search", params={"ref": "NOPE-404"})
        assert missing.status_code == 404 and "Nothing found" in missing.text
        assert (await client.get("/search", params={"ref": "x" * 5000})).status_code == 400
        assert (await client.get("/search")).status_code == 303


@pytest.mark.asyncio
async def test_trace_shows_lanes_steps_refs_and_the_raw_delivery(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        url = await _trace_url(client, "1Z999AA1")
        page = await client.get(url)
        assert page.status_code == 200
        assert LANES.findall(page.text) == ["shop", "pay", "erp", "wms", "carrier"]  # in order of first event
        markers = re.findall(r'class="marker" data-type="([^"]+)" data-status="([^"]+)"', page.text)
        assert len(markers) == 7 and ("sync.failed", "failed") in markers
        assert re.search(r'<li class="done"><span class="name">shipped', page.text)
        for ref in seed.ORDER_REFS.values():
            assert f"<code>{ref}</code>" in page.text
        assert "59.80 EUR" in page.text and "SKU-RED-M" in page.text
        assert "ERP timeout posting SO-1042" in page.text  # the failed sync's exception with its evidence

        event_id = re.search(r'data-type="sync.failed"', page.text) and re.findall(
            r'href="\?event=(evt_\w+)#event" class="marker" data-type="sync.failed"', page.text)[0]
        detail = await client.get(url, params={"event": event_id})
        assert detail.status_code == 200
        assert 'id="raw-body"' in detail.text and "&#34;specversion&#34;: &#34;1.0&#34;" in detail.text
        assert "webhook-signature" in detail.text and "verified on receipt by the cloudevents adapter" in detail.text

        assert (await client.get("/t/tx_00000000000000000000000000")).status_code == 404


@pytest.mark.asyncio
async def test_a_permalink_survives_a_merge(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        for event in (cloudevent("shop", "order.placed", [("shop:order", "M-1")], id="m1"),
                      cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-M")], id="m2")):
            path, body, headers = seed.signed(event["source"], event)
            assert (await client.post(path, content=body, headers=headers)).status_code == 202
        await hub.normalizer.run_until_idle()
        first, second = await _trace_url(client, "M-1"), await _trace_url(client, "SO-M")
        assert first != second
        link = cloudevent("erp", "order.accepted", [("erp:sales_order", "SO-M"), ("shop:order", "M-1")], id="m3")
        path, body, headers = seed.signed("erp", link)
        assert (await client.post(path, content=body, headers=headers)).status_code == 202
        await hub.normalizer.run_until_idle()
        survivor = min(first, second)  # ids sort by time: the older one survives
        merged_away = max(first, second)
        response = await client.get(merged_away)
        assert response.status_code == 301 and response.headers["location"] == survivor
        assert (await client.get(survivor)).status_code == 200


def _rows(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-id="(exc_\w+)" data-status="(\w+)">', html))


@pytest.mark.asyncio
async def test_acting_on_exceptions_from_the_queue(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        queue = await client.get("/exceptions")
        open_rows = _rows(queue.text)
        assert open_rows and set(open_rows.values()) == {"open"}
        failed = re.search(r'<tr data-id="(exc_\w+)"[^>]*>(?:(?!</tr>).)*<td>failed</td>', queue.text, re.S)
        assert failed is not None
        exc_id = failed.group(1)

        acted = await client.post("/exceptions/act", data={"ids": [exc_id], "action": "acknowledge",
                                                           "note": "calling the ERP team", "next": "/exceptions"})
        assert acted.status_code == 303 and "Acknowledged+1" in acted.headers["location"]
        assert exc_id not in _rows((await client.get("/exceptions")).text)  # gone from the open filter
        acknowledged = await client.get("/exceptions", params={"status": "acknowledged"})
        assert _rows(acknowledged.text) == {exc_id: "acknowledged"}
        assert re.search(r"<b>ops</b> acknowledged: calling the ERP team", acknowledged.text)  # the session's key

        many = [i for i in open_rows if i != exc_id]
        await client.post("/exceptions/act", data={"ids": many, "action": "assign", "assignee": "ana"})
        assigned = await client.get("/exceptions", params={"assignee": "ana"})
        assert set(_rows(assigned.text)) == set(many)
        await client.post("/exceptions/act", data={"ids": many, "action": "resolve", "note": "fixed upstream"})
        assert set(_rows((await client.get("/exceptions")).text)) == set()
        resolved = await client.get("/exceptions", params={"status": "resolved", "assignee": "ana"})
        assert set(_rows(resolved.text)) == set(many) and "fixed upstream" in resolved.text

        for bad in ({"action": "acknowledge"}, {"ids": [exc_id], "action": "explode"},
                    {"ids": [exc_id], "action": "assign"}, {"ids": [exc_id], "action": "resolve", "next": "//evil"}):
            response = await client.post("/exceptions/act", data=bad)
            assert response.status_code == 303 and response.headers["location"].startswith("/exceptions?")
        assert (await client.post("/exceptions/act", content=b"x" * 70_000)).status_code == 400
        assert (await client.get("/exceptions", params={"after": "garbage!"})).status_code == 200
        both = await client.get("/exceptions", params={"type": "failed, late", "status": "all"})
        types = set(re.findall(r'<td>(failed|late|dead_letter)</td>', both.text))
        assert types == {"failed", "late"}


@pytest.mark.asyncio
async def test_new_exceptions_reach_the_live_fragment_and_a_dead_letter_replays(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        before = _rows((await client.get("/exceptions/live")).text)
        event = cloudevent("pay", "payment.failed", [("shop:order", "W1002")], id="p-fail", status="failed",
                           error="card declined")
        path, body, headers = seed.signed("pay", event)
        assert (await client.post(path, content=body, headers=headers)).status_code == 202
        await hub.normalizer.run_until_idle()
        live = await client.get("/exceptions/live")
        assert live.headers["x-total-count"] == str(len(before) + 1)
        assert len(_rows(live.text)) == len(before) + 1 and "card declined" in live.text

        dead = await client.get("/exceptions", params={"type": "dead_letter"})
        delivery = re.search(r'action="/deliveries/(dlv_\w+)/replay"', dead.text)
        assert delivery is not None
        raw = await client.get(f"/deliveries/{delivery.group(1)}")
        assert raw.status_code == 200 and "specversion" in raw.text and "not a cloudevent" in raw.text
        assert "Replay this delivery" in raw.text
        assert (await client.get("/deliveries/dlv_nope")).status_code == 404
        replayed = await client.post(f"/deliveries/{delivery.group(1)}/replay",
                                     data={"next": "/exceptions?type=dead_letter"})
        assert replayed.status_code == 303 and "Replaying" in replayed.headers["location"]
        missing = await client.post("/deliveries/dlv_nope/replay")
        assert missing.status_code == 303 and "No+delivery" in missing.headers["location"]


@pytest.mark.asyncio
async def test_dashboard_and_stock_render_their_data(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        empty = await client.get("/dashboard")
        assert empty.status_code == 200 and "No deliveries in this window" in empty.text
        await deliver_story(client, hub)
        page = await client.get("/dashboard", params={"window": "7d"})  # the seed's orders started 30 h ago
        assert page.status_code == 200
        assert len(re.findall(r'<polyline data-name="(\w+)"', page.text)) == 10  # 5 sources × (deliveries, events)
        assert re.search(r'<svg class="chart process-map" data-nodes="(\d+)" data-edges="(\d+)"', page.text)
        assert 'data-node="shop order.placed"' in page.text
        assert re.search(r'<td>erp</td><td class="num">\d+</td>\s*<td class="num bad">1</td>', page.text)
        assert 'id="lag-by-step"' in page.text and 'id="divergence-heat"' in page.text
        assert (await client.get("/dashboard", params={"window": "bogus", "kind": "nope"})).status_code == 200

        stock = await client.get("/stock", params={"sku": "SKU-GRN-L"})
        assert stock.status_code == 200
        assert re.search(r'data-source="wms" data-location="STORE-12">', stock.text)
        assert 'data-diverging="on_hand"' in stock.text and 'id="divergences"' in stock.text
        unknown = await client.get("/stock", params={"sku": "NOPE"})
        assert unknown.status_code == 404 and "No system has reported" in unknown.text


@pytest.mark.asyncio
async def test_bad_input_on_any_page_is_a_page_that_says_so_never_a_500(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        trace = await _trace_url(client, "W1001")
        gets = {"/t/tx_nope": 404, "/t/%3Cscript%3E": 404, "/deliveries/nope": 404, "/search?ref=%00": 400,
                "/stock?sku=X&location=%FF": 404, f"{trace}?event=nope": 200, f"{trace}?event={'x' * 5000}": 200,
                "/exceptions?age=garbage&sort=bogus&severity=x&status=weird": 200, "/exceptions/live?every=abc": 200,
                "/dashboard?window=-1&kind=%3Cscript%3Ex1": 200, "/stock?sku=": 200}
        for path, status in gets.items():
            response = await client.get(path)
            assert response.status_code == status, (path, response.status_code)
            assert "<script>x1" not in response.text  # echoed input is escaped
        answer = await client.post("/graphql", headers={"authorization": f"Bearer {OPERATOR_KEY}"}, json={
            "query": 'query($r: String!) { transaction(ref: $r) { id } transactionsByRef(ref: $r) { id } }',
            "variables": {"r": "W1001\u0000"}})  # the same lookup as search, never a store error
        assert answer.json()["data"] == {"transaction": None, "transactionsByRef": []}, answer.text
        for path, data in (("/exceptions/act", {"ids": "nope", "action": "explode"}), ("/exceptions/act", {})):
            response = await client.post(path, data=data)
            assert response.status_code == 303 and "msg=Choose" in response.headers["location"], path


@pytest.mark.asyncio
async def test_search_forgives_case_hashes_spaces_encoding_and_finds_prefixes_and_stock_cells(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        target = await _trace_url(client, "SO-1042")
        for typed in ["so-1042", "  SO-1042 ", "#SO-1042", "#so-1042", "SO%2D1042", "erp%3Asales_order%3ASO-1042",
                      "w1001", "1z999aa1", "1Z999", "1z999"]:
            assert await _trace_url(client, typed) == target, typed
        assert await _trace_url(client, "TR-9") != target
        few = await client.get("/search", params={"ref": "W100"})  # four characters: too short to be a prefix
        assert few.status_code == 404
        cell = await client.get("/search", params={"ref": "SKU-GRN-L@STORE-12"})
        assert cell.status_code == 303 and cell.headers["location"] == "/stock?sku=SKU-GRN-L&location=STORE-12"
        graphql = await client.post("/graphql", json={"query": '{ transaction(ref: "  #so-1042") { id } }'},
                                    headers={"authorization": f"Bearer {OPERATOR_KEY}"})
        assert graphql.json()["data"]["transaction"]["id"] == target.rsplit("/", 1)[1]


@pytest.mark.asyncio
async def test_every_page_and_graphiql_name_a_favicon_that_is_served(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        for path in ["/", "/exceptions", "/login", "/graphql"]:
            page = await client.get(path, headers={"accept": "text/html"})
            assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.text, path
        icon = await client.get("/static/favicon.svg")
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.text.startswith("<svg")


ROW = re.compile(r'<a href="/t/(tx_\w+)" class="tx-name"><strong class="number">([^<]+)</strong></a>')


@pytest.mark.asyncio
async def test_the_home_page_lists_transactions_by_their_numbers_paged_and_filtered(store_url: str,
                                                                                   monkeypatch) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        home = await client.get("/")
        numbers = {number: tx_id for tx_id, number in ROW.findall(home.text)}
        assert {"W1001", "W1002", "TR-9"} <= set(numbers), numbers  # the business number first, the tx id second
        assert f'<code class="tx-id muted">{numbers["W1001"]}</code>' in home.text
        stuck = home.text[home.text.index(numbers["W1002"]):]
        assert re.search(r'<td class="flow"><span class="pill overdue">\w+ overdue</span>', stuck[:1500])

        transfers = await client.get("/", params={"kind": "transfer"})
        assert [n for _, n in ROW.findall(transfers.text)] == ["TR-9"]
        carried = await client.get("/", params={"source": "carrier"})
        assert [n for _, n in ROW.findall(carried.text)] == ["W1001"]
        with_exceptions = await client.get("/", params={"exceptions": "open"})
        assert "W1002" in [n for _, n in ROW.findall(with_exceptions.text)] and "TR-9" not in with_exceptions.text
        nothing = await client.get("/", params={"kind": "return"})
        assert nothing.status_code == 200 and "No transaction matches these filters" in nothing.text
        assert (await client.get("/", params={"after": "garbage", "kind": "nonsense"})).status_code == 200

        monkeypatch.setattr("web.home.PAGE", 2)
        seen, url = [], "/"
        while url:
            page = await client.get(url)
            seen += [tx_id for tx_id, _ in ROW.findall(page.text)]
            older = re.search(r'<a href="([^"]+)" rel="next">', page.text)
            url = older.group(1).replace("&amp;", "&") if older else ""
        assert seen == [tx_id for tx_id, _ in ROW.findall(home.text)]  # newest first, none twice, none skipped

        trace = await client.get(f"/t/{numbers['W1001']}")
        assert f"<title>Order W1001 · {numbers['W1001']} · crosstrace</title>" in trace.text
        queue = await client.get("/exceptions")
        assert f'<a href="/t/{numbers["W1002"]}" class="tx-name"><strong class="number">W1002</strong>' in queue.text
