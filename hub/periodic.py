"""Background tasks: one step on a timer until stopped (the evaluator's and the alerts' loop), stopping tasks,
and the heartbeats ``/healthz`` reads to tell a running loop from a stalled one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from hub.store import describe, is_lock_conflict

_RECANCEL_SECONDS = 1.0


async def cancel_and_wait(tasks: Iterable[asyncio.Task[None] | None]) -> None:
    """Cancel the tasks, then wait until each has finished."""
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    for task in running:
        # Cancel again until it is done: a cancellation can be lost inside a task (Python 3.11's asyncio.timeout
        # racing its own expiry, or a library's cancel scope), and one lost cancel must not make stop() wait for ever.
        while not task.done():
            await asyncio.wait({task}, timeout=_RECANCEL_SECONDS)
            if not task.done():
                task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


@dataclass(frozen=True, slots=True)
class Beat:
    """A loop's last completed tick (epoch seconds on the hub's clock) and how long until it means to tick again."""

    at: float
    interval: float


class Heartbeats:
    """When each background loop last completed a tick. A loop is stalled when its last tick is older than
    ``intervals`` times its interval (and at least ``min_seconds``): stuck in a tick, or every tick failing."""

    def __init__(self, clock: Callable[[], float] = time.time, *, intervals: float = 3.0,
                 min_seconds: float = 60.0) -> None:
        self._clock = clock
        self._intervals = intervals
        self._min = min_seconds
        self._beats: dict[str, Beat] = {}

    def beat(self, name: str, interval: float) -> None:
        """``name`` completed a tick now and means to complete the next within about ``interval`` seconds."""
        self._beats[name] = Beat(self._clock(), interval)

    def forget(self, name: str) -> None:
        """``name`` stopped on purpose: its silence is no stall."""
        self._beats.pop(name, None)

    def ages(self) -> dict[str, tuple[float, float]]:
        """Per loop: (seconds since its last completed tick, seconds it may take before it counts as stalled)."""
        now = self._clock()
        return {name: (max(0.0, now - beat.at), max(self._intervals * beat.interval, self._min))
                for name, beat in sorted(self._beats.items())}


class Periodic:
    """Runs ``step`` at once (or, with ``wait_first``, after one interval) and then every ``interval`` seconds;
    a step that says more is waiting (returns true) runs again straight away, and a step that raises is logged
    and tried again next round (the store may be restarting). With ``heartbeats``, every step that completes
    is recorded there under the loop's name. With ``gate``, a round runs only while it says yes (this process
    holds the duty's lease: hub.leases); a skipped round still counts as a tick (the loop is alive)."""

    def __init__(self, name: str, step: Callable[[], Awaitable[bool]], log: logging.Logger) -> None:
        self._name = name
        self._step = step
        self._log = log
        self._task: asyncio.Task[None] | None = None
        self._heartbeats: Heartbeats | None = None
        self._gate: Callable[[], bool] | None = None

    def start(self, interval: float, *, wait_first: bool = False, heartbeats: Heartbeats | None = None,
              gate: Callable[[], bool] | None = None) -> None:
        self._heartbeats = heartbeats
        self._gate = gate
        if heartbeats is not None:
            heartbeats.beat(self._name, interval)  # started: the first tick is due within one interval
        self._task = asyncio.create_task(self._run(interval, wait_first), name=self._name)

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None
        if self._heartbeats is not None:
            self._heartbeats.forget(self._name)

    async def _run(self, interval: float, wait_first: bool) -> None:
        if wait_first:
            await asyncio.sleep(interval)
        while True:
            try:
                more = await self._step() if self._gate is None or self._gate() else False
                if self._heartbeats is not None:
                    self._heartbeats.beat(self._name, interval)
                if more:
                    continue
            except Exception as exc:  # one failed tick never ends the loop
                if is_lock_conflict(exc):  # PostgreSQL broke a lock cycle with another process: the next tick retries
                    self._log.warning("%s: step retried after a lock conflict: %s", self._name, describe(exc))
                else:
                    self._log.exception("%s: step failed", self._name)
            await asyncio.sleep(interval)
