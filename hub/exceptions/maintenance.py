"""Maintenance windows (issue 17 item 5): a source (or the ERP) under announced maintenance pauses the SLA clocks
of the steps it owes and its silence and volume alerts, for the window.

Windows come from the config (``[[maintenance]] source, from, until, reason``) and from operators (GraphQL
``scheduleMaintenance`` / ``endMaintenance``, the CLI ``crosstrace maintenance``), kept in the store. A paused clock
resumes where it stopped: a step owed by the source falls due later by the time its window overlapped the step's
SLA (:func:`shifted_due`, used by :mod:`hub.exceptions.flows`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.errors import ConfigError
from hub.ids import new_id
from hub.model import as_utc
from hub.store import Connection
from hub.store import maintenance as stored

MAX_SPAN = timedelta(days=14)
LOOK_BACK = timedelta(days=30)  # windows that ended longer ago than this no longer shift any due step

Paused = Mapping[str, list[tuple[datetime, datetime]]]  # source → its windows (start, end), merged and sorted


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    id: str
    source: str
    starts_at: datetime
    ends_at: datetime
    reason: str | None = None
    created_by: str = "config"

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


def _moment(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise ConfigError(f"{where} = {value!r}: give a date and time, e.g. 2026-12-06T22:00:00Z")


def maintenance_from_config(items: list[Any], sources: Sequence[str]) -> tuple[MaintenanceWindow, ...]:
    """``[[maintenance]]``: ``source``, ``from``, ``until`` (TOML date-times, UTC unless an offset is given),
    optional ``reason``."""
    windows = []
    for index, item in enumerate(items):
        where = f"maintenance[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where} must be a table ([[maintenance]])")
        unknown = set(item) - {"source", "from", "until", "reason"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}: expected source, from, until, reason")
        source = item.get("source")
        if source not in sources:
            raise ConfigError(f"{where}.source = {source!r} is not a configured source (one of {sorted(sources)})")
        starts, ends = _moment(item.get("from"), f"{where}.from"), _moment(item.get("until"), f"{where}.until")
        if ends <= starts:
            raise ConfigError(f"{where}: until must be after from")
        reason = item.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise ConfigError(f"{where}.reason must be text")
        windows.append(MaintenanceWindow(f"config-{index}", source, starts, ends, reason))
    return tuple(windows)


def _of_row(row: Any) -> MaintenanceWindow:
    return MaintenanceWindow(row.id, row.source, row.starts_at, row.ends_at, row.reason, row.created_by)


async def windows(conn: Connection, config: Any, after: datetime) -> list[MaintenanceWindow]:
    """The configured and announced windows that end after ``after``, by start."""
    found = [w for w in getattr(config, "maintenance", ()) if w.ends_at > after]
    found += [_of_row(row) for row in await stored.ending_after(conn, after)]
    return sorted(found, key=lambda w: (w.starts_at, w.id))


async def paused_at(conn: Connection, config: Any, now: datetime) -> dict[str, list[tuple[datetime, datetime]]]:
    """The windows that can still shift a step due around ``now``, merged per source (:func:`paused`)."""
    return paused(await windows(conn, config, now - LOOK_BACK))


def paused(found: Sequence[MaintenanceWindow]) -> dict[str, list[tuple[datetime, datetime]]]:
    """Per source, its windows merged where they overlap, by start."""
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for window in sorted(found, key=lambda w: w.starts_at):
        merged = spans[window.source]
        if merged and window.starts_at <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], window.ends_at))
        else:
            merged.append((window.starts_at, window.ends_at))
    return dict(spans)


def shifted_due(start: datetime, sla: timedelta, spans: Sequence[tuple[datetime, datetime]]) -> datetime:
    """When a clock started at ``start`` has run ``sla``, not running during ``spans`` (merged, sorted)."""
    due = start + sla
    for begin, end in spans:
        if end <= start:
            continue
        if begin >= due:
            break
        due += end - max(begin, start)
    return due


async def schedule(conn: Connection, config: Any, source: str, starts_at: datetime, ends_at: datetime,
                   reason: str | None, actor: str, now: datetime) -> MaintenanceWindow:
    """Announce a window; ``ValueError`` saying what is wrong (unknown source, ends before it starts or in the
    past, longer than :data:`MAX_SPAN`)."""
    starts_at, ends_at = as_utc(starts_at), as_utc(ends_at)
    if source not in config.sources:
        raise ValueError(f"{source!r} is not a configured source (one of {sorted(config.sources)})")
    if ends_at <= starts_at:
        raise ValueError("`until` must be after `from`")
    if ends_at <= now:
        raise ValueError("the window has already ended")
    if ends_at - starts_at > MAX_SPAN:
        raise ValueError(f"a window may last at most {MAX_SPAN.days} days")
    window = MaintenanceWindow(new_id("mnt"), source, starts_at, ends_at, (reason or "").strip()[:500] or None, actor)
    await stored.add(conn, {"id": window.id, "source": source, "starts_at": starts_at, "ends_at": ends_at,
                            "reason": window.reason, "created_by": actor, "created_at": now})
    return window


async def end(conn: Connection, window_id: str, now: datetime) -> MaintenanceWindow | None:
    """End an announced window now (a configured one ends when the config says); None when there is none."""
    row = await stored.end(conn, window_id, now)
    return _of_row(row) if row is not None else None
