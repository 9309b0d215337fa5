"""``crosstrace demo``: the hub and the simulated retailer in one process, over real HTTP.

The hub (built by the composition root's ``app_factory`` from the demo's config, with the simulated
clock) and the ERP's REST API are two uvicorn servers on loopback; the simulated vendors post their
webhooks to the hub and the hub polls the ERP. After ``duration`` real seconds the simulation stops,
the runner waits until the hub has caught up (ERP polled to the end, inbox drained, evaluator ticked)
and prints what to look at; then it keeps serving until Ctrl-C, or exits with ``exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx
import uvicorn

from hub.access import auth
from hub.config import ApiKey, Config, parse
from hub.demo.clock import SimClock
from hub.demo.erp import ErpApi
from hub.demo.scenario import Scenario, Send, build
from hub.demo.sender import Sender
from hub.demo.sources import demo_config, new_secrets
from hub.errors import ConfigError

# (config, clock, evaluate_every, open_ui_as) → ASGI app; open_ui_as: the key the UI opens as without a login
AppFactory = Callable[[Config, Callable[[], float], float, ApiKey | None], Any]
_CONCURRENCY = 16
_SETTLE_TIMEOUT = 120.0
_SETTLING = ("crosstrace-evaluator", "crosstrace-alerts")  # the loops the summary waits a tick of
_BEHIND = 64  # deliveries waiting for the normalizer beyond which the clock is held (one burst batch)
_PACE_SECONDS = 0.2  # how often the pacing reads the hub's backlog (its /metrics)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    seed: int = 7
    speed: float = 10.0  # simulated minutes per real second
    orders_per_minute: float = 0.5  # per simulated minute
    duration: float = 60.0  # real seconds of simulation
    db: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    exit: bool = False


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to the demo (two servers share one process and one Ctrl-C)."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


def store_path(db: str | None) -> Path:
    """The SQLite file: a new temp dir by default, ``<dir>/crosstrace-demo.db`` for a directory."""
    if db is None:
        return Path(tempfile.mkdtemp(prefix="crosstrace-demo-")) / "crosstrace-demo.db"
    path = Path(db)
    if path.is_dir() or db.endswith(("/", "\\")):
        path.mkdir(parents=True, exist_ok=True)
        path = path / "crosstrace-demo.db"
    if path.exists() and path.stat().st_size > 0:
        raise ConfigError(f"--db {path} already holds a database: pass a new file or directory, or remove it "
                          "(the same seed would only repeat deliveries the hub has already seen)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def loopback(host: str) -> bool:
    """Whether ``host`` binds to this machine only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def run_demo(options: DemoOptions, app_factory: AppFactory, out: TextIO = sys.stdout) -> int:
    """Run the demo until Ctrl-C (or, with ``options.exit``, until it has caught up); returns an exit code."""
    if options.speed <= 0 or options.duration <= 0 or options.orders_per_minute <= 0:
        raise ConfigError("--speed, --duration and --orders-per-minute must be positive")
    db = store_path(options.db)
    horizon = options.duration * options.speed * 60.0
    start = math.floor((time.time() - horizon) / 60.0) * 60.0  # the simulation ends about now
    scenario = build(options.seed, start, horizon, options.orders_per_minute)
    clock = SimClock(start, options.speed, horizon)
    hub_url = f"http://{options.host}:{options.port}"
    erp_port = _free_port(options.host)
    secrets = new_secrets()
    poll_interval = min(2.0, max(0.05, 300.0 / clock.factor))  # every 5 simulated minutes
    raw = demo_config(f"sqlite+aiosqlite:///{db}", hub_url, f"http://{options.host}:{erp_port}", poll_interval,
                      tolerance_seconds=int(max(300.0, 30 * clock.factor)),  # 30 real seconds of latency
                      pager_url=f"http://{options.host}:{_free_port(options.host)}/hooks/crosstrace")  # down
    # The hub's clock runs `factor` times real time: /healthz allows a real minute, not a simulated one.
    raw["health"] = {"max_pending_seconds": 60 * clock.factor, "stall_min_seconds": 60 * clock.factor}
    key, key_sha256 = auth.new_key()
    raw["api_keys"] = [{"name": "demo", "role": "operator", "key_sha256": key_sha256}]
    config = parse(raw, secrets)
    open_ui = loopback(options.host)  # anywhere else on the network the UI asks for the demo's key
    app = app_factory(config, clock, min(1.0, poll_interval * 2), config.api_keys[0] if open_ui else None)
    erp = ErpApi(scenario.erp_records, scenario.outages, clock)
    servers = [_Server(uvicorn.Config(erp, host=options.host, port=erp_port, log_level="warning",
                                      access_log=False, lifespan="off")),
               _Server(uvicorn.Config(app, host=options.host, port=options.port, log_level="warning",
                                      access_log=False))]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(_serve(server)) for server in servers]
    try:
        if not await _started(servers, tasks, stop):
            if stop.is_set():
                return 130
            print(f"crosstrace demo: could not start the servers (is port {options.port} free?)", file=out)
            return 1
        clock.begin()
        print(f"crosstrace demo: hub on {hub_url}/  (store {db})", file=out)
        print(f"  the simulated ERP's API (the hub polls it) on http://{options.host}:{erp_port}/api/records", file=out)
        print(f"  API key (operator) for GraphQL and the UI's login: {key}", file=out)
        print("  the UI opens without a login, as the operator 'demo' (audited as such)" if open_ui else
              f"  the UI asks for that key: the demo opens without one only on 127.0.0.1, not {options.host}",
              file=out)
        print(f"  simulating {horizon / 3600:.1f} hours of retail in {options.duration:g} s "
              f"(seed {options.seed}, {options.speed:g} simulated minutes per second, "
              f"{options.orders_per_minute:g} orders per simulated minute); Ctrl-C stops", file=out, flush=True)
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=_CONCURRENCY)) as client:
            sender = Sender(client, hub_url, secrets, clock)
            began = time.monotonic()
            pacing = asyncio.create_task(_pace(client, hub_url, clock, stop))
            try:
                finished = await _drive(scenario.sends, sender, clock, stop)
            finally:
                pacing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pacing
                clock.hold(False, "normalizer")
            simulated = time.monotonic() - began
            if not finished:
                return 130
            settled = await _settle(client, hub_url, erp, clock, stop, poll_interval)
        _report(out, scenario, sender, erp, settled, hub_url, simulated, clock.held_seconds)
        if not options.exit:
            print(f"  serving the UI on {hub_url}/ until Ctrl-C", file=out, flush=True)
            await stop.wait()
        return 0 if settled or not options.exit else 1
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        _leave(out, db, temporary=options.db is None)


def _leave(out: TextIO, db: Path, temporary: bool) -> None:
    """On the way out: a temp dir of our own is removed (saying where it was); a ``--db`` is kept."""
    if temporary:
        shutil.rmtree(db.parent, ignore_errors=True)
        print(f"crosstrace demo: stopped; its data ({db.parent}) is removed (--db DIR keeps it)", file=out, flush=True)
    else:
        print(f"crosstrace demo: stopped; its data stays in {db}", file=out, flush=True)


async def _serve(server: _Server) -> None:
    try:
        await server.serve()
    except SystemExit:  # uvicorn exits when it cannot bind; _started reports it
        pass


async def _started(servers: list[_Server], tasks: list[asyncio.Task[Any]], stop: asyncio.Event) -> bool:
    while not all(server.started for server in servers):
        if stop.is_set() or any(task.done() for task in tasks):
            return False
        await asyncio.sleep(0.05)
    return True


async def _drive(sends: list[Send], sender: Sender, clock: SimClock, stop: asyncio.Event) -> bool:
    """Deliver every send when the clock reaches it, at most ``_CONCURRENCY`` at once; while all slots are
    busy the clock is held (the hub sees no time pass that the vendors could not deliver). False if stopped."""
    slots = asyncio.Semaphore(_CONCURRENCY)
    running: set[asyncio.Task[None]] = set()

    async def deliver(send: Send) -> None:
        try:
            await sender.deliver(send)
        finally:
            slots.release()

    for send in sends:
        while clock() < send.at:
            if await _stopped(stop, min(0.5, max(0.001, clock.real_seconds_until(send.at)))):
                break
        if stop.is_set():
            break
        if slots.locked():
            clock.hold(True)
            await slots.acquire()
            clock.hold(False)
        else:
            await slots.acquire()
        task = asyncio.create_task(deliver(send))
        running.add(task)
        task.add_done_callback(running.discard)
    else:
        while not stop.is_set() and clock() < clock.end:
            await _stopped(stop, min(0.5, max(0.001, clock.real_seconds_until(clock.end))))
    if running:
        await asyncio.gather(*running, return_exceptions=True)
    return not stop.is_set()


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


async def _settle(client: httpx.AsyncClient, hub_url: str, erp: ErpApi, clock: SimClock, stop: asyncio.Event,
                  poll_interval: float) -> bool:
    """Wait until the ERP was polled up to the end, the hub's inbox is drained and the periodic loops (the evaluator
    and the alerts with their escalations) have each completed a tick since then."""
    deadline = time.monotonic() + _SETTLE_TIMEOUT
    quiet = 0
    drained_at: float | None = None
    while time.monotonic() < deadline and not stop.is_set():
        caught_up = erp.last_caught_up is not None and erp.last_caught_up >= clock.end
        metrics = await _metrics(client, hub_url) if caught_up else None
        if metrics is not None and _pending(metrics) == 0:
            drained_at = drained_at if drained_at is not None else time.monotonic()
            quiet += 1
        else:
            drained_at, quiet = None, 0
        if quiet >= 3 and drained_at is not None and _loops_ticked_within(metrics or "",
                                                                          time.monotonic() - drained_at):
            return True
        if await _stopped(stop, max(0.3, poll_interval * 2)):
            return False
    return False


async def _pace(client: httpx.AsyncClient, hub_url: str, clock: SimClock, stop: asyncio.Event) -> None:
    """Hold the clock while more than ``_BEHIND`` acknowledged deliveries wait for the hub's normalizer: the hub's
    receiver acknowledges faster than it normalizes (the SQLite inbox log), and a late step must be seen late on
    the simulated timeline, not hours after (the stuck order's escalation is timed on it)."""
    while not stop.is_set():
        metrics = await _metrics(client, hub_url)
        clock.hold(metrics is not None and _pending(metrics) > _BEHIND, "normalizer")
        await _stopped(stop, _PACE_SECONDS)


async def _metrics(client: httpx.AsyncClient, hub_url: str) -> str | None:
    try:
        return (await client.get(f"{hub_url}/metrics", timeout=10)).text
    except httpx.HTTPError:
        return None


def _pending(metrics: str) -> float:
    """The deliveries still waiting for the normalizer (0 when none)."""
    for line in metrics.splitlines():
        if line.startswith(("crosstrace_normalize_pending ", "crosstrace_inbox_queue_depth ")):
            if float(line.split()[-1]) > 0:
                return float(line.split()[-1])
    return 0.0


def _loops_ticked_within(metrics: str, seconds: float) -> bool:
    """Whether the evaluator and the alerts loop each completed their last tick less than ``seconds`` ago."""
    ages = [float(line.split()[-1]) for line in metrics.splitlines()
            if line.startswith("crosstrace_loop_last_tick_seconds{")
            and any(f'loop="{name}"' in line for name in _SETTLING)]
    return all(age < seconds for age in ages)


def _report(out: TextIO, scenario: Scenario, sender: Sender, erp: ErpApi, settled: bool, hub_url: str,
            elapsed: float, held: float) -> None:
    delivered = sum(n for status, n in sender.stats.items() if status in ("200", "202"))
    print(f"  simulated {scenario.horizon / 3600:.1f} hours in {elapsed:.0f} s (the clock waited {held:.0f} s "
          "for the senders and the normalizer)", file=out)
    print(f"  simulation over: {delivered} webhook deliveries accepted"
          f" ({', '.join(f'{k}: {v}' for k, v in sorted(sender.stats.items()))}); "
          f"ERP API answered {erp.requests} polls, {erp.failed} of them 503 during "
          f"{len(scenario.outages)} outage(s); hub {'caught up' if settled else 'still catching up'}", file=out)
    for failure in sender.failures[:5]:
        print(f"  delivery failed: {failure}", file=out)
    if scenario.notable:
        print(f"  paste any of these into the search box at {hub_url}/ :", file=out)
        for label, refs in sorted(scenario.notable.items()):
            print(f"    {label}: {'  '.join(refs[:3])}", file=out)
    if scenario.queue:
        print("  and in the exception queue, beside the transactions:", file=out)
        for label, query in sorted(scenario.queue.items()):
            print(f"    {label}: {hub_url}/exceptions?{query}", file=out)
    if not scenario.notable:
        print(f"  nothing has gone wrong yet in {scenario.horizon / 3600:.1f} simulated hours: the first faults strike "
              "after about an hour (the default --duration 60 shows every kind); the orders are on "
              f"{hub_url}/", file=out)
    print("demo queue: " + "; ".join(f"{label}={query}" for label, query in sorted(scenario.queue.items())), file=out)
    print("demo refs: " + "; ".join(f"{label}={','.join(refs)}" for label, refs in sorted(scenario.notable.items())),
          file=out, flush=True)
