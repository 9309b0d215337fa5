"""``Exception``: something late, missing, failed, duplicated or mismatched, with its evidence and history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from schema.node import Node


@strawberry.type(description="Who did what to an exception, and when.")
class ExceptionHistoryEntry:
    at: datetime
    actor: str
    action: str
    note: str | None


@strawberry.type(name="Exception", description="A problem a rule found, with the evidence.")
class ExceptionItem(Node):
    id: strawberry.ID
    type: str
    severity: str
    rule: str
    subject: str
    transaction_id: str | None
    transaction_kind: str | None
    system: str | None = strawberry.field(description="The source (system) it is about.")
    system_kind: str | None
    queue: str = strawberry.field(description="The team queue routing sent it to.")
    status: str = strawberry.field(description="open, acknowledged or resolved")
    message: str
    evidence: JSON = strawberry.field(description="Expected vs actual, and the events involved.")
    assignee: str | None
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None = strawberry.field(description="An API key name, or `system` when evidence cleared.")

    @strawberry.field(description="Who did what, oldest first.")
    async def history(self, info: strawberry.Info) -> list[ExceptionHistoryEntry]:
        rows = await info.context["loaders"].exception_history.load(str(self.id))
        return [ExceptionHistoryEntry(at=r.at, actor=r.actor, action=r.action, note=r.note) for r in rows]

    @classmethod
    def from_row(cls, row: Any) -> ExceptionItem:
        return cls(id=strawberry.ID(row.id), type=row.type, severity=row.severity, rule=row.rule, subject=row.subject,
                   transaction_id=row.tx_id, transaction_kind=row.tx_kind, system=row.system,
                   system_kind=row.system_kind, queue=row.queue, status=row.status, message=row.message,
                   evidence=row.evidence, assignee=row.assignee, opened_at=row.opened_at, updated_at=row.updated_at,
                   resolved_at=row.resolved_at, resolved_by=row.resolved_by)


@strawberry.type(description="A flat row of exception counts; the dimensions not grouped by are null.")
class ExceptionCount:
    type: str | None = None
    source: str | None = None
    status: str | None = None
    severity: str | None = None
    queue: str | None = None
    system_kind: str | None = None
    tx_kind: str | None = None
    count: int = 0


@strawberry.type(description="Something happened to an exception (live).")
class ExceptionEvent:
    action: str = strawberry.field(description="opened, changed, reopened, resolved, acknowledged, assigned, escalated")
    exception: ExceptionItem


@strawberry.type(description="The exceptions a mutation changed.")
class ExceptionActionResult:
    count: int
    exceptions: list[ExceptionItem]
