"""A real GraphQL client (the `gql` package) against a live `crosstrace serve`: it introspects the schema, builds
queries with its DSL from that schema, validates them client-side, pages a connection and reads BI metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.dsl import DSLQuery, DSLSchema, dsl_gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from graphql import GraphQLError

from tests.e2e.server import Server, free_port, write_config
from tests.support import OPERATOR_KEY, cloudevent, dumps


@pytest.fixture()
def server(tmp_path) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    running = Server(write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"), free_port())
    running.start()
    try:
        yield running
    finally:
        running.stop()


async def _seed(server: Server, count: int) -> None:
    events = [cloudevent("erp", "order.placed", [("erp:sales_order", f"SO-{n}")], id=f"ce-{n}") for n in range(count)]
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.post("/ingest", content=dumps(events), headers={
            "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"})
        assert response.status_code == 202, response.text
        for _ in range(200):  # the normalizer runs in the server process: wait until it has caught up
            body = (await http.post("/graphql", json={"query": "{ transactions(first: 1) { totalCount } }"},
                                    headers={"authorization": f"Bearer {OPERATOR_KEY}"})).json()
            if body["data"]["transactions"]["totalCount"] == count:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the server did not normalize the ingested events")


@pytest.mark.asyncio
async def test_gql_client_introspects_builds_and_pages(server: Server) -> None:
    await _seed(server, 12)
    transport = HTTPXAsyncTransport(url=f"{server.url}/graphql", headers={"authorization": f"Bearer {OPERATOR_KEY}"},
                                    timeout=10)
    async with Client(transport=transport, fetch_schema_from_transport=True) as session:
        assert session.client.schema is not None and session.client.schema.get_type("Transaction") is not None
        ds = DSLSchema(session.client.schema)

        seen: list[str] = []
        after = None
        while True:
            field = ds.Query.transactions(first=5, after=after).select(
                ds.TransactionConnection.totalCount,
                ds.TransactionConnection.nodes.select(ds.Transaction.id, ds.Transaction.kind),
                ds.TransactionConnection.pageInfo.select(ds.PageInfo.hasNextPage, ds.PageInfo.endCursor))
            page = (await session.execute(dsl_gql(DSLQuery(field))))["transactions"]
            assert page["totalCount"] == 12 and {n["kind"] for n in page["nodes"]} == {"order"}
            seen += [n["id"] for n in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert len(seen) == 12 == len(set(seen))

        node = await session.execute(GraphQLRequest("query($id: ID!) { node(id: $id) { id ... on Transaction { "
                                                    "refs { namespace value } } } }",
                                                    variable_values={"id": seen[0]}))
        assert node["node"]["id"] == seen[0] and node["node"]["refs"][0]["namespace"] == "erp:sales_order"
        metrics = await session.execute(GraphQLRequest(
            "{ metrics(timezone: \"Europe/Berlin\") { counts(subject: EVENTS, groupBy: [SOURCE, TYPE]) "
            "{ source type count } } }"))
        assert metrics["metrics"]["counts"] == [{"source": "erp", "type": "order.placed", "count": 12}]

        with pytest.raises(GraphQLError):  # validated against the introspected schema before anything is sent
            await session.execute(GraphQLRequest("{ transactions(first: 5) { nodes { nope } } }"))
        with pytest.raises(TransportQueryError) as refused:  # the server's own limit, as the client sees it
            await session.execute(GraphQLRequest("{ transactions(first: 101) { nodes { id } } }"))
        assert refused.value.errors and refused.value.errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
