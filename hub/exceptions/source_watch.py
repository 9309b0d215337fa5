"""Alerts that notice silence and drift (issue 17 item 5), per source: ``[[sources]] watch = { … }``.

- ``quiet_minutes = 90`` (or ``"learn"``): a source whose newest delivery is older than that raises
  ``source_silent``; it resolves itself when deliveries resume. Learned: 1.5 × the longest run of hours without a
  delivery in the 7 days up to its newest one (plus the hour that ended it), at least one hour; a source seen in
  fewer than 24 distinct hours of those 7 days has taught nothing yet and is not watched. A source that never
  sent anything is not silent (it has not started).
- ``volume_factor = 3``: each event type's count in the last complete hour against the mean of the same hour in
  the previous ``volume_weeks`` weeks (default 4): below mean / factor raises ``volume_drop``, above mean × factor
  ``volume_surge`` (subject ``<source>:<type>``); only when that mean is at least ``volume_min`` (default 10), so a
  quiet type never pages. Each resolves when the next complete hour is back within the band.

Measured on the hub's clock by the alert loop (:class:`hub.exceptions.alerts.AlertEvaluator`), each one a few
index range reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.errors import ConfigError
from hub.exceptions.lifecycle import Changes, Finding, clear_exception, raise_exception
from hub.store import Connection
from hub.store import source_activity as activity

LEARN = "learn"
LEARN_DAYS = 7
MIN_LEARNED_HOURS = 24
_KEYS = {"quiet_minutes", "volume_factor", "volume_weeks", "volume_min"}


@dataclass(frozen=True, slots=True)
class Watch:
    """What to watch on one source: silence (minutes, or learned) and hourly volume drift."""

    quiet_minutes: int | None = None
    learn_quiet: bool = False
    volume_factor: float | None = None
    volume_weeks: int = 4
    volume_min: float = 10.0


def parse_watch(raw: Any, where: str) -> Watch | None:
    """``watch = { quiet_minutes = 90 | "learn", volume_factor = 3, volume_weeks = 4, volume_min = 10 }``."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}.watch must be a table, e.g. {{ quiet_minutes = 90, volume_factor = 3 }}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ConfigError(f"{where}.watch: unknown key {sorted(unknown)[0]!r}: expected one of {sorted(_KEYS)}")
    quiet = raw.get("quiet_minutes")
    if quiet is not None and quiet != LEARN and (not isinstance(quiet, int) or isinstance(quiet, bool) or quiet <= 0):
        raise ConfigError(f"{where}.watch.quiet_minutes = {quiet!r}: give minutes (e.g. 90) or \"learn\"")
    factor = raw.get("volume_factor")
    if factor is not None and (not isinstance(factor, int | float) or isinstance(factor, bool) or factor <= 1):
        raise ConfigError(f"{where}.watch.volume_factor = {factor!r}: a number above 1, e.g. 3 (a third or thrice)")
    weeks = raw.get("volume_weeks", 4)
    if not isinstance(weeks, int) or isinstance(weeks, bool) or not 1 <= weeks <= 12:
        raise ConfigError(f"{where}.watch.volume_weeks = {weeks!r}: whole weeks from 1 to 12")
    minimum = raw.get("volume_min", 10)
    if not isinstance(minimum, int | float) or isinstance(minimum, bool) or minimum < 0:
        raise ConfigError(f"{where}.watch.volume_min = {minimum!r}: a non-negative number of events per hour")
    return Watch(quiet_minutes=quiet if isinstance(quiet, int) else None, learn_quiet=quiet == LEARN,
                 volume_factor=float(factor) if factor is not None else None, volume_weeks=weeks,
                 volume_min=float(minimum))


def learned_quiet(per_hour: Mapping[int, int], since_hour: int, until_hour: int) -> timedelta | None:
    """1.5 × (the longest run of empty hours in ``[since_hour, until_hour)`` + 1), at least an hour; None when
    deliveries came in fewer than :data:`MIN_LEARNED_HOURS` distinct hours."""
    if sum(1 for n in per_hour.values() if n) < MIN_LEARNED_HOURS:
        return None
    longest = run = 0
    for hour in range(since_hour, until_hour):
        run = 0 if per_hour.get(hour) else run + 1
        longest = max(longest, run)
    return max(timedelta(hours=1), timedelta(hours=1.5 * (longest + 1)))


def _hour(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp()) // 3600


async def quiet_time(conn: Connection, source: str, watch: Watch, last: datetime) -> timedelta | None:
    """The source's allowed quiet time: configured, or learned from the 7 days up to its newest delivery ``last``
    (the silence under way teaches nothing); None: not watched."""
    if watch.quiet_minutes is not None:
        return timedelta(minutes=watch.quiet_minutes)
    if not watch.learn_quiet:
        return None
    until = last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    since = until - timedelta(days=LEARN_DAYS)
    return learned_quiet(await activity.deliveries_per_hour(conn, source, since, until), _hour(since), _hour(until))


async def silence_findings(conn: Connection, source: str, kind: str | None, watch: Watch, now: datetime,
                           spans: Sequence[tuple[datetime, datetime]] = ()) -> tuple[list[Finding], list[str]]:
    """(the source_silent finding to raise, or the subjects to clear); ``spans``: the source's maintenance
    windows, during which silence is expected (its quiet time counts from the end of one)."""
    last = await activity.last_delivery(conn, source)
    quiet = await quiet_time(conn, source, watch, last) if last is not None else None
    if last is not None and any(begin <= now < end for begin, end in spans):
        return [], [source]  # under maintenance: silence is announced, not alarming
    quiet_since = max([last, *(end for begin, end in spans if last is not None and begin <= now and end > last)],
                      default=last) if last is not None else None
    if quiet is None or last is None or quiet_since is None or now - quiet_since <= quiet:
        return [], [source]
    minutes = (now - last).total_seconds() / 60
    return [Finding(
        rule="source.silent", type="source_silent", severity="error", subject=source, system=source,
        system_kind=kind, message=f"{source} has sent nothing since {last:%Y-%m-%d %H:%M} UTC ({minutes:.0f} min; "
                                  f"quiet time {quiet.total_seconds() / 60:.0f} min"
                                  f"{', learned' if watch.learn_quiet else ''})",
        evidence={"last_delivery": last.isoformat(), "quiet_minutes": quiet.total_seconds() / 60,
                  "learned": watch.learn_quiet, "expected": f"a delivery within {quiet.total_seconds() / 60:.0f} min",
                  "actual": f"nothing since {last.isoformat()}"})], []  # stable while silent: no churn each tick


async def volume_findings(conn: Connection, source: str, kind: str | None, watch: Watch, now: datetime,
                          spans: Sequence[tuple[datetime, datetime]] = ()) -> tuple[list[Finding], list[str]]:
    """(volume_drop / volume_surge findings for the last complete hour, the subjects back within the band); an
    hour that overlapped a maintenance window of the source is not judged."""
    if watch.volume_factor is None:
        return [], []
    until = now.replace(minute=0, second=0, microsecond=0)
    since = until - timedelta(hours=1)
    if any(begin < until and end > since for begin, end in spans):
        return [], []
    current = await activity.events_per_type(conn, source, since, until)
    history = [await activity.events_per_type(conn, source, since - timedelta(weeks=w), until - timedelta(weeks=w))
               for w in range(1, watch.volume_weeks + 1)]
    found, fine = [], []
    for type_ in sorted({t for counts in (current, *history) for t in counts}):
        baseline = sum(h.get(type_, 0) for h in history) / watch.volume_weeks
        value = current.get(type_, 0)
        subject = f"{source}:{type_}"
        low, high = baseline / watch.volume_factor, baseline * watch.volume_factor
        if baseline < watch.volume_min or low <= value <= high:
            fine.append(subject)
            continue
        direction = "drop" if value < low else "surge"
        found.append(Finding(
            rule=f"volume.{direction}", type=f"volume_{direction}", severity="warning", subject=subject,
            system=source, system_kind=kind,
            message=f"{source} sent {value} {type_} between {since:%H:%M} and {until:%H:%M} UTC; the same hour of "
                    f"the previous {watch.volume_weeks} weeks averaged {baseline:g}",
            evidence={"type": type_, "hour": {"from": since.isoformat(), "to": until.isoformat()}, "value": value,
                      "baseline": baseline, "weeks": [h.get(type_, 0) for h in history],
                      "factor": watch.volume_factor, "expected": f"{low:g} to {high:g}", "actual": value}))
    return found, fine


async def watch_sources(conn: Connection, sources: Sequence[Any], now: datetime, routing: Sequence[Any],
                        changes: Changes, paused: Mapping[str, Sequence[tuple[datetime, datetime]]] | None = None
                        ) -> None:
    """Raise or clear every watched source's silence and volume exceptions at ``now`` (``paused``: maintenance
    windows per source, hub.exceptions.maintenance)."""
    for source in sources:
        watch = getattr(source, "watch", None)
        if watch is None:
            continue
        spans = (paused or {}).get(source.name, [])
        for measure, rules in ((silence_findings, ("source.silent",)),
                               (volume_findings, ("volume.drop", "volume.surge"))):
            found, fine = await measure(conn, source.name, source.kind, watch, now, spans)
            for finding in found:
                await raise_exception(conn, finding, routing=routing, changes=changes, now=now)
                for rule in rules:  # a drop that became a surge: the other direction is over
                    if rule != finding.rule:
                        await clear_exception(conn, rule=rule, subject=finding.subject, changes=changes, now=now,
                                              note="the volume is now on the other side of the band")
            for subject in fine:
                for rule in rules:
                    await clear_exception(conn, rule=rule, subject=subject, changes=changes, now=now,
                                          note="deliveries resumed" if rule == "source.silent"
                                          else "back within the band of previous weeks")
