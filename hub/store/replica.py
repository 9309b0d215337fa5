"""Which database a read goes to when ``[store] read_url`` names a PostgreSQL replica: read-your-writes per caller.

Only reads made for a caller go to the replica: the HTTP layer names the caller of each request
(:func:`reading_as`: its API key or UI session, hashed) and :meth:`hub.store.Store.read` asks :meth:`Freshness.
replica` whether that caller may read there. Everything else — the worker's duties, key, session and health
checks, the CLI — reads the primary, so no decision is ever taken on a replica's older state.

Read-your-writes, chosen because a replica's lag is unknown to the hub and a fake "replica" in tests has none to ask:

- **a window after the caller's own write, on every process**: a write transaction opened for the caller (a
  mutation, a form post) or a POST of theirs outside GraphQL (``/ingest``, whose rows are written by the inbox's
  own task) marks it fresh; for ``fresh_seconds`` after that every read of theirs goes to the primary. The mark is
  kept twice: in this process (a request right behind the write asks nothing), and in the primary's
  ``caller_writes`` table (:mod:`hub.store.caller_writes`), which a process that did not see the write asks once
  per request — in the same statement as the GraphQL cost-budget take, else in one lookup before the request's
  first read for the replica. A caller load-balanced across receivers thus reads its own writes wherever its next
  request lands. Set ``fresh_seconds`` above the replica's worst lag (``pg_stat_replication.replay_lag``).
- **a ref the replica does not know yet**: :func:`hub.store.trace.find_trace` asks the primary for a trace the
  replica does not have and marks the caller fresh in this process, so the rest of that page or query reads the
  primary too.

Not an LSN comparison (``pg_current_wal_lsn()`` at the write against the replica's ``pg_last_wal_replay_lsn()``):
it would cost a statement on the replica per request as well as the mark, and ``pg_last_wal_replay_lsn()`` is NULL
on a server that is not a standby, which would need the time window anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

_PRUNE_ABOVE = 1000
FORGET_EVERY = 600.0  # seconds between deletions of stale ``caller_writes`` rows (per process)


@dataclass(slots=True)
class _Reader:
    """The caller of the current request, and what the primary said of its last write (None: not asked yet)."""

    caller: str
    wrote_lately: bool | None = None


_reader: ContextVar[_Reader | None] = ContextVar("crosstrace_reader", default=None)


@contextmanager
def reading_as(caller: str | None) -> Iterator[None]:
    """Reads and writes in this block are made for ``caller`` (None: nobody's, so the primary)."""
    token = _reader.set(_Reader(caller) if caller is not None else None)
    try:
        yield
    finally:
        _reader.reset(token)


def current_caller() -> str | None:
    """Who the current reads and writes are made for."""
    reader = _reader.get()
    return reader.caller if reader is not None else None


class Freshness:
    """Callers who wrote within the last ``seconds``: this process's marks (monotonic clock), and what the primary's
    ``caller_writes`` said for the current request. Their reads stay on the primary."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._until: dict[str, float] = {}
        self._forgot_at = clock()

    def wrote(self) -> str | None:
        """The current caller just wrote (or saw the replica miss something): primary for ``seconds``. The caller,
        or None for nobody's write."""
        reader = _reader.get()
        if reader is None:
            return None
        now = self._clock()
        if len(self._until) > _PRUNE_ABOVE:
            self._until = {c: until for c, until in self._until.items() if until > now}
        self._until[reader.caller] = now + self.seconds
        reader.wrote_lately = True
        return reader.caller

    def learned(self, wrote_lately: bool) -> None:
        """What the primary says of the current caller's last write (any process's), for the rest of the request."""
        reader = _reader.get()
        if reader is not None and not reader.wrote_lately:
            reader.wrote_lately = wrote_lately

    def replica(self) -> bool | None:
        """May the current read go to the replica: False for nobody's read or a caller who wrote lately; None when
        only the primary's ``caller_writes`` can tell (:meth:`learned`)."""
        reader = _reader.get()
        if reader is None or self._until.get(reader.caller, 0.0) > self._clock():
            return False
        return None if reader.wrote_lately is None else not reader.wrote_lately

    def forget_due(self) -> bool:
        """Time to delete the primary's stale marks (once every :data:`FORGET_EVERY` seconds per process)."""
        if self._clock() - self._forgot_at < FORGET_EVERY:
            return False
        self._forgot_at = self._clock()
        return True
