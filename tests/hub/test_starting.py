"""Before the hub has started and after it has stopped, every kind of request is told 503 and when to retry."""

from __future__ import annotations

import httpx
import pytest

from hub.app import create_app
from tests.support import ADMIN_KEY, OPERATOR_KEY, cloudevent, config_for, dumps, signed_headers


async def _answers(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
    hook = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-1")]))
    batch = dumps([cloudevent("shop", "order.placed", [("shop:order", "1")])])
    return {
        "hook": await client.post("/hooks/erp", content=hook, headers=signed_headers(hook)),
        "ingest": await client.post("/ingest", content=batch, headers={
            "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"}),
        "graphql": await client.post("/graphql", json={"query": "{ sources { name } }"},
                                     headers={"authorization": f"Bearer {ADMIN_KEY}"}),
        "metrics": await client.get("/metrics"),
        "page": await client.get("/", headers={"authorization": f"Bearer {ADMIN_KEY}"}),
    }


def _assert_busy(answers: dict[str, httpx.Response]) -> None:
    for name, response in answers.items():
        assert response.status_code == 503, (name, response.status_code, response.text)
        assert response.headers.get("retry-after"), name
        assert response.json()["error"]["code"] == "busy", name


@pytest.mark.asyncio
async def test_requests_before_start_and_after_stop_are_503(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config_for(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"), evaluate_every=3600)
    hub = app.state.hub
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        _assert_busy(await _answers(client))
        assert (await client.get("/healthz")).status_code == 503
        async with app.router.lifespan_context(app):
            assert hub.started().store is hub.store
            assert (await client.get("/metrics")).status_code == 200
        _assert_busy(await _answers(client))
        assert (await client.get("/healthz")).status_code == 503
