"""The root ``Mutation``: replays (operator role)."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from hub.auth import require_role
from hub.errors import HubError
from hub.normalize import ReplayFilter as StoreReplayFilter
from hub.normalize import replay
from schema.filters import ReplayFilter, ReplayResult


def _require_operator(info: strawberry.Info) -> None:
    try:
        if info.context.get("auth_error"):
            raise info.context["auth_error"]
        require_role(info.context.get("api_key"), "operator")
    except HubError as exc:
        raise GraphQLError(exc.message, extensions={"code": exc.code.upper()}) from None


async def _replay(info: strawberry.Info, selection: StoreReplayFilter) -> ReplayResult:
    hub = info.context["hub"]
    ids = await replay(hub.require_store(), selection)
    if ids and hub.normalizer is not None:
        hub.normalizer.wake()
    return ReplayResult(count=len(ids), delivery_ids=[strawberry.ID(i) for i in ids])


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Re-derive events from one stored delivery (after a mapping fix). "
                                     "Never duplicates events; they keep the link to the delivery.")
    async def replay_delivery(self, info: strawberry.Info, id: strawberry.ID) -> ReplayResult:
        _require_operator(info)
        return await _replay(info, StoreReplayFilter(ids=(str(id),), state=None))

    @strawberry.mutation(description="Re-derive events from many deliveries: by source, state (default dead), "
                                     "time window and error text.")
    async def replay_deliveries(self, info: strawberry.Info, filter: ReplayFilter) -> ReplayResult:
        _require_operator(info)
        return await _replay(info, StoreReplayFilter(source=filter.source, state=filter.state, since=filter.since,
                                                     until=filter.until, error_contains=filter.error_contains))
