"""The composition root: wires collectors, the inbox, the normalizer, GraphQL and the web UI into one ASGI app."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import ModuleType

from sqlalchemy import func, select, text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute

from collectors import ADAPTERS, parser_for
from collectors.ingest import IngestEndpoint
from collectors.receiver import WebhookReceiver
from hub.config import Config
from hub.errors import ConfigError, HubError
from hub.evaluate import Evaluator
from hub.inbox import Inbox
from hub.normalize import Normalizer
from hub.runtime import Hub
from hub.store import Store
from hub.store.tables import deliveries
from hub.telemetry import new_metrics
from resolvers import GraphQLApp
from web import routes as web_routes


def create_app(config: Config, *, clock: Callable[[], float] = time.time,
               adapters: dict[str, ModuleType] | None = None, evaluate_every: float = 5.0) -> Starlette:
    """The hub as an ASGI app; the store opens (and migrates) in the lifespan."""
    adapters = ADAPTERS if adapters is None else adapters
    for source in config.sources.values():
        if source.adapter not in adapters:
            raise ConfigError(f"source {source.name!r}: adapter {source.adapter!r} is not available in this build")
        check = getattr(adapters[source.adapter], "check_options", None)
        if check is not None:
            check(source)
    hub = Hub(config=config, metrics=new_metrics())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await Store.open(config.store_url)
        evaluator = Evaluator(store, config, lambda: _utc(clock()), hub.broadcaster)
        normalizer = Normalizer(store, parser_for(config, adapters), config, hub.metrics, evaluator=evaluator)
        inbox = Inbox(store, hub.metrics, queue_size=config.queue_size, on_commit=normalizer.wake)
        hub.store, hub.inbox, hub.normalizer, hub.evaluator = store, inbox, normalizer, evaluator
        inbox.start()
        normalizer.start()
        evaluator.start(evaluate_every)
        try:
            yield
        finally:
            await inbox.stop()
            await normalizer.stop()
            await evaluator.stop()
            await store.close()
            hub.store = hub.inbox = hub.normalizer = hub.evaluator = None

    graphql = GraphQLApp(hub)

    async def healthz(request: Request) -> Response:
        try:
            async with hub.require_store().read() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            return JSONResponse({"status": "error", "store": exc.__class__.__name__}, status_code=503)
        return JSONResponse({"status": "ok", "store": hub.require_store().dialect,
                             "inbox_queue": hub.inbox.depth if hub.inbox else 0})

    async def metrics(request: Request) -> Response:
        async with hub.require_store().read() as conn:
            pending = (await conn.execute(select(func.count()).select_from(deliveries)
                                          .where(deliveries.c.state == "pending"))).scalar_one()
        hub.metrics.set("crosstrace_normalize_pending", pending)
        return PlainTextResponse(hub.metrics.render(), media_type="text/plain; version=0.0.4")

    app = Starlette(
        routes=[
            Mount("/hooks", app=WebhookReceiver(hub, adapters, clock)),
            Route("/ingest", endpoint=IngestEndpoint(hub)),
            Route("/graphql", endpoint=graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", endpoint=graphql),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            *web_routes.routes(hub),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, HubError: _hub_error, Exception: _unexpected},
    )
    app.state.hub = hub
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse({"error": {"code": code, "message": exc.detail}}, status_code=exc.status_code,
                        headers=exc.headers)


async def _hub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": {"code": "internal", "message": "internal error; see the server log"}},
                        status_code=500)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)
