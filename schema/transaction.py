"""``Transaction``: one order or stock movement stitched across systems.

Its nested fields render the one ``hub.store.trace.Trace`` (the request's ``trace`` loader reads it, once per
transaction, batched), the same object the web page ``/t/{id}`` renders.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from hub.exceptions.flows import transaction_steps
from schema.attribute import Attribute
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
        for record in trace.events if trace is not None else []:
            result.append(Event.from_record(record, trace.event_refs(record), previous))
            previous = record.occurred_at
        return result

    @strawberry.field(description="Each step of its kind's flow: done, pending (due when), overdue, skipped.")
    async def steps(self, info: strawberry.Info) -> list[FlowStep]:
        hub = info.context["hub"]
        trace = await info.context["loaders"].trace.load(str(self.id))
        now = hub.now()
        stopped = await info.context["loaders"].paused(hub.config, now)  # owners under maintenance: clocks paused
        return [FlowStep.from_state(s) for s in transaction_steps(hub.config, self.kind,
                                                                  trace.events if trace is not None else [], now,
                                                                  stopped)]

    @strawberry.field(description="Business attributes (channel, store…) its events stated; the latest wins.")
    async def attributes(self, info: strawberry.Info) -> list[Attribute]:
        found = await info.context["loaders"].attributes.load(str(self.id))
        return [Attribute(name=name, value=value) for name, value in sorted(found.items())]

    @strawberry.field(description="Every ref any of its events stated, each once.")
    async def refs(self, info: strawberry.Info) -> list[Ref]:
        trace = await info.context["loaders"].trace.load(str(self.id))
        return [Ref(namespace=r.namespace, value=r.value, role=r.role) for r in (trace.refs if trace else [])]

    @strawberry.field(description="Transactions linked by a related ref (a payout, the orders it covers).")
    async def related(self, info: strawberry.Info) -> list[Transaction]:
        trace = await info.context["loaders"].trace.load(str(self.id))
        return [Transaction.from_row(row) for row in (trace.related if trace is not None else [])]

    @strawberry.field(description="Exceptions raised about it (open and closed).")
    async def exceptions(self, info: strawberry.Info) -> list[ExceptionItem]:
        trace = await info.context["loaders"].trace.load(str(self.id))
        if trace is None:
            return []
        history = info.context["loaders"].exception_history
        for row in trace.exceptions:  # the trace read their history already: their ``history`` field renders it
            history.prime(row.id, trace.history.get(row.id, []))
        return [ExceptionItem.from_row(row) for row in trace.exceptions]

    @classmethod
    def from_row(cls, row: Any) -> Transaction:
        return cls(id=strawberry.ID(row.id), kind=row.kind, first_at=row.first_at, last_at=row.last_at,
                   event_count=row.events, systems=list(row.systems or []), open_exceptions=row.open_exceptions)
