"""No anonymous request may stall the hub (issue 13, item 2): documents whose fragments fan out are refused by a
walk linear in the document, bodies over the limit are 413 before they are read whole, a wrong key is refused
before any parsing, and an operation running past the wall-clock limit is stopped with a clear error.

The end-to-end twin over a real uvicorn (a webhook acknowledged while the bomb is refused, a body never sent
whole) is ``tests/e2e/test_no_stall.py``."""

from __future__ import annotations

import json
import uuid

import pytest

from resolvers import build_schema
from resolvers.shape import measure
from tests.resolvers.seed import T0, exception, write
from tests.support import OPERATOR_KEY, running_app

GRAPHQL_RESPONSE = "application/graphql-response+json"
LEVELS = 25


def doubling(body: str, *, on: str = "Query", operation: str = "query", leaf: str = "__typename",
             levels: int = LEVELS) -> str:
    """The issue's document: fragment F{i} holds ``body`` (which spreads F{i+1} twice), 25 levels deep."""
    fragments = " ".join(f"fragment F{i} on {on} {{ {body.format(next=i + 1, i=i)} }}" for i in range(levels))
    return f"{operation} {{ ...F0 }} {fragments} fragment F{levels} on {on} {{ {leaf} }}"


BOMBS = {
    "spreads": doubling("...F{next} ...F{next}"),
    "aliases x fragments": doubling("a{i}: __typename ...F{next} ...F{next}"),
    "nested inline fragments": doubling("... on Query {{ ...F{next} }} "
                                        "... on Query {{ ... on Query {{ ...F{next} }} }}"),
    "fields x fragments": doubling("sources {{ name }} ...F{next} ...F{next}"),
}


def test_the_issues_document_is_small_and_measured_without_expanding_it() -> None:
    from graphql import parse

    document = BOMBS["spreads"]
    assert len(document) < 1500  # the issue's 1.4 KB
    (shape,) = measure(parse(document)).operations.values()
    assert shape.selections == 3 * 2 ** LEVELS - 1  # 1 + 2 + 4 + … + 2^25 spreads, plus 2^25 leaves
    assert shape.depth == 0 and shape.aliases == 0


REPEATS = {  # graphql-core compares every pair of fields sharing a response key: 490 copies took seconds
    "repeated in one selection set": "{ " + "sources { name } " * 490 + "}",
    "repeated through fragments": "{ " + " ".join(f"...S{i}" for i in range(60)) + " } "
                                  + " ".join(f"fragment S{i} on Query {{ sources {{ name }} }}" for i in range(60)),
    "repeated in an unused fragment": "{ __typename } fragment U on Query { " + "sources { name } " * 60 + "}",
    "repeated nested": "{ sources { " + "name " * 60 + "} }",
}
REFUSALS = {  # name: (document, code, what the message says)
    **{name: (document, "MAX_SELECTIONS_EXCEEDED", "once its fragments are expanded; the limit is 5000")
       for name, document in BOMBS.items()},
    **{name: (document, "MAX_REPEATED_FIELDS_EXCEEDED", "in one selection set (fragments included); the limit is 50")
       for name, document in REPEATS.items()},
}


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(REFUSALS))
async def test_fan_out_and_repeated_fields_are_refused_naming_the_limit(store_url: str, name: str) -> None:
    document, code, says = REFUSALS[name]
    async with running_app(store_url) as (client, _):
        response = await client.post("/graphql", json={"query": document}, headers={"accept": GRAPHQL_RESPONSE})
        assert response.status_code == 400, response.text
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == code and says in error["message"], error
        assert (await client.get("/healthz")).status_code == 200


@pytest.mark.asyncio
async def test_fragments_on_a_subscription_are_refused_before_it_starts(store_url: str) -> None:
    bomb = doubling("...F{next} ...F{next}", on="Subscription", operation="subscription",
                    leaf="exceptionEvents { action }")
    async with running_app(store_url) as (_client, hub):
        operator = hub.config.api_keys[0]
        stream = await build_schema().subscribe(bomb, context_value={"hub": hub, "api_key": operator})
        result = stream if not hasattr(stream, "__anext__") else await stream.__anext__()  # type: ignore[union-attr]
        assert [e.extensions["code"] for e in result.errors] == ["MAX_SELECTIONS_EXCEEDED"]
        assert hub.broadcaster.subscribers == 0


@pytest.mark.asyncio
async def test_reused_fragments_within_the_limits_run_and_cost_what_they_select(store_url: str) -> None:
    query = ("query { a: transactions(first: 5) { ...Page } b: transactions(last: 5) { ...Page } } "
             "fragment Page on TransactionConnection { nodes { ...Tx } edges { node { ...Tx } } } "
             "fragment Tx on Transaction { id refs { namespace } }")
    async with running_app(store_url) as (client, _):
        response = await client.post("/graphql", json={"query": query},
                                     headers={"authorization": f"Bearer {OPERATOR_KEY}"})
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        # each connection: 1 + 5 × (nodes 1 + refs 1) + 5 × (edges 1 + node 1 + refs 1) = 26
        assert body["extensions"]["cost"]["requestedQueryCost"] == 52


@pytest.mark.asyncio
async def test_a_body_over_the_limit_is_413_in_the_one_error_shape(store_url: str) -> None:
    padding = " " * (256 * 1024)
    async with running_app(store_url) as (client, _):
        response = await client.post("/graphql", content=json.dumps({"query": "{ __typename }" + padding}),
                                     headers={"content-type": "application/json"})
        assert response.status_code == 413, response.text
        assert response.json()["error"] == {"code": "payload_too_large",
                                            "message": f"body is {256 * 1024 + 27} bytes; the limit is 262144"}
        small = await client.post("/graphql", json={"query": "{ __typename }"})
        assert small.json()["data"] == {"__typename": "Query"}
    async with running_app(store_url, extra={"graphql": {"max_body_bytes": 64}}) as (client, _):
        response = await client.post("/graphql", json={"query": "{ __typename }", "variables": {"pad": "x" * 50}})
        assert response.status_code == 413 and "the limit is 64" in response.json()["error"]["message"]
        long_get = await client.get("/graphql", params={"query": "{ __typename }", "pad": "x" * 50})
        assert long_get.status_code == 414 and long_get.json()["error"]["code"] == "uri_too_long"


@pytest.mark.asyncio
async def test_a_wrong_key_is_refused_before_the_document_is_read(store_url: str) -> None:
    async with running_app(store_url) as (client, _):
        wrong = {"authorization": "Bearer ct_not-a-key"}
        refused = await client.post("/graphql", content=b"not even JSON", headers={
            **wrong, "content-type": "application/json", "accept": GRAPHQL_RESPONSE})
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.json() == {"errors": [{"message": "unknown or revoked API key",
                                              "extensions": {"code": "UNAUTHORIZED"}}]}
        legacy = await client.post("/graphql", json={"query": BOMBS["spreads"]}, headers=wrong)
        assert legacy.status_code == 200 and legacy.json()["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"


MUTATION = 'mutation { acknowledgeException(id: "exc_0001") { count } }'


@pytest.mark.asyncio
async def test_an_operation_past_the_wall_clock_limit_is_stopped_with_a_clear_error(store_url: str) -> None:
    async with running_app(store_url, extra={"graphql": {"max_execution_seconds": 0.2}}) as (client, hub):
        store = hub.started().store
        await write(store, exception_rows=[exception(1, "late", "open", T0)])
        headers = {"authorization": f"Bearer {OPERATOR_KEY}"}
        async with store.write():  # the mutation waits for the store's writer for as long as this block holds it
            stopped = await client.post("/graphql", json={"query": MUTATION}, headers=headers)
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["data"] is None
        error = stopped.json()["errors"][0]
        assert error["extensions"] == {"code": "TIMEOUT", "maxExecutionSeconds": 0.2}
        assert error["message"].startswith("the operation ran past the limit of 0.2 s and was stopped")
        done = await client.post("/graphql", json={"query": MUTATION}, headers=headers)  # the writer was let go
        assert done.json() == {"data": {"acknowledgeException": {"count": 1}},
                               "extensions": done.json()["extensions"]}


@pytest.mark.asyncio
async def test_long_documents_are_not_kept_in_the_parse_and_validation_caches(store_url: str) -> None:
    from strawberry.extensions.parser_cache import _get_parse_cache

    from resolvers import limits

    parsed = _get_parse_cache(1024)
    async with running_app(store_url) as (client, _):
        before = parsed.cache_info().currsize, len(limits._VALIDATED)
        for n in range(3):  # a long comment costs no tokens: 1024 of these would otherwise stay cached
            long = f"{{ __typename }} # {n} {'x' * (limits.CACHED_DOCUMENT_CHARS + 1)}"
            assert (await client.post("/graphql", json={"query": long})).json()["data"] == {"__typename": "Query"}
        assert (parsed.cache_info().currsize, len(limits._VALIDATED)) == before
        short = f"{{ __typename }} # {uuid.uuid4()}"  # new to both caches
        assert (await client.post("/graphql", json={"query": short})).status_code == 200
        assert (parsed.cache_info().currsize, len(limits._VALIDATED)) == (before[0] + 1, before[1] + 1)
