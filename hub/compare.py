"""Two transactions side by side (Jaeger's trace comparison): their flow's steps aligned, then the event types outside
the flow, each with when it happened on either side, its lag from the step before, and where the two diverge.

A slow order against a normal one of the same flow: the first step where one is done and the other is not, or where
one took much longer, is where to look.

Maintenance windows count as they do on the trace and the home page: the SLA clock of a step owed by a source under
maintenance stands still (a step is overdue only past its shifted due time), and the comparison lists the windows
that overlap either transaction's period, marking each side whose step ran while its source was under maintenance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from hub.config import Config
from hub.exceptions import maintenance
from hub.exceptions.flows import StepState, transaction_steps
from hub.exceptions.maintenance import MaintenanceWindow
from hub.store import Connection

Spans = Mapping[str, Sequence[tuple[datetime, datetime]]]  # source → its maintenance windows, merged
Period = tuple[datetime, datetime]  # a transaction's first event to its last (or to now)

SLOWER_RATIO = 2.0  # a lag more than twice the other side's…
SLOWER_SECONDS = 60.0  # …and at least this much longer diverges


class _Reported(Protocol):
    id: str
    type: str
    source: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Side:
    """One transaction on one aligned row: ``done`` (at, by source, lag from the row before), else the flow's
    status for the step (pending, overdue, waiting, skipped) or ``missing`` for an event type it never had.
    ``during_maintenance``: the time it took (from the row before to it, or to now while it is pending) overlapped a
    maintenance window of the source that did or owes it."""

    status: str
    at: datetime | None = None
    source: str | None = None
    lag_seconds: float | None = None
    during_maintenance: bool = False


@dataclass(frozen=True, slots=True)
class WindowOverlap:
    """A maintenance window that overlaps the compared periods; ``sides``: whose ("a", "b")."""

    window: MaintenanceWindow
    sides: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ComparedStep:
    name: str
    kind: str  # "step" (of the flow) or "event" (an event type outside it)
    a: Side
    b: Side
    lag_difference_seconds: float | None  # b's lag minus a's: positive when b was slower
    diverges: bool


@dataclass(frozen=True, slots=True)
class Comparison:
    steps: list[ComparedStep]
    same_flow: bool  # both of one kind with a configured flow: its steps come first
    diverges_at: str | None  # the first row that diverges
    largest_lag_difference: str | None  # the row where the lags differ most
    maintenance: tuple[WindowOverlap, ...] = ()  # the windows that overlap either transaction's period, by start


async def windows_for(conn: Connection, config: Config, events: Sequence[_Reported],
                      now: datetime) -> list[MaintenanceWindow]:
    """The maintenance windows a comparison of these events needs: those that end after the earliest of them (or
    after the look-back the SLA clocks use, if that is earlier)."""
    after = min([now - maintenance.LOOK_BACK, *(e.occurred_at for e in events)])
    return await maintenance.windows(conn, config, after)


def compare(config: Config, kind_a: str, events_a: Sequence[_Reported], kind_b: str,
            events_b: Sequence[_Reported], now: datetime,
            windows: Sequence[MaintenanceWindow] = ()) -> Comparison:
    """Align ``a`` and ``b`` (each in timeline order) step by step; ``windows``: maintenance windows
    (:func:`windows_for`), which pause SLA clocks as :func:`hub.exceptions.maintenance.paused_at` does."""
    rows: list[ComparedStep] = []
    flow = config.flows.get(kind_a) if kind_a == kind_b else None
    covered: set[str] = set()
    spans = maintenance.paused(windows)
    clocks = maintenance.paused([w for w in windows if w.ends_at > now - maintenance.LOOK_BACK])
    states_a = transaction_steps(config, kind_a, events_a, now, clocks)
    states_b = transaction_steps(config, kind_b, events_b, now, clocks)
    if flow is not None:
        covered = {t for step in flow.steps for t in step.types}
        for sa, sb in zip(states_a, states_b, strict=True):
            rows.append(_row(sa.name, "step", _step_side(sa, spans, now), _step_side(sb, spans, now)))
    firsts_a, firsts_b = _first_of_each_type(events_a, spans), _first_of_each_type(events_b, spans)
    extra = sorted((set(firsts_a) | set(firsts_b)) - covered,
                   key=lambda t: (firsts_a[t][0] if t in firsts_a else firsts_b[t][0], t))
    for event_type in extra:
        rows.append(_row(event_type, "event", firsts_a.get(event_type, (None, Side("missing")))[1],
                         firsts_b.get(event_type, (None, Side("missing")))[1]))
    differences = [r for r in rows if r.lag_difference_seconds is not None]
    largest = max(differences, key=lambda r: abs(r.lag_difference_seconds or 0), default=None)
    periods = {"a": _period(events_a, states_a, now), "b": _period(events_b, states_b, now)}
    return Comparison(rows, flow is not None, next((r.name for r in rows if r.diverges), None),
                      largest.name if largest is not None and largest.lag_difference_seconds else None,
                      _overlapping(windows, periods))


def _period(events: Sequence[_Reported], states: Sequence[StepState], now: datetime) -> Period | None:
    """A transaction's period: its first event to its last, or to now while a step of its flow is still open."""
    if not events:
        return None
    moments = [e.occurred_at for e in events]
    still_open = any(state.status in ("pending", "overdue") for state in states)
    return min(moments), now if still_open else max(moments)


def _overlapping(windows: Sequence[MaintenanceWindow],
                 periods: Mapping[str, Period | None]) -> tuple[WindowOverlap, ...]:
    found = []
    for window in sorted(windows, key=lambda w: (w.starts_at, w.id)):
        sides = tuple(side for side, period in periods.items()
                      if period is not None and window.starts_at < period[1] and window.ends_at > period[0])
        if sides:
            found.append(WindowOverlap(window, sides))
    return tuple(found)


def _overlaps(spans: Spans, source: str | None, begin: datetime | None, end: datetime | None) -> bool:
    """Whether ``source`` was under maintenance at some point from ``begin`` to ``end``."""
    if source is None or begin is None or end is None:
        return False
    return any(start < end and stop > begin for start, stop in spans.get(source, ()))


def _step_side(state: StepState, spans: Spans, now: datetime) -> Side:
    if state.status == "done":
        begin = state.done_at - timedelta(seconds=state.lag_seconds) \
            if state.done_at is not None and state.lag_seconds is not None else None
        during = _overlaps(spans, state.done_by, begin, state.done_at)
    else:
        during = _overlaps(spans, state.owed_by, state.since, now)
    return Side(state.status, state.done_at, state.done_by, state.lag_seconds, during)


def _first_of_each_type(events: Sequence[_Reported], spans: Spans) -> dict[str, tuple[datetime, Side]]:
    """Each event type's first occurrence, with its lag from the event before it on the same timeline."""
    firsts: dict[str, tuple[datetime, Side]] = {}
    previous: datetime | None = None
    for event in sorted(events, key=lambda e: (e.occurred_at, e.id)):
        if event.type not in firsts:
            lag = (event.occurred_at - previous).total_seconds() if previous is not None else None
            firsts[event.type] = (event.occurred_at, Side("done", event.occurred_at, event.source, lag,
                                                          _overlaps(spans, event.source, previous, event.occurred_at)))
        previous = event.occurred_at
    return firsts


def _row(name: str, kind: str, a: Side, b: Side) -> ComparedStep:
    difference = b.lag_seconds - a.lag_seconds if a.lag_seconds is not None and b.lag_seconds is not None else None
    return ComparedStep(name, kind, a, b, difference, a.status != b.status or _much_slower(a, b))


def _much_slower(a: Side, b: Side) -> bool:
    if a.lag_seconds is None or b.lag_seconds is None:
        return False
    fast, slow = sorted((abs(a.lag_seconds), abs(b.lag_seconds)))
    return slow - fast >= SLOWER_SECONDS and slow > fast * SLOWER_RATIO
