"""The composition root: wires collectors, the inbox, the normalizer, GraphQL and the web UI into one ASGI app."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collectors import ADAPTERS
from collectors.ingest import IngestEndpoint
from collectors.poller import PollSettings, plan_polls
from collectors.receiver import WebhookReceiver
from hub.access.auth import attach_ring, detach_ring
from hub.access.keys import KeyRing
from hub.config import ApiKey, Config
from hub.errors import ConfigError, HubError
from hub.exceptions.relay import Relay
from hub.health import HealthSettings
from hub.ingest.inbox import Inbox
from hub.memory import tune_allocator
from hub.periodic import Heartbeats
from hub.probes import healthz_endpoint, metrics_endpoint
from hub.readers import ReadsForCaller, ingested
from hub.runtime import Hub, Running
from hub.store import Store
from hub.store.inbox_log import InboxLog
from hub.telemetry import new_metrics
from hub.worker import Pipeline
from resolvers import GraphQLApp
from web import export as web_export
from web import graphiql as web_graphiql
from web import login as web_login
from web import routes as web_routes
from web.guard import WebGuard
from web.headers import SecurityHeaders

log = logging.getLogger(__name__)


ROLES = ("all", "web")
"""``all``: receiver, /ingest, GraphQL, UI and the background duties (hub/worker.py) in this process;
``web``: the same without the background duties, which a ``crosstrace worker`` runs."""


def create_app(config: Config, *, role: str = "all", clock: Callable[[], float] = time.time,
               adapters: dict[str, ModuleType] | None = None, evaluate_every: float = 5.0,
               open_ui_as: ApiKey | None = None) -> Starlette:
    """The hub as an ASGI app; the store opens (and migrates) and the parts start in the lifespan.

    ``role``: one of :data:`ROLES`. ``open_ui_as``: only ``crosstrace demo`` on loopback passes its key, so the UI
    opens without a login (web/guard.py); everything else asks for a key.
    """
    if role not in ROLES:
        raise ConfigError(f"role {role!r}: use one of {', '.join(ROLES)}")
    adapters = ADAPTERS if adapters is None else adapters
    check_sources(config, adapters)
    hub = new_hub(config, clock)
    hooks, ingest = WebhookReceiver(hub, adapters, clock), IngestEndpoint(hub)
    app = _HubApp(hub=hub, hooks=hooks, ingest=ingest, routes=routes(hub, hooks, ingest, clock, role),
                  middleware=middleware(hub, open_ui_as),
                  lifespan=lifespan(hub, adapters, clock, evaluate_every, role),
                  exception_handlers={HTTPException: _http_error, HubError: _hub_error, Exception: _unexpected})
    app.state.hub = hub
    return app


def check_sources(config: Config, adapters: dict[str, ModuleType]) -> dict[str, PollSettings]:
    """Every source's adapter exists and accepts its options; returns the polls ([sources.options.poll]).
    ConfigError names the source and key."""
    for source in config.sources.values():
        if source.adapter not in adapters:
            raise ConfigError(f"source {source.name!r}: adapter {source.adapter!r} is not available in this build")
        check = getattr(adapters[source.adapter], "check_options", None)
        if check is not None:
            check(source)
    return plan_polls(config)


def new_hub(config: Config, clock: Callable[[], float]) -> Hub:
    """The hub before start: config, metrics, the app's clock and heartbeats on it (as /healthz reads them)."""
    settings = config.health or HealthSettings()
    heartbeats = Heartbeats(clock, intervals=settings.stall_intervals, min_seconds=settings.stall_min_seconds)
    return Hub(config=config, metrics=new_metrics(), now=lambda: _utc(clock()), heartbeats=heartbeats)


@dataclass(frozen=True, slots=True)
class _Parts:
    """What :func:`start` started: the running parts requests use, and the background ones only stop needs."""

    running: Running
    keyring: KeyRing
    pipeline: Pipeline | None  # role "all": the background duties
    log: InboxLog | None  # SQLite: the inbox's own file
    relay: Relay


def lifespan(hub: Hub, adapters: dict[str, ModuleType], clock: Callable[[], float], evaluate_every: float,
             role: str) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        parts = await start(hub, adapters, clock, evaluate_every, role)
        try:
            yield
        finally:
            await stop(hub, parts)
    return run


async def start(hub: Hub, adapters: dict[str, ModuleType], clock: Callable[[], float], evaluate_every: float,
                role: str) -> _Parts:
    """Open the store and start every part of the role; ``hub.started()`` answers once all have started."""
    config = hub.config
    tune_allocator()  # before the store's threads allocate (hub/memory.py)
    store = await Store.open(config.store_url, read_url=config.read_url, fresh_seconds=config.fresh_seconds)
    keyring = KeyRing(store)  # stored API keys (hub/access/keys.py), consulted by hub.access.auth.authenticate
    await keyring.reload()
    attach_ring(config, keyring)
    keyring.start()
    relay = Relay(store, hub.broadcaster, hub.node)  # PostgreSQL: exception changes to and from other processes
    await relay.start()
    # SQLite: deliveries go to the inbox's own file, so this receiver never waits for the normalizer's write
    # transactions on the main file (in this process or a worker's); the normalizer moves them into ``deliveries``.
    log_writer = InboxLog(store.inbox_log_path) if store.inbox_log_path is not None else None
    pipeline = Pipeline(store, hub, clock=clock, adapters=adapters, evaluate_every=evaluate_every,
                        senders_waiting=lambda: inbox.busy) if role == "all" else None
    inbox = Inbox(store, hub.metrics, queue_size=config.queue_size, log=log_writer,
                  on_commit=pipeline.wake if pipeline is not None else None, now=hub.now)
    inbox.start()
    if pipeline is not None:
        await pipeline.start()
    hub.running = Running(store=store, inbox=inbox, normalizer=pipeline and pipeline.normalizer,
                          evaluator=pipeline and pipeline.evaluator, alerts=pipeline and pipeline.alerts,
                          notifier=pipeline and pipeline.notifier, leases=pipeline and pipeline.leases)
    return _Parts(hub.running, keyring, pipeline, log_writer, relay)


async def stop(hub: Hub, parts: _Parts) -> None:
    """Stop every part, the receivers first, and close the store; ``hub.started()`` is Busy from then on."""
    await parts.running.inbox.stop()
    if parts.pipeline is not None:
        await parts.pipeline.stop()
    if parts.log is not None:
        parts.log.close()
    await parts.keyring.stop()
    await parts.relay.stop()
    detach_ring(hub.config)
    await parts.running.store.close()
    hub.running = None


def routes(hub: Hub, hooks: ASGIApp, ingest: ASGIApp, clock: Callable[[], float], role: str) -> list[BaseRoute]:
    graphql = GraphQLApp(hub, clock=clock,  # the cost budget refills on the app's clock
                         ide_html=web_graphiql.page(), ide_csp=web_graphiql.CSP)  # GraphiQL from /static
    return [
        Mount("/hooks", app=hooks),
        Route("/ingest", endpoint=ingest),
        Route("/graphql", endpoint=graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", endpoint=graphql),
        Route("/healthz", healthz_endpoint(hub, role)),
        Route("/metrics", metrics_endpoint(hub)),
        *web_login.routes(hub, hub.now),
        *web_routes.routes(hub),
        *web_export.routes(hub),
    ]


def middleware(hub: Hub, open_ui_as: ApiKey | None) -> list[Middleware]:
    return [Middleware(SecurityHeaders),  # on every response, the guard's refusals included
            Middleware(ReadsForCaller),  # reads for a caller may go to the replica (hub/store/replica.py)
            Middleware(WebGuard, hub=hub, now=hub.now, open_as=open_ui_as)]


class _HubApp(Starlette):
    """Starlette, except that ``/hooks/{source}`` and ``/ingest`` go straight to their raw-ASGI endpoints.

    They are the hottest paths (DESIGN §6: a Starlette route reaches about half of a plain ASGI callable) and
    need nothing from routing or the web UI's guard, which would parse cookies and look up a session on
    every webhook. They answer their own errors in the one JSON shape; anything unexpected is
    logged and answered 500 in that shape too, as the exception handlers below do for the other routes.
    """

    def __init__(self, *, hub: Hub, hooks: ASGIApp, ingest: ASGIApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hub, self._hooks, self._ingest = hub, hooks, ingest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            endpoint = self._hooks if path.startswith("/hooks/") else self._ingest if path == "/ingest" else None
            if endpoint is not None:
                scope["app"] = self
                if endpoint is self._ingest:
                    send = ingested(self._hub, scope, send)  # read-your-writes for the caller (hub/store/replica.py)
                await _guarded(endpoint, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


async def _guarded(endpoint: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    started = False

    async def tracking_send(message: Message) -> None:
        nonlocal started
        started = True
        await send(message)

    try:
        await endpoint(scope, receive, tracking_send)
    except Exception:
        log.exception("unexpected error on %s", scope["path"])
        if started:
            raise
        await (await _unexpected(Request(scope), Exception()))(scope, receive, send)


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
