"""``Exception``: something late, missing, failed, duplicated or mismatched, with its evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON


@strawberry.type(name="Exception", description="A problem a rule found, with the evidence.")
class ExceptionItem:
    id: strawberry.ID
    type: str
    severity: str
    rule: str
    subject: str
    transaction_id: str | None
    system: str | None
    status: str
    message: str
    evidence: JSON
    assignee: str | None
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ExceptionItem:
        return cls(id=strawberry.ID(row.id), type=row.type, severity=row.severity, rule=row.rule, subject=row.subject,
                   transaction_id=row.tx_id, system=row.system, status=row.status, message=row.message,
                   evidence=row.evidence, assignee=row.assignee, opened_at=row.opened_at, updated_at=row.updated_at,
                   resolved_at=row.resolved_at)
