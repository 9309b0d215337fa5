"""The simulated clock the demo and the hub share: up to ``speed`` simulated minutes pass per real second.

Until :meth:`SimClock.begin` the clock reads ``start``; then it runs ``speed * 60`` times faster than
real time until ``horizon`` simulated seconds have passed, and at real speed after that: the simulated
retailer has gone quiet, and a hub left serving its UI ages like any hub (its API cost budget refills,
open steps come due on real time). While :meth:`hold` is on for any reason (the simulated vendors cannot
deliver as fast as the clock asks, or the hub's normalizer is behind), the clock stands still, so the hub never
sees time pass that its senders or its normalizer could not keep up with: ``speed`` is a ceiling, not a promise.
Calling the clock returns epoch seconds, as ``hub.app.create_app`` expects.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class SimClock:
    """Epoch seconds on the simulated timeline; ``real`` (a monotonic clock) is injectable for tests."""

    def __init__(self, start: float, speed: float, horizon: float,
                 real: Callable[[], float] = time.monotonic) -> None:
        if speed <= 0 or horizon <= 0:
            raise ValueError("speed and horizon must be positive")
        self.start = start
        self.factor = speed * 60.0  # simulated seconds per real second
        self.horizon = horizon
        self._real = real
        self._last: float | None = None
        self._elapsed = 0.0  # simulated seconds since start
        self._holds: set[str] = set()  # why the clock stands still now (none: it runs)
        self.held_seconds = 0.0  # real seconds spent on hold

    def begin(self) -> None:
        """Start the clock running (the servers are up)."""
        self._last = self._real()

    def hold(self, on: bool, reason: str = "senders") -> None:
        """Stop (True) or restart (False) the clock for ``reason``; it runs again once no reason holds it. Time
        held is not made up later."""
        self()
        if on:
            self._holds.add(reason)
        else:
            self._holds.discard(reason)

    def __call__(self) -> float:
        if self._last is None:
            return self.start
        real = self._real()
        passed, self._last = max(0.0, real - self._last), real
        if self._holds:
            self.held_seconds += passed
            return self.start + self._elapsed
        if self._elapsed < self.horizon:
            fast = min(passed * self.factor, self.horizon - self._elapsed)
            self._elapsed += fast
            passed -= fast / self.factor
        if self._elapsed >= self.horizon:
            self._elapsed += passed
        return self.start + self._elapsed

    @property
    def end(self) -> float:
        """The simulated moment at which the fast part ends."""
        return self.start + self.horizon

    def real_seconds_until(self, moment: float) -> float:
        """Real seconds until the clock reads ``moment`` if it is not held (0 when it already has)."""
        now = self()
        if moment <= now:
            return 0.0
        fast = max(0.0, min(moment, self.end) - now) / self.factor
        return fast + max(0.0, moment - max(now, self.end))
