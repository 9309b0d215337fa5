"""Issue 2's "Bad input" list, case by case, over HTTP: nothing lost, no 500, one JSON error shape.

The cases test_app.py already covers (forged/stale/unsigned signatures, 413, 415, malformed and deeply
nested signed bodies, a missing ``specversion``, a non-string ref value) are not repeated here.
"""

from __future__ import annotations

import time
import types

import httpx
import pytest
from sqlalchemy import func, select

from collectors import ADAPTERS, cloudevents
from hub.app import create_app
from hub.store.tables import deliveries
from tests.support import OPERATOR_KEY, cloudevent, config_for, dumps, gql, running_app, signed_headers

BATCH = {"authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"}


async def stored_deliveries(hub) -> int:  # type: ignore[no-untyped-def]
    async with hub.store.read() as conn:
        return (await conn.execute(select(func.count()).select_from(deliveries))).scalar_one()


def assert_error_shape(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]


@pytest.mark.asyncio
@pytest.mark.parametrize("field", ["id", "type", "source", "specversion"])
async def test_ingest_event_missing_a_required_attribute_is_400_naming_index_and_field(store_url: str,
                                                                                       field: str) -> None:
    async with running_app(store_url) as (client, hub):
        ok = cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-1")])
        broken = cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-2")])
        del broken[field]
        error = assert_error_shape(await client.post("/ingest", content=dumps([ok, ok, broken]), headers=BATCH), 400)
        assert "event[2]" in error["message"] and repr(field) in error["message"]
        assert await stored_deliveries(hub) == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("refs, where", [
    ([{"namespace": 7, "value": "SO-1"}], "event[0].data.refs[0].namespace"),
    ([{"namespace": "erp:sales_order", "value": None}], "event[0].data.refs[0].value"),
    ([{"namespace": "erp:sales_order", "value": ["SO-1"]}], "event[0].data.refs[0].value"),
    ("SO-1", "event[0].data.refs"),
])
async def test_ingest_refs_that_are_not_strings_are_400(store_url: str, refs: object, where: str) -> None:
    async with running_app(store_url) as (client, hub):
        event = cloudevent("erp", "erp.posted", [])
        event["data"]["refs"] = refs
        error = assert_error_shape(await client.post("/ingest", content=dumps([event]), headers=BATCH), 400)
        assert where in error["message"]
        assert await stored_deliveries(hub) == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("body", [b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"", b"[]"])
async def test_ingest_absurd_bodies_are_400_not_500(store_url: str, body: bytes) -> None:
    async with running_app(store_url) as (client, hub):
        assert_error_shape(await client.post("/ingest", content=body, headers=BATCH), 400)
        assert await stored_deliveries(hub) == 0


@pytest.mark.asyncio
async def test_webhook_unknown_source_and_deep_object_nesting(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        body = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-1")]))
        error = assert_error_shape(await client.post("/hooks/no-such-source", content=body,
                                                     headers=signed_headers(body)), 404)
        assert "no-such-source" in error["message"]
        assert await stored_deliveries(hub) == 0

        deep = b'{"a":' * 5000 + b"1" + b"}" * 5000  # json.loads raises RecursionError here, not ValueError
        response = await client.post("/hooks/erp", content=deep, headers=signed_headers(deep))
        assert response.status_code == 202
        await hub.normalizer.run_until_idle()
        dead = (await gql(client, '{ deliveries(filter: {state: "dead"}, first: 5) { nodes { id error } } }'))
        nodes = dead["data"]["deliveries"]["nodes"]
        assert [n["id"] for n in nodes] == [response.json()["delivery"]] and "nested deeper" in nodes[0]["error"]


@pytest.mark.asyncio
async def test_webhook_with_a_future_timestamp_outside_tolerance_is_401_and_only_counted(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        body = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-1")]))
        response = await client.post("/hooks/erp", content=body,
                                     headers=signed_headers(body, timestamp=int(time.time()) + 301))
        assert assert_error_shape(response, 401)["code"] == "unauthorized"
        assert await stored_deliveries(hub) == 0
        assert hub.metrics.value("crosstrace_deliveries_rejected_total", source="erp", reason="signature") == 1


@pytest.mark.asyncio
async def test_an_adapter_bug_on_the_webhook_fast_path_is_a_json_500_and_nothing_is_stored(store_url: str) -> None:
    """``/hooks`` bypasses Starlette's handlers; an unexpected error still gets the one JSON shape."""
    broken = types.ModuleType("broken_cloudevents")
    broken.__dict__.update(vars(cloudevents))

    def verify(*_: object) -> None:
        raise RuntimeError("a bug in an adapter")

    broken.verify = verify  # type: ignore[attr-defined]
    app = create_app(config_for(store_url), adapters={**ADAPTERS, "cloudevents": broken}, evaluate_every=3600)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                     base_url="http://hub.test") as client:
            body = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-1")]))
            error = assert_error_shape(await client.post("/hooks/erp", content=body, headers=signed_headers(body)),
                                       500)
            assert error["code"] == "internal" and "bug" not in error["message"]  # no internals leak
            assert await stored_deliveries(app.state.hub) == 0
