"""``FlowStep``: where a transaction stands on one step of its flow."""

from __future__ import annotations

from datetime import datetime

import strawberry

from hub.flows import StepState


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

    @classmethod
    def from_state(cls, state: StepState) -> FlowStep:
        return cls(name=state.name, status=state.status, done_at=state.done_at, done_by=state.done_by,
                   event_id=state.event_id, due_at=state.due_at, lag_seconds=state.lag_seconds,
                   optional=state.optional)
