"""``FlowStep``: where a transaction stands on one step of its flow."""

from __future__ import annotations

from datetime import datetime

import strawberry

from hub.exceptions.flows import StepState


@strawberry.type(description="One expected step: done (when, by which source, lag), pending (due when), "
                             "overdue, skipped, or waiting for the step before.")
class FlowStep:
    name: str
    status: str
    done_at: datetime | None
    done_by: str | None
    event_id: str | None
    due_at: datetime | None
    lag_seconds: float | None = strawberry.field(description="Seconds from the previous done step.")
    optional: bool
    since: datetime | None = strawberry.field(description="Pending or overdue: when its clock started (the step "
                                                          "before was done).")
    owed_by: str | None = strawberry.field(description="Pending or overdue: the source that owes this step (null "
                                                       "when several sources of `owedKind` could).")
    owed_kind: str | None = strawberry.field(description="The kind of system that owes it (erp, wms, payment…).")
    waiting_on: str | None = strawberry.field(description="Both, as people read it: `ERP (erp)`.")

    @classmethod
    def from_state(cls, state: StepState) -> FlowStep:
        return cls(name=state.name, status=state.status, done_at=state.done_at, done_by=state.done_by,
                   event_id=state.event_id, due_at=state.due_at, lag_seconds=state.lag_seconds,
                   optional=state.optional, since=state.since, owed_by=state.owed_by, owed_kind=state.owed_kind,
                   waiting_on=state.waiting_on)
