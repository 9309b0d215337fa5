"""Traceparent is kept on events; GraphiQL is served to browsers; spans wrap the pipeline stages."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from tests.support import cloudevent, dumps, gql, running_app, signed_headers

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.asyncio
async def test_traceparent_header_is_kept_on_events(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        body = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-7")]))
        headers = dict(signed_headers(body), traceparent=TRACEPARENT)
        assert (await client.post("/hooks/erp", content=body, headers=headers)).status_code == 202
        await hub.normalizer.run_until_idle()
        result = await gql(client, '{ transaction(ref: "SO-7") { events { traceparent } } }')
        assert result["data"]["transaction"]["events"] == [{"traceparent": TRACEPARENT}]


@pytest.mark.asyncio
async def test_graphiql_for_browsers_and_mutation_over_get_refused(store_url: str) -> None:
    async with running_app(store_url) as (client, _hub):
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        refused = await client.get("/graphql", params={"query": "mutation { replayDelivery(id: \"x\") { count } }"})
        assert refused.status_code in (400, 405)


@pytest.mark.asyncio
async def test_pipeline_stages_create_spans(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    async with running_app(f"sqlite+aiosqlite:///{tmp_path / 'spans.db'}") as (client, hub):
        body = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-8")]))
        assert (await client.post("/hooks/erp", content=body, headers=signed_headers(body))).status_code == 202
        await hub.normalizer.run_until_idle()
    names = {span.name for span in exporter.get_finished_spans()}
    assert {"receive", "inbox.store", "normalize", "correlate"} <= names
