"""Which database a read goes to when ``[store] read_url`` names a PostgreSQL replica: read-your-writes per caller.

Only reads made for a caller go to the replica: the HTTP layer names the caller of each request
(:func:`reading_as`: its API key or UI session, hashed) and :meth:`hub.store.Store.read` asks :meth:`Freshness.
replica` whether that caller may read there. Everything else — the worker's duties, key, session and health
checks, the CLI — reads the primary, so no decision is ever taken on a replica's older state.

Read-your-writes, chosen because a replica's lag is unknown to the hub and a fake "replica" in tests has none to ask:

- **a window after the caller's own write**: a write transaction opened for the caller (a mutation, a form post)
  or a POST of theirs outside GraphQL (``/ingest``, whose rows are written by the inbox's own task) marks it
  fresh; for ``fresh_seconds`` after that every read of theirs goes to the primary. Set it above the replica's
  worst lag (``pg_stat_replication.replay_lag``).
- **a ref the replica does not know yet**: :func:`hub.store.trace.find_trace` asks the primary for a trace the
  replica does not have and marks the caller fresh, so the rest of that page or query reads the primary too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_caller: ContextVar[str | None] = ContextVar("crosstrace_reader", default=None)
_PRUNE_ABOVE = 1000


@contextmanager
def reading_as(caller: str | None) -> Iterator[None]:
    """Reads and writes in this block are made for ``caller`` (None: nobody's, so the primary)."""
    token = _caller.set(caller)
    try:
        yield
    finally:
        _caller.reset(token)


class Freshness:
    """Callers who wrote within the last ``seconds`` (monotonic clock): their reads stay on the primary."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._until: dict[str, float] = {}

    def wrote(self) -> None:
        """The current caller just wrote (or saw the replica miss something): primary for ``seconds``."""
        caller = _caller.get()
        if caller is None:
            return
        now = self._clock()
        if len(self._until) > _PRUNE_ABOVE:
            self._until = {c: until for c, until in self._until.items() if until > now}
        self._until[caller] = now + self.seconds

    def replica(self) -> bool:
        """May the current read go to the replica: made for a caller who has not written lately."""
        caller = _caller.get()
        return caller is not None and self._until.get(caller, 0.0) <= self._clock()
