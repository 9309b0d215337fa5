"""``node(id:)`` and ``nodes(ids:)``: refetch any object by its global id (Relay's Node interface)."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from hub.store.node_queries import find_node
from hub.store.paging import MAX_PAGE
from hub.store.queries import identity_roles
from schema.delivery import Delivery
from schema.event import Event
from schema.exception import ExceptionItem
from schema.node import Node
from schema.transaction import Transaction


async def _load(info: strawberry.Info, node_id: str) -> Node | None:
    async with info.context["hub"].started().store.read() as conn:
        found = await find_node(conn, node_id)
    if found is None:
        return None
    kind, row = found
    if kind == "transaction":
        return Transaction.from_row(row)
    if kind == "exception":
        return ExceptionItem.from_row(row)
    if kind == "delivery":
        return Delivery.from_row(row)
    record, demoted = row
    return Event.from_record(record, identity_roles(record, demoted), None)  # lagSeconds needs the timeline


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global id (`tx_…`, `evt_…`, `exc_…`, `dlv_…`); null when "
                                  "none has it. An event fetched alone has no `lagSeconds`.")
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        return await _load(info, str(id))

    @strawberry.field(description="Several objects by global id, in the order asked (null for unknown ids).")
    async def nodes(self, info: strawberry.Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_PAGE:
            raise GraphQLError(f"at most {MAX_PAGE} ids", extensions={"code": "BAD_USER_INPUT"})
        return [await _load(info, str(i)) for i in ids]
