"""Retention: raw deliveries and events older than ``[retention]`` days (per source) are purged.

Transactions keep their summary (kind, first/last time, event count, systems) and their identity refs
(``ref_keys``), so a bookmarked order still resolves; only the raw bodies, the events and the refs
those events stated go. Pending deliveries (not yet normalized) are never purged, except in a PostgreSQL partition
dropped whole (older than every window): they are dead-lettered and counted first. Off by default; on PostgreSQL
the duty also creates the monthly partitions ahead (hub/store/partitions.py), retention or not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.access import audit
from hub.correlation.unlinked import flag_unlinked
from hub.errors import ConfigError
from hub.exceptions.lifecycle import Changes
from hub.ingest.isolate import isolate
from hub.periodic import Heartbeats, Periodic
from hub.store import Store, describe
from hub.store.partitions import create_ahead
from hub.store.retention import Dropped, drop_partitions, purge_source, sources_with_data

log = logging.getLogger("crosstrace.retention")


@dataclass(frozen=True, slots=True)
class Retention:
    """Days to keep per source; ``default_days`` for sources not listed; None everywhere means keep forever."""

    default_days: int | None = None
    sources: dict[str, int] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.default_days is not None or bool(self.sources)

    def days_for(self, source: str) -> int | None:
        return self.sources.get(source, self.default_days)


def parse_retention(table: dict[str, Any]) -> Retention:
    """``[retention] default_days = 90`` and ``sources = { shop = 30 }``; ConfigError names a wrong key."""
    unknown = set(table) - {"default_days", "sources"}
    if unknown:
        raise ConfigError(f"retention: unknown key {sorted(unknown)[0]!r}: expected default_days or sources")
    default = table.get("default_days")
    if default is not None and (not isinstance(default, int) or isinstance(default, bool) or default <= 0):
        raise ConfigError(f"retention.default_days must be a positive number of days (got {default!r})")
    sources = table.get("sources", {})
    if not isinstance(sources, dict):
        raise ConfigError("retention.sources must map source names to days, e.g. { shop = 30 }")
    for name, days in sources.items():
        if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
            raise ConfigError(f"retention.sources.{name} must be a positive number of days (got {days!r})")
    return Retention(default_days=default, sources=dict(sources))


@dataclass(frozen=True, slots=True)
class PurgeReport:
    deliveries: int
    events: int
    partitions: tuple[str, ...] = ()  # PostgreSQL: the monthly partitions dropped whole
    dead_lettered: int = 0  # pending deliveries in those partitions


async def purge(store: Store, retention: Retention, now: datetime, *, actor: str = "system") -> PurgeReport:
    """Delete what is older than each source's retention; one write transaction, recorded in the audit log.

    On PostgreSQL the monthly partitions are created ahead first, and those older than the longest window (when
    every source with data has one) are dropped whole (:func:`manage_partitions`). A source whose purge fails (e.g. a
    retention so long its cutoff is before year 1) is logged and left out; the other sources are purged all the
    same (hub.ingest.isolate)."""
    with_data: list[str] = []
    if retention.enabled:
        async with store.read() as conn:
            with_data = await sources_with_data(conn)
    dropped = None
    if store.dialect == "postgresql":
        try:
            dropped = await manage_partitions(store, retention, with_data, now, actor)
        except Exception as exc:  # noqa: BLE001 - logged; the sources' DELETE below runs all the same
            log.error("retention: partitions not managed this time: %s", describe(exc), exc_info=exc)
    if not retention.enabled:
        return PurgeReport(0, 0)
    sources = [source for source in with_data if retention.days_for(source) is not None]
    gone = [dropped.deliveries, dropped.events] if dropped else [0, 0]  # deliveries, events

    async def purge_sources(names: Sequence[str]) -> None:
        gone_deliveries = gone_events = 0
        unlinked_keys: set[tuple[str, str]] = set()
        async with store.write() as conn:
            for source in names:
                cutoff = now - timedelta(days=retention.days_for(source) or 0)
                purged = await purge_source(conn, source, cutoff)
                unlinked_keys |= purged.unlinked  # their unlinked counts drop
                gone_events += purged.events
                gone_deliveries += purged.deliveries
            if unlinked_keys:
                await flag_unlinked(conn, unlinked_keys, source_kinds={}, routing=(), changes=Changes())
            if gone_deliveries or gone_events:
                await audit.record(conn, actor=actor, role="admin", action="purge", at=now,
                                   detail={"deliveries": gone_deliveries, "events": gone_events})
        gone[0] += gone_deliveries
        gone[1] += gone_events

    async def failed(source: str, exc: Exception) -> None:
        log.error("retention: purging %s failed, skipped: %s", source, describe(exc), exc_info=exc)

    await isolate(sources, purge_sources, failed)
    if dropped is None:
        return PurgeReport(gone[0], gone[1])
    return PurgeReport(gone[0], gone[1], tuple(dropped.partitions), dropped.dead_lettered)


async def manage_partitions(store: Store, retention: Retention, sources: Sequence[str], now: datetime,
                            actor: str) -> Dropped:
    """PostgreSQL: create the months ahead, then drop the partitions older than the longest window of the
    ``sources`` with data (none while one of them is kept forever), in one write recorded in the audit log."""
    windows = [retention.days_for(source) for source in sources]
    async with store.write() as conn:
        created = await create_ahead(conn, now)
        if created:
            log.info("retention: created partitions %s", ", ".join(created))
        cutoff = _cutoff(now, windows)
        if cutoff is None:
            return Dropped([], 0, 0, 0, set())
        dropped = await drop_partitions(conn, cutoff, now)
        if dropped.unlinked:
            await flag_unlinked(conn, dropped.unlinked, source_kinds={}, routing=(), changes=Changes())
        if dropped.partitions:
            await audit.record(conn, actor=actor, role="admin", action="purge", at=now, detail={
                "partitions": dropped.partitions, "deliveries": dropped.deliveries, "events": dropped.events,
                "dead_lettered": dropped.dead_lettered})
    if dropped.dead_lettered:
        log.warning("retention: %d deliveries still pending in dropped partitions %s were dead-lettered and dropped",
                    dropped.dead_lettered, ", ".join(dropped.partitions))
    return dropped


def _cutoff(now: datetime, windows: Sequence[int | None]) -> datetime | None:
    """Before when every source's data may go (None: a source keeps its data forever, or no window reaches back
    to a date)."""
    if not windows or None in windows:
        return None
    try:
        return now - timedelta(days=max(w for w in windows if w))
    except OverflowError:
        return None


class Housekeeper:
    """Runs :func:`purge` every ``interval`` seconds with the app's clock (tests call :meth:`run_once`)."""

    def __init__(self, store: Store, retention: Retention, now: Callable[[], datetime]) -> None:
        self._store, self._retention, self._now = store, retention, now
        self._purger = Periodic("crosstrace-retention", self._step, log)

    async def run_once(self) -> PurgeReport:
        return await purge(self._store, self._retention, self._now())

    def start(self, interval: float, heartbeats: Heartbeats | None = None,
              gate: Callable[[], bool] | None = None) -> None:
        if self._retention.enabled or self._store.dialect == "postgresql":  # PostgreSQL: partitions ahead
            self._purger.start(interval, wait_first=True, heartbeats=heartbeats, gate=gate)

    async def stop(self) -> None:
        await self._purger.stop()

    async def _step(self) -> bool:
        await self.run_once()
        return False
