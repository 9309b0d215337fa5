"""``compare(a, b)``: two transactions side by side on aligned steps (``hub.compare``, as ``/compare`` shows)."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from hub.compare import compare, windows_for
from hub.store import Store
from hub.store.trace import AmbiguousRef, Trace, find_trace
from resolvers.query import bad_input
from schema.comparison import TraceComparison
from schema.transaction import Transaction

MAX_REF = 400


async def _trace(info: strawberry.Info, store: Store, ref: str, name: str) -> Trace | None:
    if not ref.strip() or len(ref) > MAX_REF or "\x00" in ref:
        raise bad_input(f"`{name}` must be one ref (an order, shipment or payment id, or a transaction id)")
    try:
        trace = await find_trace(store, ref.strip())
    except AmbiguousRef as exc:
        raise GraphQLError(f"{name}: {ref!r} names {len(exc.tx_ids)} transactions: ask with namespace:value",
                           extensions={"code": "AMBIGUOUS_REF", "candidates": exc.tx_ids[:20]}) from None
    if trace is not None:
        info.context["loaders"].trace.prime(trace.transaction.id, trace)
    return trace


@strawberry.type
class CompareQuery:
    @strawberry.field(description="Two transactions side by side: the shared flow's steps aligned, then the other "
                                  "event types, each with its lag on either side and where they diverge. `a` and "
                                  "`b` are any refs `transaction(ref:)` takes; null when either names nothing. "
                                  "Maintenance windows pause SLA clocks as on `Transaction.steps`.")
    async def compare(self, info: strawberry.Info, a: str, b: str) -> TraceComparison | None:
        hub = info.context["hub"]
        store = hub.started().store
        trace_a = await _trace(info, store, a, "a")
        trace_b = await _trace(info, store, b, "b")
        if trace_a is None or trace_b is None:
            return None
        now = hub.now()
        async with store.read() as conn:
            windows = await windows_for(conn, hub.config, [*trace_a.events, *trace_b.events], now)
        found = compare(hub.config, trace_a.transaction.kind, trace_a.events, trace_b.transaction.kind,
                        trace_b.events, now, windows)
        return TraceComparison.from_comparison(Transaction.from_row(trace_a.transaction),
                                               Transaction.from_row(trace_b.transaction), found, now)
