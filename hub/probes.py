"""``/healthz`` and ``/metrics``: the endpoints every process answers, ``serve`` in its app and ``crosstrace worker``
on its own small server (``--health-port``, loopback by default).

``/healthz``: 200 when the store answers, the oldest pending delivery is recent and every loop ticks, else 503 and
why (hub/health.py); its body names the process (``node``), its ``role`` and the ``duties`` it holds now.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hub.health import HealthSettings
from hub.health import check as check_health
from hub.health import publish as publish_health_gauges
from hub.ingest.polling import publish_health, source_health
from hub.runtime import Hub
from hub.store import inbox_log
from hub.store.queries import pending_count

__all__ = ["ProbeServer", "healthz_endpoint", "metrics_endpoint"]


def healthz_endpoint(hub: Hub, role: str) -> Callable[[Request], Awaitable[Response]]:
    settings = hub.config.health or HealthSettings()

    async def healthz(request: Request) -> Response:
        """200 when the store answers, the oldest pending delivery is recent and every loop ticks; else 503 + why."""
        running = hub.running
        if running is None:
            return JSONResponse({"status": "error", "reasons": ["the hub is starting or stopping"]}, status_code=503)
        health = await check_health(running.store, hub.heartbeats, settings, hub.now())
        publish_health_gauges(hub.metrics, health)
        body = {"status": "ok" if health.ok else "error", "role": role, "store": running.store.dialect,
                "checks": health.checks, "node": hub.node,
                "duties": running.leases.holding() if running.leases else []}
        if running.inbox is not None:  # a worker receives nothing
            body["inbox_queue"] = running.inbox.depth
        if not health.ok:
            body["reasons"] = health.reasons
        return JSONResponse(body, status_code=200 if health.ok else 503)
    return healthz


def metrics_endpoint(hub: Hub) -> Callable[[Request], Awaitable[Response]]:
    settings = hub.config.health or HealthSettings()

    async def metrics(request: Request) -> Response:
        store = hub.started().store
        async with store.read(primary=True) as conn:
            pending = await pending_count(conn)
            if store.inbox_log_path is not None:  # SQLite: acknowledged into the inbox log, not moved yet
                pending += (await inbox_log.backlog(conn))[0]
        publish_health_gauges(hub.metrics, await check_health(store, hub.heartbeats, settings, hub.now()))
        for writer, stats in store.writer_stats.items():  # inbox vs background: who waits on whom
            hub.metrics.set("crosstrace_store_write_transactions_total", stats.transactions, writer=writer)
            hub.metrics.set("crosstrace_store_writer_wait_seconds_total", stats.wait_seconds, writer=writer)
            hub.metrics.set("crosstrace_store_writer_hold_seconds_total", stats.hold_seconds, writer=writer)
        for target, count in store.reads.items():  # with [store] read_url: how many reads the replica took
            hub.metrics.set("crosstrace_store_reads_total", count, target=target)
        now = hub.now()  # per-source health, the same figures as GraphQL `sources`
        publish_health(hub.metrics, await source_health(store, hub.config, now), now)
        hub.metrics.set("crosstrace_live_subscribers", hub.broadcaster.subscribers)
        hub.metrics.set("crosstrace_node_info", 1, node=hub.node)  # which process answered (several on PostgreSQL)
        leases = hub.started().leases  # None in a web-only process: it runs no duties
        for duty in leases.names if leases is not None else ():  # 1 where this process runs the duty now
            hub.metrics.set("crosstrace_duty_held", 1 if leases.held(duty) else 0, duty=duty, node=hub.node)
        # Set with nothing awaited before the render: the normalizer sets this gauge to 0 whenever it takes nothing,
        # also while deliveries still pending are claimed by a process that died (their claims lapse later).
        hub.metrics.set("crosstrace_normalize_pending", pending)
        return PlainTextResponse(hub.metrics.render(), media_type="text/plain; version=0.0.4")
    return metrics


class _QuietServer(uvicorn.Server):
    """uvicorn inside a process that handles its own signals: it installs none."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


class ProbeServer:
    """``/healthz`` and ``/metrics`` of a worker on ``host:port`` (the port is bound at :meth:`start`: one in use is
    an OSError then, not a log line later)."""

    def __init__(self, hub: Hub, host: str, port: int) -> None:
        self._host, self._port = host, port
        app = Starlette(routes=[Route("/healthz", healthz_endpoint(hub, "worker")),
                                Route("/metrics", metrics_endpoint(hub))])
        self._server = _QuietServer(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            raise OSError(f"worker health port {self._host}:{self._port}: {exc.strerror}") from exc
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="worker-probes")

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            await self._task
            self._task = None
