"""Alert rules over time windows (config ``[[alerts]]``): each breach opens an exception of its own.

Three metrics, each measured over the last ``window_minutes`` by the hub's clock:

- ``events``: events of ``type`` (optionally from ``source``) that occurred in the window, ``above`` a count;
- ``lag_p<N>`` (``lag_p90``): the N-th percentile of the lag from ``from_source``'s first event of a
  transaction to ``to_source``'s event, over ``to_source`` events that occurred in the window, ``above_minutes``;
- ``dead_letters``: deliveries (optionally from ``source``) received in the window and dead-lettered.

Events are windowed by when they occurred (the source's clock), so a replay or a poller catching up on
old events does not fire an alert; dead letters by when we received them (a delivery has no other time).

Promise: every measure is one range read on an index bounded by the window (never a scan of the whole
table). A breach opens (or reopens) the exception ``alert.<name>`` with the window, the threshold and the
measured value as evidence; it is refreshed only when the value changes, and resolves itself when the
window clears.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.config import Config
from hub.exceptions import maintenance
from hub.exceptions.alert_rules import AlertRule
from hub.exceptions.broadcast import Broadcaster
from hub.exceptions.escalation import escalate_due
from hub.exceptions.lifecycle import Changes, Finding, auto_resolve, raise_exception
from hub.exceptions.source_watch import watch_sources
from hub.ingest.isolate import isolate
from hub.periodic import Heartbeats, Periodic
from hub.store import Connection, Store, describe, exception_rows
from hub.store import alerts as windows

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Measure:
    value: float | None  # None: nothing to measure in the window (a lag with no samples)
    samples: int


async def measure(conn: Connection, rule: AlertRule, now: datetime, all_sources: Sequence[str] = ()) -> Measure:
    """The rule's value over ``(now - window, now]``: bounded range reads on indexes only."""
    if rule.percentile is None:
        count = await windows.count_in_window(conn, rule, now, all_sources)
        return Measure(float(count), count)
    reached = await windows.reached_in_window(conn, rule, now)
    lags = [max(0.0, (reached[tx_id] - started).total_seconds() / 60)
            for tx_id, started in await windows.first_occurred(conn, list(reached), rule.from_source, rule.from_type)]
    if not lags:
        return Measure(None, 0)
    lags.sort()
    rank = max(1, math.ceil((rule.percentile or 90) / 100 * len(lags)))  # nearest-rank percentile
    return Measure(round(lags[rank - 1], 2), len(lags))


def _finding(rule: AlertRule, value: Measure, now: datetime, kinds: dict[str, str]) -> Finding:
    start = now - timedelta(minutes=rule.window_minutes)
    unit = "minutes" if rule.percentile else rule.metric.replace("_", " ")
    system = rule.source or rule.to_source
    scope = {k: v for k, v in (("type", rule.type), ("source", rule.source), ("from_source", rule.from_source),
                               ("to_source", rule.to_source), ("from_type", rule.from_type),
                               ("to_type", rule.to_type)) if v}
    return Finding(
        rule=rule.rule, type="alert", severity=rule.severity, subject=rule.name, system=system,
        system_kind=kinds.get(system or ""),
        message=f"{rule.name}: {rule.metric} {value.value:g} {unit} in the last {rule.window_minutes} min "
                f"(threshold {rule.above:g})",
        evidence={"metric": rule.metric, **scope, "window_minutes": rule.window_minutes,
                  "window": {"from": start.isoformat(), "to": now.isoformat()}, "threshold": rule.above,
                  "value": value.value, "samples": value.samples, "unit": unit,
                  "expected": f"<= {rule.above:g}", "actual": value.value})


class AlertEvaluator:
    """Measures every alert rule on a timer (clock injected) and keeps its exception in step."""

    def __init__(self, store: Store, config: Config, clock: Callable[[], datetime],
                 broadcaster: Broadcaster | None = None) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._broadcaster = broadcaster
        self._kinds = {name: source.kind for name, source in config.sources.items()}
        self._sources = [*config.sources, "ingest"]
        self._loop = Periodic("crosstrace-alerts", self._step, log)

    @property
    def rules(self) -> tuple[AlertRule, ...]:
        return tuple(getattr(self._config, "alerts", ()))

    async def tick(self, now: datetime | None = None) -> dict[str, Measure]:
        """Measure every rule at ``now`` (default: the clock); open, refresh or resolve their exceptions.

        A rule that fails (its measure or its exception cannot be computed or written) is logged and left out
        of this tick; the other rules are measured and applied all the same (hub.ingest.isolate)."""
        at = now or self._clock()
        values: dict[str, Measure] = {}
        changes = Changes()

        async def apply(rules: Sequence[AlertRule]) -> None:
            async with self._store.read() as conn:
                measured = {rule.name: await measure(conn, rule, at, self._sources) for rule in rules}
            found = Changes()
            async with self._store.write() as conn:
                for rule in rules:
                    await self._apply(conn, rule, measured[rule.name], at, found)
            values.update(measured)
            changes.items.extend(found.items)

        async def failed(rule: AlertRule, exc: Exception) -> None:
            log.error("alert %s could not be evaluated, skipped this tick: %s", rule.name, describe(exc),
                      exc_info=exc)

        await isolate(self.rules, apply, failed)
        await self._watch(at, changes)
        if self._broadcaster is not None and changes.items:
            self._broadcaster.publish(changes.items)
        return values

    @property
    def watched(self) -> list[Any]:
        """Sources with ``watch`` (silence and volume drift: hub.exceptions.source_watch)."""
        return [source for source in self._config.sources.values() if getattr(source, "watch", None) is not None]

    async def _watch(self, at: datetime, changes: Changes) -> None:
        async def apply(sources: Sequence[Any]) -> None:
            found = Changes()
            async with self._store.write() as conn:
                stopped = await maintenance.paused_at(conn, self._config, at)
                await watch_sources(conn, sources, at, self._config.routing, found, stopped)
            changes.items.extend(found.items)

        async def failed(source: Any, exc: Exception) -> None:
            log.error("source watch on %s failed, skipped this tick: %s", source.name, describe(exc), exc_info=exc)

        await isolate(self.watched, apply, failed)
        escalation = getattr(self._config, "escalation", None)
        if escalation is not None and escalation.sla:
            found = Changes()
            async with self._store.write() as conn:
                await escalate_due(conn, escalation, at, found)
            changes.items.extend(found.items)

    async def _apply(self, conn: Connection, rule: AlertRule, value: Measure, now: datetime,
                     changes: Changes) -> None:
        key = f"{rule.rule}|{rule.name}"
        latest = await exception_rows.latest_by_key(conn, key)
        is_open = latest is not None and latest.status != "resolved"
        if value.value is not None and value.value > rule.above:
            if is_open and latest.evidence.get("value") == value.value:
                return  # same value: the moving window alone is no change worth a notification
            await raise_exception(conn, _finding(rule, value, now, self._kinds), routing=self._config.routing,
                                  changes=changes, existing=latest, now=now)
        elif is_open:
            shown = "nothing" if value.value is None else f"{value.value:g}"
            await auto_resolve(conn, latest, f"back within the threshold: {shown} <= {rule.above:g} over the last "
                                             f"{rule.window_minutes} min", changes=changes, now=now)

    def start(self, interval_seconds: float = 30.0, heartbeats: Heartbeats | None = None,
              gate: Callable[[], bool] | None = None) -> None:
        if self.rules or self.watched or getattr(self._config, "escalation", None) is not None:
            self._loop.start(interval_seconds, heartbeats=heartbeats, gate=gate)

    async def stop(self) -> None:
        await self._loop.stop()

    async def _step(self) -> bool:
        await self.tick()
        return False
