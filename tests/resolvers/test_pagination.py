"""Keyset pages never skip or repeat a transaction while events keep arriving (and merging)."""

from __future__ import annotations

import pytest

from hub.store.paging import TOTAL_COUNT_CAP
from hub.store.tables import deliveries
from tests.resolvers.seed import T0, delivery
from tests.support import OPERATOR_KEY, cloudevent, dumps, gql, running_app

PAGE = """query($after: String, $filter: TransactionFilter) { transactions(first: 7, after: $after, filter: $filter) {
  edges { cursor node { id } } nodes { id kind } pageInfo { hasNextPage endCursor } } }"""


@pytest.mark.asyncio
async def test_paging_while_appending_never_skips_or_repeats(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        async def ingest(*events: dict) -> None:
            response = await client.post("/ingest", content=dumps(list(events)), headers={
                "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"})
            assert response.status_code == 202, response.text
            await hub.normalizer.run_until_idle()

        await ingest(*[cloudevent("erp", "order.placed", [("erp:so", f"SO-{n}")], time_=f"2026-11-01T10:{n:02d}:00Z")
                       for n in range(30)])
        before = {n["id"] for n in (await gql(client, '{ transactions(first: 100) { nodes { id } } }'))[
            "data"]["transactions"]["nodes"]}
        seen: list[str] = []
        after = None
        round_ = 0
        while True:
            page = (await gql(client, PAGE, after=after))["data"]["transactions"]
            seen += [n["id"] for n in page["nodes"]]
            assert [e["node"]["id"] for e in page["edges"]] == [n["id"] for n in page["nodes"]]
            round_ += 1
            # meanwhile: new orders arrive, and an early event moves an old order's first event time
            await ingest(cloudevent("erp", "order.placed", [("erp:so", f"NEW-{round_}")]),
                         cloudevent("shop", "order.updated", [("erp:so", f"SO-{round_ * 3}")],
                                    time_="2026-10-01T00:00:00Z"))
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert len(seen) == len(set(seen)) and set(seen) == before

        only_orders = await gql(client, PAGE, filter={"kind": "order", "source": "shop"})
        assert {n["kind"] for n in only_orders["data"]["transactions"]["nodes"]} == {"order"}
        bad = await gql(client, '{ transactions(first: 101) { nodes { id } } }')
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        bad = await gql(client, '{ transactions(after: "garbage!") { nodes { id } } }')
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


BACK = """query($before: String) { transactions(last: 6, before: $before) {
  nodes { id } totalCount totalCountCapped pageInfo { hasPreviousPage hasNextPage startCursor endCursor } } }"""


@pytest.mark.asyncio
async def test_paging_backwards_while_appending_never_skips_or_repeats(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        async def ingest(*events: dict) -> None:
            response = await client.post("/ingest", content=dumps(list(events)), headers={
                "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"})
            assert response.status_code == 202, response.text
            await hub.normalizer.run_until_idle()

        await ingest(*[cloudevent("erp", "order.placed", [("erp:so", f"SO-{n}")]) for n in range(20)])
        before_ids = [n["id"] for n in (await gql(client, '{ transactions(first: 100) { nodes { id } } }'))[
            "data"]["transactions"]["nodes"]]
        seen: list[str] = []
        cursor = None
        round_ = 0
        while True:
            page = (await gql(client, BACK, before=cursor))["data"]["transactions"]
            assert page["totalCount"] == 20 + round_ and page["totalCountCapped"] is False
            seen = [n["id"] for n in page["nodes"]] + seen  # each page comes in list order (newest first)
            round_ += 1
            await ingest(cloudevent("erp", "order.placed", [("erp:so", f"LATE-{round_}")]))
            if not page["pageInfo"]["hasPreviousPage"]:
                break
            cursor = page["pageInfo"]["startCursor"]
        # Walking back from the oldest end toward the newest meets the rows that arrived meanwhile too: every row
        # once, in list order; only the one inserted after the last page is missing.
        after_ids = [n["id"] for n in (await gql(client, '{ transactions(first: 100) { nodes { id } } }'))[
            "data"]["transactions"]["nodes"]]
        assert seen == after_ids[1:] and set(before_ids) <= set(seen) and len(seen) > len(before_ids)

        forward = (await gql(client, '{ transactions(first: 5) { nodes { id } pageInfo { endCursor } } }'))[
            "data"]["transactions"]
        back = await gql(client, 'query($c: String) { transactions(last: 5, before: $c) { nodes { id } '
                                 'pageInfo { hasNextPage hasPreviousPage } } }', c=forward["pageInfo"]["endCursor"])
        assert [n["id"] for n in back["data"]["transactions"]["nodes"]] == [n["id"] for n in forward["nodes"]][:4]
        assert back["data"]["transactions"]["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False}
        for bad in ('{ transactions(first: 2, last: 2) { nodes { id } } }',
                    '{ transactions(last: 101) { nodes { id } } }',
                    '{ transactions(first: 2, before: "x") { nodes { id } } }',
                    '{ exceptions(last: 2, before: "garbage!") { nodes { id } } }'):
            assert (await gql(client, bad))["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", bad


@pytest.mark.asyncio
async def test_total_count_is_capped_and_flagged(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        async with hub.started().store.write() as conn:
            await conn.execute(deliveries.insert(),
                               [delivery(n, "erp", "done", T0) for n in range(TOTAL_COUNT_CAP + 5)])
        result = await gql(client, '{ deliveries(first: 1) { totalCount totalCountCapped } erp: deliveries(first: 1, '
                                   'filter: {state: "dead"}) { totalCount totalCountCapped } }')
        assert result["data"]["deliveries"] == {"totalCount": TOTAL_COUNT_CAP, "totalCountCapped": True}
        assert result["data"]["erp"] == {"totalCount": 0, "totalCountCapped": False}


NODE = """query($id: ID!) { node(id: $id) { __typename id ... on Transaction { kind }
  ... on Event { type source } ... on Delivery { state } ... on Exception { type } } }"""


@pytest.mark.asyncio
async def test_every_object_refetches_by_global_id(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        response = await client.post("/ingest", content=dumps([cloudevent("erp", "sync.failed", [("erp:so", "SO-1")],
                                                                          status="failed", error="timeout")]),
                                     headers={"authorization": f"Bearer {OPERATOR_KEY}",
                                              "content-type": "application/cloudevents-batch+json"})
        assert response.status_code == 202
        await hub.normalizer.run_until_idle()
        await hub.evaluator.tick()
        tx = (await gql(client, '{ transaction(ref: "SO-1") { id events { id deliveryId } exceptions { id } } }'))[
            "data"]["transaction"]
        expected = {tx["id"]: "Transaction", tx["events"][0]["id"]: "Event", tx["events"][0]["deliveryId"]: "Delivery",
                    tx["exceptions"][0]["id"]: "Exception"}
        for node_id, typename in expected.items():
            node = (await gql(client, NODE, id=node_id))["data"]["node"]
            assert node["__typename"] == typename and node["id"] == node_id
        assert (await gql(client, NODE, id="tx_NOPE"))["data"]["node"] is None
        assert (await gql(client, NODE, id="garbage"))["data"]["node"] is None
        many = await gql(client, 'query($ids: [ID!]!) { nodes(ids: $ids) { id } }', ids=[*expected, "evt_x"])
        assert [n and n["id"] for n in many["data"]["nodes"]] == [*expected, None]


# Issue 5 specifies `divergences(filter, first, after)`: its own keyset over divergence magnitude, forward only.
FORWARD_ONLY = {"divergences"}


@pytest.mark.asyncio
async def test_every_connection_is_relay_shaped_and_needs_first_or_last_up_to_100(store_url: str) -> None:
    from graphql import Undefined, build_client_schema, get_introspection_query, get_named_type

    async with running_app(store_url) as (client, _hub):
        schema = build_client_schema((await gql(client, get_introspection_query()))["data"])
        connections = {name: field for name, field in schema.query_type.fields.items()
                       if get_named_type(field.type).name.endswith("Connection")}
        assert {"transactions", "deliveries", "exceptions", "auditLog"} <= set(connections)
        for name, field in connections.items():
            shape = get_named_type(field.type)
            assert {"edges", "nodes", "pageInfo"} <= set(shape.fields), name
            assert {"first", "after"} <= set(field.args), name
            if name in FORWARD_ONLY:
                continue
            assert {"last", "before", "first", "after"} <= set(field.args), name
            assert {"totalCount", "totalCountCapped"} <= set(shape.fields), name
            assert {field.args[a].default_value for a in ("first", "last")} <= {None, Undefined}, name  # no default
            for args in ("", "(first: 101)", "(last: 0)", "(first: 1, last: 1)"):
                refused = await gql(client, f"{{ {name}{args} {{ totalCount }} }}")
                assert refused["data"] is None or refused["data"].get(name) is None, (name, args)
                assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", (name, args, refused)
            neither = await gql(client, f"{{ {name} {{ totalCount }} }}")
            assert "`first`" in neither["errors"][0]["message"] and "`last`" in neither["errors"][0]["message"]
            ok = await gql(client, f"{{ {name}(last: 100) {{ totalCount pageInfo {{ hasPreviousPage }} }} }}")
            assert "errors" not in ok, (name, ok)


AUDIT_PAGE = """query($after: String) { auditLog(first: 3, after: $after, filter: {action: "acknowledgeException"}) {
  nodes { id object } totalCount pageInfo { hasNextPage endCursor } } }"""


@pytest.mark.asyncio
async def test_audit_log_pages_while_actions_keep_coming_and_filters(store_url: str) -> None:
    async with running_app(store_url) as (client, _hub):
        async def act(n: int) -> None:
            result = await gql(client, f'mutation {{ acknowledgeException(id: "exc_{n}") {{ count }} }}',
                               key=OPERATOR_KEY)
            assert "errors" not in result, result

        for n in range(10):
            await act(n)
        await gql(client, 'mutation { replayDelivery(id: "dlv_nope") { count } }', key=OPERATOR_KEY)
        seen: list[str] = []
        after = None
        for round_ in range(20):
            page = (await gql(client, AUDIT_PAGE, after=after))["data"]["auditLog"]
            seen += [n["object"] for n in page["nodes"]]
            await act(100 + round_)  # newer entries land before the cursor: never in this walk
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert seen == [f"id=exc_{n}" for n in reversed(range(10))]

        newest = (await gql(client, '{ auditLog(last: 2, filter: {actor: "ops", result: "ok"}) { nodes { object } '
                                    'pageInfo { hasPreviousPage startCursor } } }'))["data"]["auditLog"]
        assert [n["object"] for n in newest["nodes"]] == ["id=exc_1", "id=exc_0"]  # the oldest two, in order
        earlier = (await gql(client, 'query($b: String) { auditLog(last: 2, before: $b) { nodes { object } } }',
                             b=newest["pageInfo"]["startCursor"]))["data"]["auditLog"]
        assert [n["object"] for n in earlier["nodes"]] == ["id=exc_3", "id=exc_2"]
        nobody = await gql(client, '{ auditLog(first: 5, filter: {actor: "nobody"}) { totalCount nodes { id } } }')
        assert nobody["data"]["auditLog"] == {"totalCount": 0, "nodes": []}
        bad = await gql(client, '{ auditLog(first: 5, after: "garbage!") { nodes { id } } }')
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
