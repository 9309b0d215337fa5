"""The hub's background duties, and ``crosstrace worker``: the process that runs only them (no HTTP).

The duties: the normalizer (which, on SQLite, first moves the receiver's inbox log into ``deliveries``), the
evaluator, alerts, pollers, the notifier and retention. ``crosstrace serve --role all`` runs them beside the
receiver in one process; ``serve --role web`` runs none, and a ``worker`` runs them against the same store.
A composition root like hub/app.py: it wires collectors (parsers, pollers, signing) into the hub.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import IO

import httpx

from collectors import ADAPTERS, parser_for
from collectors.poller import Poller, plan_polls
from collectors.standard_webhooks import sign
from hub.access.retention import Housekeeper, Retention
from hub.config import Config
from hub.exceptions.alerts import AlertEvaluator
from hub.exceptions.evaluate import Evaluator
from hub.exceptions.notify import Notifier
from hub.exceptions.relay import Relay
from hub.health import HealthSettings
from hub.ingest.normalize import Normalizer
from hub.leases import ClusterSettings, Leases, duties
from hub.memory import tune_allocator
from hub.periodic import Heartbeats
from hub.probes import ProbeServer
from hub.runtime import Hub, Running
from hub.store import Store
from hub.telemetry import new_metrics

log = logging.getLogger(__name__)
_LOG_POLL_SECONDS = 0.05  # a worker beside a separate receiver looks at the inbox log this often when idle


class Pipeline:
    """Starts and stops the background duties over ``store``; ``normalizer``, ``evaluator``, ``alerts`` and
    ``notifier`` are set once started."""

    def __init__(self, store: Store, hub: Hub, *, clock: Callable[[], float] = time.time,
                 adapters: dict[str, ModuleType] | None = None, evaluate_every: float = 5.0,
                 senders_waiting: Callable[[], bool] | None = None, receiver_in_process: bool = True) -> None:
        self._store = store
        self._hub = hub
        self._clock = clock
        self._adapters = ADAPTERS if adapters is None else adapters
        self._every = evaluate_every
        self._senders_waiting = senders_waiting
        self.polls = plan_polls(hub.config)
        # Without a receiver in this process nothing wakes the normalizer on a commit: it looks at the log often.
        self._idle_poll = 1.0 if receiver_in_process else _LOG_POLL_SECONDS
        self.normalizer: Normalizer | None = None
        self.evaluator: Evaluator | None = None
        self.alerts: AlertEvaluator | None = None
        self.notifier: Notifier | None = None
        self.leases: Leases | None = None
        self._stops: list[Callable[[], Awaitable[object]]] = []

    def wake(self) -> None:
        """New deliveries were committed: the normalizer looks now."""
        if self.normalizer is not None:
            self.normalizer.wake()

    async def start(self) -> None:
        hub, store, config, heartbeats = self._hub, self._store, self._hub.config, self._hub.heartbeats
        cluster = config.cluster or ClusterSettings()
        leases = Leases(store, hub.node, duties(self.polls), lease_seconds=cluster.lease_seconds)
        await leases.renew()  # before the duties start: a single process runs them from its first round
        leases.start()  # renews every third of a lease; not a /healthz loop (it waits on the one writer, as the inbox)
        housekeeper = Housekeeper(store, config.retention or Retention(), hub.now)
        housekeeper.start(3600, heartbeats, gate=lambda: leases.held("retention"))  # hourly; PG: partitions too
        evaluator = Evaluator(store, config, hub.now, hub.broadcaster)
        client = httpx.AsyncClient(headers={"user-agent": "crosstrace-poller"})  # pollers' and lookups' one client
        normalizer = Normalizer(store, parser_for(config, self._adapters, client, hub.handoff), config, hub.metrics,
                                evaluator=evaluator, senders_waiting=self._senders_waiting, node=hub.node,
                                claim_seconds=cluster.claim_seconds, idle_poll_seconds=self._idle_poll)
        normalizer.start(heartbeats)
        evaluator.start(self._every, heartbeats, gate=lambda: leases.held("evaluator"))  # and the divergence sweep
        poller = Poller(store, self.polls, client, clock=self._clock, metrics=hub.metrics, on_commit=normalizer.wake,
                        gate=lambda source: leases.held(f"poll:{source}"))
        poller.start(heartbeats)
        alerts = AlertEvaluator(store, config, hub.now, hub.broadcaster)
        alerts.start(self._every, heartbeats, gate=lambda: leases.held("alerts"))
        notifier = Notifier(store, config.notifications, client, sign, clock=hub.now, routing=config.routing)
        await notifier.prepare()
        notifier.start(self._every, hub.broadcaster, heartbeats,  # signs with collectors' Standard Webhooks
                       gate=lambda: leases.held("notifier"))
        self.normalizer, self.evaluator, self.alerts, self.notifier = normalizer, evaluator, alerts, notifier
        self.leases = leases
        self._stops = [notifier.stop, alerts.stop, poller.stop, client.aclose, normalizer.stop, evaluator.stop,
                       housekeeper.stop, leases.stop]  # leases after their duties: another process takes them at once

    async def stop(self) -> None:
        """Stop every duty, the senders (notifier, alerts, pollers) first."""
        for stop in self._stops:
            await stop()
        self._stops = []


def run_worker(config: Config, *, parent_pid: int | None = None, health_port: int | None = None,
               health_host: str = "127.0.0.1") -> int:
    """``crosstrace worker``: the background duties until SIGTERM/SIGINT (or, as ``serve``'s child, the parent's
    end). ``health_port``: also answer ``/healthz`` and ``/metrics`` there (hub/probes.py). Returns the exit
    status."""
    return asyncio.run(_work(config, parent_pid, health_port, health_host))


async def _work(config: Config, parent_pid: int | None, health_port: int | None, health_host: str) -> int:
    settings = config.health or HealthSettings()
    hub = Hub(config=config, metrics=new_metrics(),
              heartbeats=Heartbeats(intervals=settings.stall_intervals, min_seconds=settings.stall_min_seconds))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    tune_allocator()  # before the store's threads allocate (hub/memory.py)
    store = await Store.open(config.store_url)
    try:
        async with _sole_worker(store, stopping) as ready:
            if not ready:
                return 0
            relay = Relay(store, hub.broadcaster, hub.node)  # PostgreSQL: exception changes to the web processes
            await relay.start()
            pipeline = Pipeline(store, hub, receiver_in_process=False)
            await pipeline.start()
            hub.running = Running(store=store, inbox=None, normalizer=pipeline.normalizer,
                                  evaluator=pipeline.evaluator, alerts=pipeline.alerts, notifier=pipeline.notifier,
                                  leases=pipeline.leases)
            probes = ProbeServer(hub, health_host, health_port) if health_port is not None else None
            try:
                if probes is not None:
                    await probes.start()
                print(f"crosstrace worker: store {config.store_url}; normalizer, evaluator, alerts, "
                      f"{len(pipeline.polls)} pollers, notifier, retention"
                      f"{f'; health on http://{health_host}:{health_port}/healthz' if probes else ''}",
                      file=sys.stderr, flush=True)
                await _until(stopping, parent_pid)
            finally:
                if probes is not None:
                    await probes.stop()
                hub.running = None
                await pipeline.stop()
                await relay.stop()
    finally:
        await store.close()
    return 0


async def _until(stopping: asyncio.Event, parent_pid: int | None) -> None:
    """Until a stop signal or, with ``parent_pid``, until that parent is gone (SIGKILLed: no signal reaches us)."""
    while not stopping.is_set():
        if parent_pid is not None and os.getppid() != parent_pid:
            log.warning("crosstrace worker: the serve process %d is gone; stopping", parent_pid)
            return
        try:
            async with asyncio.timeout(0.5):
                await stopping.wait()
        except TimeoutError:
            pass


@asynccontextmanager
async def _sole_worker(store: Store, stopping: asyncio.Event) -> AsyncIterator[bool]:
    """SQLite: one worker per store at a time (an exclusive lock on ``<file>.worker.lock``); a second waits as a
    standby until the first ends. PostgreSQL: workers share the work (claims and leases in the store)."""
    if store.inbox_log_path is None:
        yield True
        return
    path = Path(f"{store.inbox_log_path.with_suffix('')}.worker.lock")
    handle: IO[str] = open(path, "a")  # noqa: SIM115 - held for the worker's life
    try:
        waited = False
        while not stopping.is_set():
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    print(f"crosstrace worker: another worker holds {path}; standing by", file=sys.stderr)
                    waited = True
                try:
                    async with asyncio.timeout(1.0):
                        await stopping.wait()
                except TimeoutError:
                    pass
        yield not stopping.is_set()
    finally:
        handle.close()
