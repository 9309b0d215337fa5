"""Each GraphQL caller's cost budget: in the store on PostgreSQL, where any number of hub processes answer one
caller and must share one budget (:mod:`hub.store.cost_budgets`); in memory on SQLite, which has one process.

When the store cannot be reached to charge a query the query is refused (:class:`BudgetUnavailable`: the HTTP
layer answers 503 with ``Retry-After``, as the receiver does when its queue is full), not let through: failing
open would lift every caller's limit during exactly the trouble the limit protects against, and the query would
need the same store to answer anyway. A refund after a query ran that cannot be written is logged and dropped:
the caller keeps what it got and was charged the requested cost up front.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from hub.store import Store, cost_budgets
from hub.store.cost_budgets import BudgetUnavailable

log = logging.getLogger("crosstrace.graphql")
FORGET_EVERY = 600.0  # seconds between deletions of refilled buckets' rows (per process)


class LeakyBuckets:
    """One leaky bucket per caller: ``size`` points, refilled at ``rate`` points per second by ``clock``.

    At most ``max_callers`` buckets are kept; the least recently used is forgotten (it would be nearly full).
    """

    def __init__(self, size: int, rate: float, clock: Callable[[], float], max_callers: int = 10_000) -> None:
        self.size, self.rate, self._clock, self._max = size, rate, clock, max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def available(self, caller: str) -> float:
        now = self._clock()
        level, at = self._buckets.get(caller, (float(self.size), now))
        return min(float(self.size), level + max(0.0, now - at) * self.rate)

    def take(self, caller: str, cost: int) -> tuple[bool, float, int]:
        """Take ``cost`` points: (taken, points left, seconds until it would fit)."""
        now = self._clock()
        level = self.available(caller)
        if cost > level:
            self._remember(caller, level, now)
            return False, level, max(1, math.ceil((cost - level) / self.rate))
        self._remember(caller, level - cost, now)
        return True, level - cost, 0

    def settle(self, caller: str, refund: int) -> float:
        """Give back ``refund`` points (a negative refund takes more; the level may go below zero, so the next
        query waits for it); the points left."""
        now = self._clock()
        level = min(float(self.size), self.available(caller) + refund)
        self._remember(caller, level, now)
        return level

    def _remember(self, caller: str, level: float, now: float) -> None:
        self._buckets[caller] = (level, now)
        self._buckets.move_to_end(caller)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)


class CostBudgets:
    """``size`` points per caller, refilled at ``rate`` points per second by ``clock``."""

    def __init__(self, size: int, rate: float, clock: Callable[[], float]) -> None:
        self.size, self.rate, self._clock = size, rate, clock
        self._bucket = cost_budgets.Bucket(size, rate)
        self._memory = LeakyBuckets(size, rate, clock)
        self._forgot_at = time.monotonic()

    async def available(self, context: dict[str, Any], caller: str) -> float:
        store = _shared_store(context)
        if store is None:
            return self._memory.available(caller)
        return await cost_budgets.level(store, self._bucket, caller, self._clock())

    async def take(self, context: dict[str, Any], caller: str, cost: int) -> tuple[bool, float, int]:
        """(taken, points left, seconds until it would fit); :class:`BudgetUnavailable` when the store is down."""
        store = _shared_store(context)
        if store is None:
            return self._memory.take(caller, cost)
        taken = await cost_budgets.take(store, self._bucket, caller, cost, self._clock())
        if time.monotonic() - self._forgot_at > FORGET_EVERY:
            self._forgot_at = time.monotonic()
            try:
                await cost_budgets.forget_full(store, self._bucket, self._clock())
            except BudgetUnavailable as exc:  # the query was charged: it runs; the rows wait for the next time
                log.warning("refilled cost budgets not deleted: %s", exc)
        return taken

    async def settle(self, context: dict[str, Any], caller: str, refund: int) -> float | None:
        """Give back ``refund`` points; the points left (None: nothing to give back on PostgreSQL, or the store did
        not answer, logged)."""
        store = _shared_store(context)
        if store is None:
            return self._memory.settle(caller, refund)
        if refund == 0:  # charged what it cost: no second statement (the take's report stands)
            return None
        try:
            return await cost_budgets.settle(store, self._bucket, caller, refund, self._clock())
        except BudgetUnavailable as exc:
            log.warning("cost budget of %s not settled (%+d points): %s", caller, refund, exc)
            return None


def _shared_store(context: dict[str, Any]) -> Store | None:
    """The PostgreSQL store the running hub uses, or None (SQLite, or no hub running: the in-memory buckets)."""
    running = getattr(context.get("hub"), "running", None)
    store = getattr(running, "store", None)
    return store if isinstance(store, Store) and store.dialect == "postgresql" else None
