"""Exception queue resolvers: the filtered list, counts, the lifecycle mutations and the live feed."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError

from hub.exceptions.lifecycle import Changes, act
from hub.store import exception_queries as xq
from hub.store.exception_pages import queue_page
from hub.store.paging import EXCEPTION_ORDER, cursor_for
from resolvers.permissions import require_operator
from resolvers.query import connection, cursor_error, distinct, minutes, page_request
from schema.exception import ExceptionActionResult, ExceptionCount, ExceptionEvent, ExceptionItem
from schema.filters import ExceptionDimension, ExceptionFilter, ExceptionOrder
from schema.pagination import Connection


def _filter(flt: ExceptionFilter | None) -> xq.ExceptionFilter:
    flt = flt or ExceptionFilter()
    return xq.ExceptionFilter(
        status=tuple(flt.status or ()), type=tuple(flt.type or ()), severity=tuple(flt.severity or ()),
        source=flt.source, system_kind=flt.system_kind, tx_kind=flt.transaction_kind, assignee=flt.assignee,
        queue=flt.queue, tx_id=flt.transaction_id,
        older_than=minutes(flt.older_than_minutes), since=flt.since, until=flt.until)


def _now(info: strawberry.Info):  # type: ignore[no-untyped-def]
    hub = info.context["hub"]
    return hub.now()


@strawberry.type
class ExceptionQuery:
    @strawberry.field(description="The exception queue: filtered, sorted by age (oldest first) or severity.")
    async def exceptions(self, info: strawberry.Info, filter: ExceptionFilter | None = None,
                         order_by: ExceptionOrder = ExceptionOrder.AGE, first: int | None = None,
                         after: str | None = None, last: int | None = None,
                         before: str | None = None) -> Connection[ExceptionItem]:
        flt, now, keys = _filter(filter), _now(info), EXCEPTION_ORDER[order_by.value]
        request = page_request(first, after, last, before)
        try:
            async with info.context["hub"].started().store.read() as conn:
                page = await queue_page(conn, flt, now, order_by.value, request)
                total = await xq.count_exceptions(conn, flt, now)
        except ValueError as exc:
            raise cursor_error(exc) from None
        return connection(page, ExceptionItem.from_row, lambda row: cursor_for(row, keys), total)

    @strawberry.field(description="Exception counts grouped by the given dimensions (flat rows for dashboards).")
    async def exception_counts(self, info: strawberry.Info, group_by: list[ExceptionDimension],
                               filter: ExceptionFilter | None = None) -> list[ExceptionCount]:
        async with info.context["hub"].started().store.read() as conn:
            rows = await xq.group_counts(conn, _filter(filter), _now(info), distinct(group_by, "groupBy"))
        return [ExceptionCount(**row) for row in rows]


async def _act(info: strawberry.Info, ids: list[strawberry.ID], action: str, *, assignee: str | None = None,
               note: str | None = None) -> ExceptionActionResult:
    actor = require_operator(info)
    hub = info.context["hub"]
    changes = Changes()
    async with hub.started().store.write() as conn:
        changed = await act(conn, [str(i) for i in ids], actor=actor, action=action, assignee=assignee, note=note,
                            changes=changes, now=hub.now())
        rows = await xq.exceptions_by_id(conn, changed)
    hub.broadcaster.publish(changes.items)
    return ExceptionActionResult(count=len(changed), exceptions=[ExceptionItem.from_row(rows[i]) for i in changed])


def _ids(id: strawberry.ID | None, ids: list[strawberry.ID] | None) -> list[strawberry.ID]:
    chosen = ([id] if id is not None else []) + list(ids or [])
    if not chosen:
        raise GraphQLError("give `id` or `ids`", extensions={"code": "BAD_USER_INPUT"})
    return chosen


@strawberry.type
class ExceptionMutation:
    @strawberry.mutation(description="Acknowledge open exceptions (one with `id`, many with `ids`).")
    async def acknowledge_exception(self, info: strawberry.Info, id: strawberry.ID | None = None,
                                    ids: list[strawberry.ID] | None = None,
                                    note: str | None = None) -> ExceptionActionResult:
        return await _act(info, _ids(id, ids), "acknowledged", note=note)

    @strawberry.mutation(description="Assign exceptions to a person or team.")
    async def assign_exception(self, info: strawberry.Info, assignee: str, id: strawberry.ID | None = None,
                               ids: list[strawberry.ID] | None = None,
                               note: str | None = None) -> ExceptionActionResult:
        return await _act(info, _ids(id, ids), "assigned", assignee=assignee, note=note)

    @strawberry.mutation(description="Resolve exceptions, with a note saying why.")
    async def resolve_exception(self, info: strawberry.Info, id: strawberry.ID | None = None,
                                ids: list[strawberry.ID] | None = None,
                                note: str | None = None) -> ExceptionActionResult:
        return await _act(info, _ids(id, ids), "resolved", note=note)


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Exceptions as they open, change and resolve (graphql-transport-ws).")
    async def exception_events(self, info: strawberry.Info,
                               types: list[str] | None = None) -> AsyncGenerator[ExceptionEvent, None]:
        hub = info.context["hub"]
        async for change in hub.broadcaster.subscribe():
            if types and change.type not in types:
                continue
            async with hub.started().store.read() as conn:
                row = (await xq.exceptions_by_id(conn, [change.exception_id])).get(change.exception_id)
            if row is not None:
                yield ExceptionEvent(action=change.action, exception=ExceptionItem.from_row(row))
