"""Two transactions side by side (Jaeger's trace comparison): their flow's steps aligned, then the event types outside
the flow, each with when it happened on either side, its lag from the step before, and where the two diverge.

A slow order against a normal one of the same flow: the first step where one is done and the other is not, or where
one took much longer, is where to look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hub.config import Config
from hub.exceptions.flows import transaction_steps

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
    status for the step (pending, overdue, waiting, skipped) or ``missing`` for an event type it never had."""

    status: str
    at: datetime | None = None
    source: str | None = None
    lag_seconds: float | None = None


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


def compare(config: Config, kind_a: str, events_a: Sequence[_Reported], kind_b: str,
            events_b: Sequence[_Reported], now: datetime) -> Comparison:
    """Align ``a`` and ``b`` (each in timeline order) step by step."""
    rows: list[ComparedStep] = []
    flow = config.flows.get(kind_a) if kind_a == kind_b else None
    covered: set[str] = set()
    if flow is not None:
        covered = {t for step in flow.steps for t in step.types}
        states_a = transaction_steps(config, kind_a, events_a, now)
        states_b = transaction_steps(config, kind_b, events_b, now)
        for sa, sb in zip(states_a, states_b, strict=True):
            rows.append(_row(sa.name, "step", Side(sa.status, sa.done_at, sa.done_by, sa.lag_seconds),
                             Side(sb.status, sb.done_at, sb.done_by, sb.lag_seconds)))
    firsts_a, firsts_b = _first_of_each_type(events_a), _first_of_each_type(events_b)
    extra = sorted((set(firsts_a) | set(firsts_b)) - covered,
                   key=lambda t: (firsts_a[t][0] if t in firsts_a else firsts_b[t][0], t))
    for event_type in extra:
        rows.append(_row(event_type, "event", firsts_a.get(event_type, (None, Side("missing")))[1],
                         firsts_b.get(event_type, (None, Side("missing")))[1]))
    differences = [r for r in rows if r.lag_difference_seconds is not None]
    largest = max(differences, key=lambda r: abs(r.lag_difference_seconds or 0), default=None)
    return Comparison(rows, flow is not None, next((r.name for r in rows if r.diverges), None),
                      largest.name if largest is not None and largest.lag_difference_seconds else None)


def _first_of_each_type(events: Sequence[_Reported]) -> dict[str, tuple[datetime, Side]]:
    """Each event type's first occurrence, with its lag from the event before it on the same timeline."""
    firsts: dict[str, tuple[datetime, Side]] = {}
    previous: datetime | None = None
    for event in sorted(events, key=lambda e: (e.occurred_at, e.id)):
        if event.type not in firsts:
            lag = (event.occurred_at - previous).total_seconds() if previous is not None else None
            firsts[event.type] = (event.occurred_at, Side("done", event.occurred_at, event.source, lag))
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
