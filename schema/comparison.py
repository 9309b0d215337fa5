"""``TraceComparison``: two transactions side by side on aligned steps (``hub.compare``)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from hub.compare import ComparedStep as ComparedRow
from hub.compare import Comparison, Side, WindowOverlap
from schema.maintenance import MaintenanceWindow
from schema.transaction import Transaction


@strawberry.type(description="One transaction on one aligned step.")
class ComparedSide:
    status: str = strawberry.field(description="done; else the flow's pending, overdue, waiting or skipped; "
                                               "missing for an event type it never had")
    at: datetime | None
    source: str | None
    lag_seconds: float | None = strawberry.field(description="Seconds from the step before, on its own timeline.")
    during_maintenance: bool = strawberry.field(description="The time it took (or has waited, while pending) "
                                                            "overlapped a maintenance window of the source that "
                                                            "did or owes it.")

    @classmethod
    def from_side(cls, side: Side) -> ComparedSide:
        return cls(status=side.status, at=side.at, source=side.source, lag_seconds=side.lag_seconds,
                   during_maintenance=side.during_maintenance)


@strawberry.type(description="A maintenance window that overlaps the compared transactions' periods (first event "
                             "to last, or to now while a step is open).")
class ComparedWindow:
    window: MaintenanceWindow
    sides: list[str] = strawberry.field(description="Whose period it overlaps: a, b or both.")

    @classmethod
    def of(cls, overlap: WindowOverlap, now: datetime) -> ComparedWindow:
        return cls(window=MaintenanceWindow.of(overlap.window, now), sides=list(overlap.sides))


@strawberry.type(description="One aligned row: a step of the shared flow, or an event type outside it.")
class ComparedStep:
    name: str
    kind: str = strawberry.field(description="step (of the flow) or event (an event type outside it)")
    a: ComparedSide
    b: ComparedSide
    lag_difference_seconds: float | None = strawberry.field(description="b's lag minus a's: positive when b was "
                                                                        "slower.")
    diverges: bool = strawberry.field(description="One side did it and the other not, or one took more than twice "
                                                  "as long (and a minute more).")

    @classmethod
    def from_row(cls, row: ComparedRow) -> ComparedStep:
        return cls(name=row.name, kind=row.kind, a=ComparedSide.from_side(row.a), b=ComparedSide.from_side(row.b),
                   lag_difference_seconds=row.lag_difference_seconds, diverges=row.diverges)


@strawberry.type(description="Two transactions side by side (a normal one and a slow one of the same flow).")
class TraceComparison:
    a: Transaction
    b: Transaction
    same_flow: bool = strawberry.field(description="Both of one kind with a flow: its steps come first.")
    steps: list[ComparedStep]
    diverges_at: str | None = strawberry.field(description="The first step that diverges.")
    largest_lag_difference: str | None = strawberry.field(description="The step whose lags differ most.")
    maintenance: list[ComparedWindow] = strawberry.field(description="Maintenance windows that overlap either "
                                                                     "transaction's period, by start.")

    @classmethod
    def from_comparison(cls, a: Transaction, b: Transaction, found: Comparison, now: datetime) -> TraceComparison:
        return cls(a=a, b=b, same_flow=found.same_flow, steps=[ComparedStep.from_row(r) for r in found.steps],
                   diverges_at=found.diverges_at, largest_lag_difference=found.largest_lag_difference,
                   maintenance=[ComparedWindow.of(overlap, now) for overlap in found.maintenance])
