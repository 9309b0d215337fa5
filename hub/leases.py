"""Each periodic duty on exactly one hub process: this process's leases on its duties, kept renewed.

Duties (each poller, the evaluator tick with its stock divergence sweep, alerts, retention, the notifier) ask
:meth:`Leases.held` before each round and skip it when another process holds the duty. The keeper takes or renews
every duty's lease every ``renew_seconds``; a lease lasts ``lease_seconds``, so when its holder dies (no renewal)
another process takes the duty within ``lease_seconds + renew_seconds``. A process trusts its own lease only
until ``lease_seconds`` after it asked for it, on its monotonic clock: a keeper that cannot reach the store
stops running duties before anyone else may take them. Config::

    [cluster]
    lease_seconds = 15     # a dead holder's duties move after this
    claim_seconds = 30     # PostgreSQL: a dead worker's claimed deliveries move after this (hub/store/claims.py)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hub.config import positive_numbers
from hub.periodic import Heartbeats, Periodic
from hub.store import Store
from hub.store import leases as stored

log = logging.getLogger(__name__)
_KEYS = ("lease_seconds", "claim_seconds")


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    lease_seconds: float = 15.0
    claim_seconds: float = 30.0


def parse_cluster(table: dict[str, Any]) -> ClusterSettings:
    """Validate ``[cluster]``; a wrong key or value is a ConfigError naming it."""
    return ClusterSettings(**positive_numbers(table, "cluster", _KEYS))


def duties(polled: Iterable[str]) -> list[str]:
    """The lease names of every periodic duty: the evaluator (its tick includes the stock divergence sweep),
    alerts, retention, the notifier, and one per polled source."""
    return ["evaluator", "alerts", "retention", "notifier", *(f"poll:{source}" for source in sorted(polled))]


class Leases:
    """This process (``node``) and the duties it may run; :meth:`held` says whether it runs one now."""

    def __init__(self, store: Store, node: str, names: Iterable[str], *, lease_seconds: float = 15.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self._store = store
        self._names = sorted(set(names))
        self._seconds = lease_seconds
        self._clock = clock
        self._until: dict[str, float] = {}
        self._loop = Periodic("crosstrace-leases", self._step, log)

    def held(self, name: str) -> bool:
        return self._until.get(name, 0.0) > self._clock()

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def holding(self) -> list[str]:
        return [name for name in self._names if self.held(name)]

    async def renew(self) -> set[str]:
        """Take or renew every duty's lease now; returns those held."""
        asked = self._clock()
        got = await stored.take(self._store, self._names, self.node, self._seconds)
        for name in self._names:
            if name in got:
                if not self.held(name):
                    log.info("lease %s taken by %s", name, self.node)
                self._until[name] = asked + self._seconds
            elif self._until.pop(name, None) is not None:
                log.info("lease %s lost by %s", name, self.node)
        return got

    def start(self, heartbeats: Heartbeats | None = None) -> None:
        """Renew every third of a lease (the first renewal is the caller's: ``await renew()`` before duties start)."""
        if self._names:
            self._loop.start(self._seconds / 3, wait_first=True, heartbeats=heartbeats)

    async def stop(self) -> None:
        """Stop renewing and release what is held, so another process takes the duties at once."""
        await self._loop.stop()
        holding = self.holding()
        self._until.clear()
        try:
            await stored.release(self._store, holding, self.node)
        except Exception:  # noqa: BLE001 - stopping: the leases lapse on their own
            log.warning("could not release leases %s; they lapse in %gs", holding, self._seconds)

    async def _step(self) -> bool:
        await self.renew()
        return False
