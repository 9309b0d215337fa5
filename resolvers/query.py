"""The root ``Query``: plain async functions over ``hub.store.queries``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from hub.access.contacts import transactions_by_contact, typed_contact
from hub.store import inbox_log
from hub.store import queries as q
from hub.store.paging import (
    DELIVERY_ORDER,
    TRANSACTION_ORDER,
    Key,
    KeysetPage,
    PageRequest,
    capped_count,
    cursor_for,
    keyset_page,
)
from hub.store.trace import AmbiguousRef, find_trace
from schema.delivery import Delivery
from schema.filters import DeliveryFilter, TransactionFilter
from schema.pagination import Connection, Edge, PageInfo
from schema.transaction import Transaction

MAX_CONTACT = 400  # as a ref: one email or phone, never a paste of a page
MAX_MINUTES = 10 * 366 * 24 * 60  # ten years: an age beyond it is a mistake, and overflows date arithmetic


def bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def minutes(value: int | None, name: str = "olderThanMinutes") -> timedelta | None:
    """An age argument in minutes, 0 to :data:`MAX_MINUTES`; a BAD_USER_INPUT error otherwise (a huge one would
    be an ``OverflowError`` in ``now - age``)."""
    if value is None:
        return None
    if not 0 <= value <= MAX_MINUTES:
        raise bad_input(f"`{name}` must be between 0 and {MAX_MINUTES} (ten years); got {value}")
    return timedelta(minutes=value)


def distinct(values: Sequence[Enum], name: str) -> list[str]:
    """The enum values, each at most once; a BAD_USER_INPUT error names the repeated ones (a dimension grouped
    twice is an ambiguous column in SQL)."""
    names = [value.name for value in values]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise bad_input(f"`{name}` lists {', '.join(repeated)} more than once: give each dimension once")
    return [value.value for value in values]


def page_size(first: int) -> int:
    """``first`` must be 1..100 (DESIGN §5: lists are capped)."""
    if not 1 <= first <= q.MAX_PAGE:
        raise GraphQLError(f"`first` must be between 1 and {q.MAX_PAGE}", extensions={"code": "BAD_USER_INPUT"})
    return first


def connection(page: KeysetPage, convert, cursor_of, total: int | None = None) -> Connection:  # type: ignore[no-untyped-def]
    nodes = [convert(row) for row in page.rows]
    return Connection(edges=[Edge(cursor=cursor_of(row), node=node) for row, node in zip(page.rows, nodes,
                                                                                        strict=True)],
                      nodes=nodes, page_info=PageInfo(
                          has_next_page=page.has_next, end_cursor=page.end_cursor,
                          has_previous_page=page.has_previous, start_cursor=page.start_cursor),
                      total_count=total)


def page_request(first: int | None, after: str | None, last: int | None, before: str | None) -> PageRequest:
    """``first`` (+``after``) or ``last`` (+``before``), each 1..100: one of them is required (as on GitHub)."""
    request = PageRequest(first, after, last, before)
    try:
        request.check()
    except ValueError as exc:
        raise GraphQLError(str(exc), extensions={"code": "BAD_USER_INPUT"}) from None
    return request


async def keyset_connection(info: strawberry.Info, query, keys: list[Key], request: PageRequest,  # type: ignore[no-untyped-def]
                            convert) -> Connection:
    """A connection over a filtered select: one keyset page plus the capped total count."""
    try:
        async with info.context["hub"].started().store.read() as conn:
            page = await keyset_page(conn, query, keys, request)
            total = await capped_count(conn, query)
    except ValueError as exc:
        raise cursor_error(exc) from None
    return connection(page, convert, lambda row: cursor_for(row, keys), total)


def cursor_error(exc: ValueError) -> GraphQLError:
    return GraphQLError(str(exc), extensions={"code": "BAD_USER_INPUT"})


_LINKED = frozenset({"related", "exceptions"})  # the Transaction fields that render a trace's linked parts


def asks_linked(fields: list[Any]) -> bool:
    """Whether the selection under this field asks a Transaction's ``related`` or ``exceptions`` (through any
    fragment); anything it cannot tell counts as asking."""
    for field in fields:
        for selection in getattr(field, "selections", None) or ():
            if isinstance(selection, SelectedField):
                if selection.name in _LINKED:
                    return True
            elif not isinstance(selection, FragmentSpread | InlineFragment) or asks_linked([selection]):
                return True
    return False


def ambiguous_ref_error(ref: str, exc: AmbiguousRef) -> GraphQLError:
    """What ``transaction(ref)`` answers for a ref naming several transactions."""
    return GraphQLError(f"{ref!r} names {len(exc.tx_ids)} transactions: ask with namespace:value or use "
                        "transactionsByRef", extensions={"code": "AMBIGUOUS_REF", "candidates": exc.tx_ids[:20]})


@strawberry.type
class TransactionQuery:
    @strawberry.field(description="The transaction a ref names: any system's id, `namespace:value`, or a "
                                  "transaction id (merged-away ids still resolve). Null when nothing matches.")
    async def transaction(self, info: strawberry.Info, ref: str) -> Transaction | None:
        linked = asks_linked(info.selected_fields)
        try:
            trace = await find_trace(info.context["hub"].started().store, ref, linked=linked)
        except AmbiguousRef as exc:
            raise ambiguous_ref_error(ref, exc) from None
        if trace is None:
            return None
        # Its nested fields render this trace. A whole one replaces any primed before; one without related and
        # exceptions never does (another `transaction` field of the request may show them).
        info.context["loaders"].trace.prime(trace.transaction.id, trace, force=linked)
        return Transaction.from_row(trace.transaction)

    @strawberry.field(description="Every transaction a ref value names (the choice list for an ambiguous value).")
    async def transactions_by_ref(self, info: strawberry.Info, ref: str) -> list[Transaction]:
        async with info.context["hub"].started().store.read() as conn:
            lookup = await q.resolve_ref(conn, ref)
        rows = await info.context["loaders"].transaction.load_many(lookup.tx_ids[: q.MAX_PAGE])
        return [Transaction.from_row(row) for row in rows if row is not None]

    @strawberry.field(description="The transactions whose deliveries carried a customer's email or phone (any case "
                                  "or spacing, `+` or `00`), newest first, at most 100: the web search's contact "
                                  "lookup, through the keyed-hash index. Admin only (it searches by personal data); "
                                  "every call is in the audit log with the contact's fingerprint, never its value.")
    async def transactions_by_contact(self, info: strawberry.Info, contact: str) -> list[Transaction]:
        normalised = typed_contact(contact) if len(contact) <= MAX_CONTACT and "\x00" not in contact else None
        if normalised is None:
            raise bad_input("`contact` must be one email address or phone number (7 to 15 digits)")
        async with info.context["hub"].started().store.read() as conn:
            tx_ids = await transactions_by_contact(conn, normalised)
        rows = await info.context["loaders"].transaction.load_many(tx_ids[: q.MAX_PAGE])
        return [Transaction.from_row(row) for row in rows if row is not None]

    @strawberry.field(description="Transactions, newest first (keyset pagination: `first`/`after` or "
                                  "`last`/`before`, at most 100).")
    async def transactions(self, info: strawberry.Info, filter: TransactionFilter | None = None,
                           first: int | None = None, after: str | None = None, last: int | None = None,
                           before: str | None = None) -> Connection[Transaction]:
        flt = filter or TransactionFilter()
        attributes = tuple((a.name, a.value) for a in flt.attributes or ())
        query = q.transaction_query(q.TransactionFilter(kind=flt.kind, source=flt.source, since=flt.since,
                                                        until=flt.until, has_exceptions=flt.has_exceptions,
                                                        attributes=attributes))
        return await keyset_connection(info, query, TRANSACTION_ORDER,
                                       page_request(first, after, last, before), Transaction.from_row)

    @strawberry.field(description="Raw deliveries, newest first; `filter: {state: \"dead\"}` lists dead letters.")
    async def deliveries(self, info: strawberry.Info, filter: DeliveryFilter | None = None, first: int | None = None,
                         after: str | None = None, last: int | None = None,
                         before: str | None = None) -> Connection[Delivery]:
        flt = filter or DeliveryFilter()
        await inbox_log.caught_up(info.context["hub"].started().store)  # every acknowledged delivery is listed
        query = q.delivery_query(q.DeliveryFilter(source=flt.source, state=flt.state, since=flt.since,
                                                  until=flt.until))
        return await keyset_connection(info, query, DELIVERY_ORDER,
                                       page_request(first, after, last, before), Delivery.from_row)

    @strawberry.field(description="One delivery by id.")
    async def delivery(self, info: strawberry.Info, id: strawberry.ID) -> Delivery | None:
        row = await info.context["loaders"].delivery.load(str(id))
        return Delivery.from_row(row) if row is not None else None
