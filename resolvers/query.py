"""The root ``Query``: plain async functions over ``hub.store.queries``."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from hub.store import queries as q
from schema.delivery import Delivery
from schema.exception import ExceptionItem
from schema.filters import DeliveryFilter, ExceptionFilter, TransactionFilter
from schema.pagination import Connection, Edge, PageInfo
from schema.transaction import Transaction


def page_size(first: int) -> int:
    """``first`` must be 1..100 (DESIGN §5: lists are capped)."""
    if not 1 <= first <= q.MAX_PAGE:
        raise GraphQLError(f"`first` must be between 1 and {q.MAX_PAGE}", extensions={"code": "BAD_USER_INPUT"})
    return first


def _connection(page: q.Page, convert, cursor_of) -> Connection:  # type: ignore[no-untyped-def]
    nodes = [convert(row) for row in page.rows]
    return Connection(edges=[Edge(cursor=cursor_of(row), node=node) for row, node in zip(page.rows, nodes,
                                                                                        strict=True)],
                      nodes=nodes, page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor))


def _cursor_error(exc: ValueError) -> GraphQLError:
    return GraphQLError(str(exc), extensions={"code": "BAD_USER_INPUT"})


@strawberry.type
class Query:
    @strawberry.field(description="The transaction a ref names: any system's id, `namespace:value`, or a "
                                  "transaction id (merged-away ids still resolve). Null when nothing matches.")
    async def transaction(self, info: strawberry.Info, ref: str) -> Transaction | None:
        async with info.context["hub"].require_store().read() as conn:
            lookup = await q.resolve_ref(conn, ref)
        if lookup.ambiguous:
            raise GraphQLError(f"{ref!r} names {len(lookup.tx_ids)} transactions: ask with namespace:value "
                               "or use transactionsByRef", extensions={"code": "AMBIGUOUS_REF",
                                                                       "candidates": lookup.tx_ids[:20]})
        if not lookup.tx_ids:
            return None
        row = await info.context["loaders"].transaction.load(lookup.tx_ids[0])
        return Transaction.from_row(row) if row is not None else None

    @strawberry.field(description="Every transaction a ref value names (the choice list for an ambiguous value).")
    async def transactions_by_ref(self, info: strawberry.Info, ref: str) -> list[Transaction]:
        async with info.context["hub"].require_store().read() as conn:
            lookup = await q.resolve_ref(conn, ref)
        rows = await info.context["loaders"].transaction.load_many(lookup.tx_ids[: q.MAX_PAGE])
        return [Transaction.from_row(row) for row in rows if row is not None]

    @strawberry.field(description="Transactions, newest first (keyset pagination).")
    async def transactions(self, info: strawberry.Info, filter: TransactionFilter | None = None, first: int = 20,
                           after: str | None = None) -> Connection[Transaction]:
        flt = filter or TransactionFilter()
        try:
            async with info.context["hub"].require_store().read() as conn:
                page = await q.list_transactions(conn, q.TransactionFilter(
                    kind=flt.kind, source=flt.source, since=flt.since, until=flt.until,
                    has_exceptions=flt.has_exceptions), page_size(first), after)
        except ValueError as exc:
            raise _cursor_error(exc) from None
        return _connection(page, Transaction.from_row, lambda r: q.encode_cursor(r.id))

    @strawberry.field(description="Raw deliveries, newest first; `filter: {state: \"dead\"}` lists dead letters.")
    async def deliveries(self, info: strawberry.Info, filter: DeliveryFilter | None = None, first: int = 20,
                         after: str | None = None) -> Connection[Delivery]:
        flt = filter or DeliveryFilter()
        try:
            async with info.context["hub"].require_store().read() as conn:
                page = await q.list_deliveries(conn, q.DeliveryFilter(
                    source=flt.source, state=flt.state, since=flt.since, until=flt.until), page_size(first), after)
        except ValueError as exc:
            raise _cursor_error(exc) from None
        return _connection(page, Delivery.from_row, lambda r: q.encode_cursor(r.id))

    @strawberry.field(description="One delivery by id.")
    async def delivery(self, info: strawberry.Info, id: strawberry.ID) -> Delivery | None:
        row = await info.context["loaders"].delivery.load(str(id))
        return Delivery.from_row(row) if row is not None else None

    @strawberry.field(description="Exceptions, newest first.")
    async def exceptions(self, info: strawberry.Info, filter: ExceptionFilter | None = None, first: int = 20,
                         after: str | None = None) -> Connection[ExceptionItem]:
        flt = filter or ExceptionFilter()
        try:
            async with info.context["hub"].require_store().read() as conn:
                page = await q.list_exceptions(conn, q.ExceptionFilter(
                    status=flt.status, type=flt.type, tx_id=flt.transaction_id), page_size(first), after)
        except ValueError as exc:
            raise _cursor_error(exc) from None
        return _connection(page, ExceptionItem.from_row, lambda r: q.encode_cursor(r.id))
