"""``Transaction``: one order or stock movement stitched across systems."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from hub.flows import FlowEvent, step_states
from hub.model import utcnow
from hub.store.queries import identity_roles
from schema.event import Event
from schema.exception import ExceptionItem
from schema.flow import FlowStep
from schema.node import Node
from schema.ref import Ref


@strawberry.type(description="One order or stock movement across every system that reported on it.")
class Transaction(Node):
    id: strawberry.ID
    kind: str
    first_at: datetime
    last_at: datetime
    event_count: int
    systems: list[str] = strawberry.field(description="Sources that reported events on it.")
    open_exceptions: int

    @strawberry.field(description="Events in timeline order (occurred_at, then received_at).")
    async def events(self, info: strawberry.Info) -> list[Event]:
        trace = await info.context["loaders"].trace.load(str(self.id))
        previous = None
        result = []
        for record in trace.events:
            result.append(Event.from_record(record, identity_roles(record, trace.demoted), previous))
            previous = record.occurred_at
        return result

    @strawberry.field(description="Each step of its kind's flow: done, pending (due when), overdue, skipped.")
    async def steps(self, info: strawberry.Info) -> list[FlowStep]:
        hub = info.context["hub"]
        trace = await info.context["loaders"].trace.load(str(self.id))
        kinds = {name: source.kind for name, source in hub.config.sources.items()}
        flow_events = [FlowEvent(e.id, e.type, e.source, e.occurred_at, kinds.get(e.source)) for e in trace.events]
        now = hub.evaluator.now() if hub.evaluator is not None else utcnow()
        return [FlowStep.from_state(s) for s in step_states(hub.config.flows[self.kind], flow_events, now)]

    @strawberry.field(description="Every ref any of its events stated, each once.")
    async def refs(self, info: strawberry.Info) -> list[Ref]:
        trace = await info.context["loaders"].trace.load(str(self.id))
        seen: dict[tuple[str, str], tuple[str, str, str]] = {}
        for record in trace.events:
            for item in identity_roles(record, trace.demoted):
                if (item[0], item[1]) not in seen or item[2] == "identity":
                    seen[(item[0], item[1])] = item
        return [Ref.from_tuple(item) for item in sorted(seen.values())]

    @strawberry.field(description="Transactions linked by a related ref (a payout, the orders it covers).")
    async def related(self, info: strawberry.Info) -> list[Transaction]:
        ids = await info.context["loaders"].related.load(str(self.id))
        rows = await info.context["loaders"].transaction.load_many(ids)
        return [Transaction.from_row(row) for row in rows if row is not None]

    @strawberry.field(description="Exceptions raised about it (open and closed).")
    async def exceptions(self, info: strawberry.Info) -> list[ExceptionItem]:
        rows = await info.context["loaders"].exceptions_by_tx.load(str(self.id))
        return [ExceptionItem.from_row(row) for row in rows]

    @classmethod
    def from_row(cls, row: Any) -> Transaction:
        return cls(id=strawberry.ID(row.id), kind=row.kind, first_at=row.first_at, last_at=row.last_at,
                   event_count=row.events, systems=list(row.systems or []), open_exceptions=row.open_exceptions)
