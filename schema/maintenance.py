"""``MaintenanceWindow``: a source under announced maintenance (its SLA clocks and silence alerts paused)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry


@strawberry.type(description="A source under announced maintenance: the SLA clocks of the steps it owes and its "
                             "silence and volume alerts stand still from `from` until `until`.")
class MaintenanceWindow:
    id: strawberry.ID
    source: str
    starts_at: datetime = strawberry.field(name="from")
    ends_at: datetime = strawberry.field(name="until")
    reason: str | None
    created_by: str = strawberry.field(description="The operator who announced it, or `config`.")
    active: bool = strawberry.field(description="Whether it is under way now (by the hub's clock).")

    @classmethod
    def of(cls, window: Any, now: datetime) -> MaintenanceWindow:
        return cls(id=strawberry.ID(window.id), source=window.source, starts_at=window.starts_at,
                   ends_at=window.ends_at, reason=window.reason, created_by=window.created_by,
                   active=window.active(now))
