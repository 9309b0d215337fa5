"""Each abusive query is refused with the right status: too deep, an alias bomb through fragments, too many
tokens, too costly, over the caller's budget (429 + Retry-After); introspection and suggestions per role; an
unexpected error masked with an id that is in the log; persisted documents and the allow-list-only mode."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from hub.store.tables import exception_history
from tests.resolvers.seed import T0, event, exception, transaction, write
from tests.support import OPERATOR_KEY, VIEWER_KEY, running_app

GRAPHQL_RESPONSE = "application/graphql-response+json"
COST_201 = "{ transactions(first: 100) { nodes { refs { namespace } } } }"  # 1 + 100 × (nodes 1 + refs 1)


def _headers(key: str | None = None, media: str = GRAPHQL_RESPONSE) -> dict[str, str]:
    return {"accept": media, **({"authorization": f"Bearer {key}"} if key else {})}


async def _post(client, body: dict, key: str | None = OPERATOR_KEY, media: str = GRAPHQL_RESPONSE):  # type: ignore[no-untyped-def]
    return await client.post("/graphql", json=body, headers=_headers(key, media))


@pytest.mark.asyncio
async def test_deep_alias_bomb_and_token_flood_are_request_errors(store_url: str) -> None:
    async with running_app(store_url) as (client, _):
        deep = "{ transaction(ref: \"x\") { " + "related { " * 12 + "id" + " }" * 12 + " } }"
        response = await _post(client, {"query": deep})
        assert response.status_code == 400 and "data" not in response.json()
        assert "exceeds maximum operation depth" in response.json()["errors"][0]["message"]
        legacy = await _post(client, {"query": deep}, media="application/json")
        assert legacy.status_code == 200 and legacy.json()["data"] is None  # application/json keeps 200

        aliases = " ".join(f"a{n}: __typename" for n in range(31))
        bomb = "query { ...A } fragment A on Query { ...B } fragment B on Query { " + aliases + " }"
        response = await _post(client, {"query": bomb})
        assert response.status_code == 400 and "aliases" in response.json()["errors"][0]["message"]

        flood = "{ " + "__typename " * 2100 + "}"
        response = await _post(client, {"query": flood})
        assert response.status_code == 400 and "tokens" in response.json()["errors"][0]["message"]


async def _seed_orders(store, count: int, big_events: int) -> None:  # type: ignore[no-untyped-def]
    """``count`` transactions with one event and one ref each (the newest, ``tx_big``, has ``big_events``)."""
    events = [event(n, f"tx_{n:04d}", "erp", "order.placed", T0) for n in range(count - 1)]
    events += [event(count + n, "tx_big", "erp", "order.updated", T0) for n in range(big_events)]
    ref_events = [*(f"evt_{n:04d}" for n in range(count - 1)), f"evt_{count:04d}"]
    await write(store, event_rows=events, ref_rows=[
        {"event_id": e, "namespace": "erp:so", "value": f"SO-{e}", "role": "identity"} for e in ref_events],
        tx_rows=[transaction(f"tx_{n:04d}", "order", T0, T0, ["erp"], 1) for n in range(count - 1)]
        + [transaction("tx_big", "order", T0, T0, ["erp"], big_events)])


def _cost(response) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    cost = response.json()["extensions"]["cost"]
    return cost["requestedQueryCost"], cost["actualQueryCost"], cost["throttleStatus"]["currentlyAvailable"]


@pytest.mark.asyncio
async def test_cost_budget_is_a_leaky_bucket_per_key_settled_to_the_actual_cost(store_url: str) -> None:
    now = [1_800_000_000.0]
    limits = {"graphql": {"max_cost": 300, "cost_bucket": 600, "cost_restore_rate": 10}}
    async with running_app(store_url, clock=lambda: now[0], extra=limits) as (client, hub):
        empty = await _post(client, {"query": COST_201})
        assert empty.status_code == 200, empty.text
        assert empty.json()["extensions"]["cost"] == {  # an empty page: 200 of the 201 points come back
            "requestedQueryCost": 201, "actualQueryCost": 1,
            "throttleStatus": {"maximumAvailable": 600.0, "currentlyAvailable": 599, "restoreRate": 10.0}}

        await _seed_orders(hub.started().store, 100, big_events=150)
        assert _cost(await _post(client, {"query": COST_201})) == (201, 201, 398)  # 1 + 100 nodes + 100 refs
        assert _cost(await _post(client, {"query": COST_201})) == (201, 201, 197)
        throttled = await _post(client, {"query": COST_201})
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "1"
        assert throttled.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
        assert _cost(throttled) == (201, 0, 197) and "data" not in throttled.json()
        assert (await _post(client, {"query": COST_201}, media="application/json")).status_code == 429
        assert (await _post(client, {"query": COST_201}, key=VIEWER_KEY)).status_code == 200  # its own bucket
        now[0] += 1  # 10 points back: 207 available
        assert _cost(await _post(client, {"query": COST_201})) == (201, 201, 6)

        # A plain nested list is priced once up front but charged for every object it returned.
        big = await _post(client, {"query": '{ node(id: "tx_big") { ... on Transaction { events { id } } } }'},
                          key=VIEWER_KEY)
        assert big.status_code == 200 and len(big.json()["data"]["node"]["events"]) == 150
        assert _cost(big)[:2] == (2, 151)

        too_costly = await _post(client, {"query": "{ transactions(first: 100) { nodes { refs { namespace } "
                                                    "related { id } } } }"}, key=VIEWER_KEY)
        assert too_costly.status_code == 400
        assert too_costly.json()["errors"][0]["extensions"] == {"code": "MAX_COST_EXCEEDED", "cost": 301,
                                                                 "maxCost": 300}


@pytest.mark.asyncio
async def test_introspection_and_suggestions_follow_the_callers_role(store_url: str) -> None:
    async with running_app(store_url, extra={"graphql": {"introspection_roles": ["operator", "admin"]}}) as (
            client, _):
        introspect = {"query": "{ __type(name: \"Transaction\") { fields { name } } }"}
        assert (await _post(client, introspect, key=None)).status_code == 400
        assert (await _post(client, introspect, key=VIEWER_KEY)).status_code == 400  # configurable per role
        assert (await _post(client, introspect, key=OPERATOR_KEY)).json()["data"]["__type"]["fields"]
        typo = {"query": "{ transactionz(ref: \"x\") { id } }"}
        hidden = (await _post(client, typo, key=None)).json()["errors"][0]["message"]
        shown = (await _post(client, typo, key=OPERATOR_KEY)).json()["errors"][0]["message"]
        assert "Did you mean" not in hidden and "Did you mean 'transaction'" in shown


@pytest.mark.asyncio
async def test_unexpected_errors_are_masked_with_an_id_in_the_log(store_url: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    async with running_app(store_url) as (client, hub):
        await write(hub.started().store, exception_rows=[exception(1, "sync_failed", "open", T0)])
        async with hub.started().store.write() as conn:
            await conn.run_sync(lambda sync: exception_history.drop(sync))  # a real database failure
        caplog.set_level(logging.ERROR, logger="crosstrace.graphql")
        response = await _post(client, {"query": "{ exceptions(first: 1) { nodes { id history { action } } } }"})
        body = response.json()
        assert response.status_code == 200, body
        error = body["errors"][0]
        assert error["extensions"]["code"] == "INTERNAL" and error["message"].startswith("internal error (id err_")
        assert "exception_history" not in json.dumps(body) and "Traceback" not in json.dumps(body)
        assert error["extensions"]["id"] in caplog.text and "exception_history" in caplog.text


@pytest.mark.asyncio
async def test_persisted_documents_and_apq(store_url: str) -> None:
    async with running_app(store_url) as (client, _):
        query = "{ __typename }"
        digest = hashlib.sha256(query.encode()).hexdigest()
        apq = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        missing = await _post(client, {"extensions": apq}, media="application/json")
        assert missing.status_code == 200
        assert missing.json()["errors"][0] == {"message": "PersistedQueryNotFound",
                                               "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
        assert (await _post(client, {"query": query, "extensions": apq})).json()["data"] == {"__typename": "Query"}
        assert (await _post(client, {"extensions": apq})).json()["data"] == {"__typename": "Query"}
        by_id = await client.get("/graphql", params={"documentId": f"sha256:{digest}"}, headers=_headers(OPERATOR_KEY))
        assert by_id.status_code == 200 and by_id.json()["data"] == {"__typename": "Query"}
        wrong = await _post(client, {"query": "{ __typename __typename }", "extensions": apq})
        assert wrong.status_code == 400 and "does not match" in wrong.json()["errors"][0]["message"]


@pytest.mark.asyncio
async def test_allow_list_only_mode_runs_only_listed_documents(store_url: str, tmp_path: Path) -> None:
    listed = "query Kinds { transactions(first: 5) { nodes { kind } } }"
    path = tmp_path / "documents.json"
    path.write_text(json.dumps([listed]))
    settings = {"graphql": {"persisted_only": True, "persisted_documents": str(path)}}
    async with running_app(store_url, extra=settings) as (client, _):
        doc_id = "sha256:" + hashlib.sha256(listed.encode()).hexdigest()
        by_id = (await _post(client, {"documentId": doc_id})).json()
        assert by_id["data"] == {"transactions": {"nodes": []}}
        assert by_id["extensions"]["cost"]["requestedQueryCost"] == 6  # 1 + 5 × nodes
        assert (await _post(client, {"query": listed})).status_code == 200  # listed text is fine too
        refused = await _post(client, {"query": "{ __typename }"})
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
        other = "{ __typename }"
        register = await _post(client, {"query": other, "extensions": {"persistedQuery": {
            "version": 1, "sha256Hash": hashlib.sha256(other.encode()).hexdigest()}}})
        assert register.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"
