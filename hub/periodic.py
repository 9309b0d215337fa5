"""Background tasks: one step on a timer until stopped (the evaluator's and the alerts' loop), and stopping tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable


async def cancel_and_wait(tasks: Iterable[asyncio.Task[None] | None]) -> None:
    """Cancel the tasks, then wait until each has finished."""
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    for task in running:
        try:
            await task
        except asyncio.CancelledError:
            pass


class Periodic:
    """Runs ``step`` at once (or, with ``wait_first``, after one interval) and then every ``interval`` seconds;
    a step that says more is waiting (returns true) runs again straight away, and a step that raises is logged
    and tried again next round (the store may be restarting)."""

    def __init__(self, name: str, step: Callable[[], Awaitable[bool]], log: logging.Logger) -> None:
        self._name = name
        self._step = step
        self._log = log
        self._task: asyncio.Task[None] | None = None

    def start(self, interval: float, *, wait_first: bool = False) -> None:
        self._task = asyncio.create_task(self._run(interval, wait_first), name=self._name)

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None

    async def _run(self, interval: float, wait_first: bool) -> None:
        if wait_first:
            await asyncio.sleep(interval)
        while True:
            try:
                if await self._step():
                    continue
            except Exception:
                self._log.exception("%s: step failed", self._name)
            await asyncio.sleep(interval)
