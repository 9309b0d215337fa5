"""``Delivery``: one raw delivery as kept in the inbox (dead letters included)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from schema.node import Node


@strawberry.type(description="A raw delivery as received: its state, error and (on request) its body.")
class Delivery(Node):
    id: strawberry.ID
    source: str
    received_at: datetime
    state: str = strawberry.field(description="pending, done or dead (a dead letter)")
    error: str | None
    attempts: int
    repeats: int = strawberry.field(description="How many more times the sender delivered it.")
    content_type: str
    headers: JSON
    size: int

    @strawberry.field(description="The raw body as text (UTF-8, invalid bytes replaced).")
    async def body(self, info: strawberry.Info) -> str | None:
        row = await info.context["loaders"].delivery.load(str(self.id))
        return row.body.decode("utf-8", "replace") if row is not None else None

    @strawberry.field(description="Ids of the events derived from it.")
    async def event_ids(self, info: strawberry.Info) -> list[strawberry.ID]:
        return [strawberry.ID(i) for i in await info.context["loaders"].events_by_delivery.load(str(self.id))]

    @classmethod
    def from_row(cls, row: Any) -> Delivery:
        size = row.size if hasattr(row, "size") else len(row.body)
        return cls(id=strawberry.ID(row.id), source=row.source, received_at=row.received_at, state=row.state,
                   error=row.error, attempts=row.attempts, repeats=row.repeats, content_type=row.content_type,
                   headers=row.headers, size=size)
