"""The poller runtime: polls the APIs of sources that have ``[sources.options.poll]`` into the inbox.

Promise: every page a poll adapter (``collectors.polling``) reads is committed by
``hub.ingest.polling.commit_poll`` — its deliveries and the cursor in one transaction — before the next page
is requested, so a crash (even SIGKILL) at any point loses nothing and a restart re-reads from the
committed cursor minus the lookback, dedup absorbing the overlap. One run per source at a time; at
most ``concurrency`` runs across sources (an ``asyncio.Semaphore``).

Failures: 5xx, timeouts and connection errors are retried up to ``max_attempts`` with exponential
backoff and full jitter (sleep ``uniform(0, min(cap, base · 2^attempt))``, AWS Architecture Blog
"Exponential Backoff And Jitter"); a 429 waits its ``Retry-After`` (RFC 9110 §10.2.3: delay-seconds
or an HTTP-date) — longer than ``max_retry_after_seconds`` ends the run and schedules the next one
then. Other 4xx and unexpected shapes fail the run at once. ``failure_threshold`` failed runs in a
row open the circuit (``poll_state.circuit = "open"``, ``last_error`` says why); after
``cooldown_seconds`` one trial run (``half_open``, no retries) closes or re-opens it.

Config (``crosstrace.toml``; durations in seconds; defaults shown)::

    [[sources]]
    name = "shop"
    kind = "commerce"
    adapter = "shopify"
    secret = "env:SHOPIFY_WEBHOOK_SECRET"

    [sources.options.poll]
    style = "shopify-orders"         # stripe-events | shopify-orders | shopify-payouts | rest | amazon-finances
    url = "https://acme.myshopify.com"
    token = "env:SHOPIFY_ADMIN_TOKEN"
    interval_seconds = 60            # pause between successful runs
    page_size = 100                  # Stripe ≤ 100, Shopify ≤ 250
    lookback_seconds = 300           # each run re-reads from cursor − lookback (dedup absorbs it)
    backfill_seconds = 604800        # first run (no cursor): how far back to start
    timeout_seconds = 30             # per request
    max_attempts = 5                 # per request, 429s included
    backoff_base_seconds = 1
    backoff_cap_seconds = 60
    max_retry_after_seconds = 600
    failure_threshold = 5            # failed runs in a row that open the circuit
    cooldown_seconds = 300           # open → half_open
    headers = { "x-api-version" = "2" }   # extra request headers; values may be env:NAME
    api_version = "2025-01"          # style-specific keys: see collectors/polling/<style>.py

Style-specific keys: ``stripe-events``: ``types``, ``stripe_version``, ``payout_fees``; ``shopify-orders``:
``api_version``, ``status``; ``shopify-payouts``: ``api_version``, ``lookback_days``; ``rest``: ``items_path``,
``id_field``, ``cursor_field``, ``version_field``, ``cursor_kind``, ``since_param``, ``pagination``
(page | cursor | link), ``page_param``, ``limit_param``, ``first_page``, ``next_path``, ``cursor_param``,
``params``, ``auth_header``, ``auth_scheme``; ``amazon-finances``: none (``token`` is the LWA access token).

Run it inside the hub (``crosstrace serve`` starts it in the app lifespan) or alone:
``python -m collectors.poller [--config crosstrace.toml] [--once] [--source NAME]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from collectors.polling import STYLES, PollSettings, Request, UpstreamError, poll_settings
from hub.config import Config
from hub.ingest.polling import CheckpointMoved, commit_poll, load_poll_state, mark_half_open, record_poll_failure
from hub.periodic import Heartbeats, cancel_and_wait
from hub.store import Store
from hub.telemetry import Metrics

__all__ = ["PollFailure", "PollOutcome", "Poller", "plan_polls"]

log = logging.getLogger(__name__)


class PollFailure(Exception):
    """A poll run failed; ``retry_at`` is the earliest next attempt a server asked for (Retry-After)."""

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one :meth:`Poller.poll_once` did; ``wait`` is seconds until the source's next run."""

    source: str
    ok: bool
    skipped: bool = False
    pages: int = 0
    new_items: int = 0
    error: str | None = None
    circuit: str = "closed"
    wait: float = 0.0


_STANDBY_SECONDS = 1.0  # how often a source another process polls looks whether its lease came free


def _loop_name(source: str) -> str:
    return f"crosstrace-poller-{source}"


def plan_polls(config: Config) -> dict[str, PollSettings]:
    """Every polled source's validated settings (raises ``ConfigError`` naming the source and key)."""
    plan = {}
    for source in config.sources.values():
        settings = poll_settings(source)
        if settings is not None:
            plan[source.name] = settings
    return plan


class Poller:
    """Polls each planned source on its schedule. ``client`` is the caller's (the app owns one);
    ``clock`` (epoch seconds), ``sleep`` and ``rng`` are injectable so tests need no wall-clock waits."""

    def __init__(self, store: Store, plan: dict[str, PollSettings], client: httpx.AsyncClient, *,
                 concurrency: int = 4, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, rng: random.Random | None = None,
                 metrics: Metrics | None = None, on_commit: Callable[[], None] | None = None,
                 gate: Callable[[str], bool] | None = None) -> None:
        self.plan = plan
        self._gate = gate  # source → whether this process holds its poll lease (hub.leases)
        self._store = store
        self._client = client
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._metrics = metrics
        self._on_commit = on_commit
        self._running: dict[str, asyncio.Lock] = {name: asyncio.Lock() for name in plan}
        self._tasks: list[asyncio.Task[None]] = []
        self._heartbeats: Heartbeats | None = None

    def start(self, heartbeats: Heartbeats | None = None) -> None:
        """One scheduling task per polled source (none when nothing is polled); each run that completes (its
        upstream may have failed: that is source health) is a tick on ``heartbeats``."""
        self._heartbeats = heartbeats
        for name in self.plan:
            if heartbeats is not None:
                heartbeats.beat(_loop_name(name), self.plan[name].interval_seconds)
        self._tasks = [asyncio.create_task(self._loop(name), name=_loop_name(name)) for name in self.plan]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        for name in self.plan:
            if self._heartbeats is not None:
                self._heartbeats.forget(_loop_name(name))

    async def run_once(self, names: Iterable[str] | None = None) -> list[PollOutcome]:
        """One run of each named (default: every) source, concurrently within the bound."""
        return list(await asyncio.gather(*(self.poll_once(name) for name in (names or self.plan))))

    async def _loop(self, name: str) -> None:
        while True:
            if self._gate is not None and not self._gate(name):  # another process polls it: stand by
                if self._heartbeats is not None:
                    self._heartbeats.beat(_loop_name(name), self.plan[name].interval_seconds)
                await self._sleep(min(self.plan[name].interval_seconds, _STANDBY_SECONDS))
                continue
            try:
                outcome = await self.poll_once(name)
                wait = outcome.wait
                if self._heartbeats is not None:  # the next run is due after `wait` (a Retry-After, a cooldown)
                    self._heartbeats.beat(_loop_name(name), max(wait, self.plan[name].interval_seconds))
            except Exception:  # the store is down: keep the schedule alive
                log.exception("poller %s: run failed outside the HTTP path", name)
                wait = self.plan[name].interval_seconds
            await self._sleep(max(wait, 0.0))

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC).replace(tzinfo=None)

    async def poll_once(self, name: str) -> PollOutcome:
        """One run for ``name``: honours an open circuit, reads every page, records success or failure."""
        settings = self.plan[name]
        async with self._running[name]:
            state = await load_poll_state(self._store, name)
            now = self._now()
            # An open circuit (or a server's long Retry-After) holds the source until next_poll_at.
            if (state is not None and state.next_poll_at is not None and now < state.next_poll_at
                    and (state.circuit == "open" or state.consecutive_failures)):
                return PollOutcome(name, ok=False, skipped=True, error=state.last_error, circuit=state.circuit,
                                   wait=(state.next_poll_at - now).total_seconds())
            trial = state is not None and state.circuit in ("open", "half_open")
            if trial:
                await mark_half_open(self._store, name, now)
            async with self._slots:
                try:
                    pages, new = await self._run(settings, state.cursor if state else None, trial)
                except (PollFailure, UpstreamError) as exc:
                    return await self._failed(settings, exc)
                except CheckpointMoved as exc:  # it took this source's lease over: its run stands
                    log.info("poller %s: %s; this run's pages are dropped", name, exc)
                    return PollOutcome(name, ok=True, skipped=True, error=str(exc), wait=settings.interval_seconds)
        self._gauge(name, 0, "closed")
        return PollOutcome(name, ok=True, pages=pages, new_items=new, wait=settings.interval_seconds)

    async def _run(self, settings: PollSettings, cursor: str | None, trial: bool) -> tuple[int, int]:
        walk = STYLES[settings.style].walk(settings, cursor, datetime.fromtimestamp(self._clock(), UTC))
        headers = {**STYLES[settings.style].headers(settings), **settings.headers}
        request: Request | None = walk.first()
        pages = new = 0
        committed = cursor  # what the store holds, unless another process moved it (CheckpointMoved)
        while request is not None:
            response = await self._fetch(settings, request, headers, trial)
            page = walk.page(response)
            pages += 1
            now = self._now()
            finished = page.next is None
            added = await commit_poll(self._store, settings.source, page.items, page.cursor, now, finished=finished,
                                      next_poll_at=now + timedelta(seconds=settings.interval_seconds),
                                      on_commit=self._on_commit, expect=committed)
            committed = committed if page.cursor is None else page.cursor
            new += added
            if self._metrics is not None:
                self._metrics.inc("crosstrace_poll_items_total", added, source=settings.source)
            request = page.next
        return pages, new

    async def _fetch(self, settings: PollSettings, request: Request, headers: dict[str, str],
                     trial: bool) -> httpx.Response:
        attempts = 1 if trial else settings.max_attempts
        error = "no attempt made"
        for attempt in range(attempts):
            wait: float | None = None
            try:
                response = await self._client.get(request.url, params=request.params, headers=headers,
                                                  timeout=settings.timeout_seconds)
            except httpx.TimeoutException as exc:
                error = f"timed out after {settings.timeout_seconds:g}s ({exc.__class__.__name__})"
            except httpx.TransportError as exc:
                error = f"connection failed: {exc.__class__.__name__}: {exc}"
            else:
                status = response.status_code
                if status == 429:
                    wait = retry_after(response.headers.get("retry-after"), self._clock())
                    error = "HTTP 429 Too Many Requests" + (f" (Retry-After {wait:g}s)" if wait is not None else "")
                    if wait is not None and wait > settings.max_retry_after_seconds:
                        raise PollFailure(error, retry_at=self._now() + timedelta(seconds=wait))
                elif status >= 500:
                    error = f"HTTP {status} from {request.url.split('?')[0]}"
                elif status >= 300:
                    raise PollFailure(f"HTTP {status} from {request.url.split('?')[0]}: {response.text[:200]}")
                else:
                    return response
            if self._metrics is not None:
                self._metrics.inc("crosstrace_poll_retries_total", source=settings.source)
            if attempt + 1 < attempts:
                await self._sleep(wait if wait is not None else self._backoff(settings, attempt))
        raise PollFailure(f"{error}; gave up after {attempts} attempt{'s' if attempts > 1 else ''}")

    def _backoff(self, settings: PollSettings, attempt: int) -> float:
        return self._rng.uniform(0, min(settings.backoff_cap_seconds, settings.backoff_base_seconds * 2 ** attempt))

    async def _failed(self, settings: PollSettings, exc: Exception) -> PollOutcome:
        retry_at = exc.retry_at if isinstance(exc, PollFailure) else None
        now = self._now()
        state = await record_poll_failure(self._store, settings.source, str(exc), now,
                                          threshold=settings.failure_threshold,
                                          cooldown_seconds=settings.cooldown_seconds, retry_at=retry_at)
        log.warning("poller %s: %s (failures in a row: %d, circuit %s)", settings.source, exc,
                    state.consecutive_failures, state.circuit)
        self._gauge(settings.source, state.consecutive_failures, state.circuit)
        wait = (state.next_poll_at - now).total_seconds() if state.next_poll_at else settings.interval_seconds
        return PollOutcome(settings.source, ok=False, error=str(exc), circuit=state.circuit, wait=wait)

    def _gauge(self, source: str, failures: int, circuit: str) -> None:
        if self._metrics is not None:
            self._metrics.set("crosstrace_poll_consecutive_failures", failures, source=source)
            self._metrics.set("crosstrace_poll_circuit_open", 1 if circuit != "closed" else 0, source=source)


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # an HTTP-date is always GMT
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


async def _main(argv: list[str] | None = None) -> int:
    from hub.config import load

    parser = argparse.ArgumentParser(prog="python -m collectors.poller", description="Poll the configured APIs.")
    parser.add_argument("--config", help="path of crosstrace.toml")
    parser.add_argument("--once", action="store_true", help="one run per source, then exit (1 if any failed)")
    parser.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    args = parser.parse_args(argv)
    config = load(args.config)
    plan = {name: s for name, s in plan_polls(config).items() if not args.source or name in args.source}
    store = await Store.open(config.store_url)
    try:
        async with httpx.AsyncClient() as client:
            poller = Poller(store, plan, client)
            if args.once:
                return 0 if all(o.ok for o in await poller.run_once()) else 1
            poller.start()
            await asyncio.gather(*poller._tasks)
    finally:
        await store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(_main()))
