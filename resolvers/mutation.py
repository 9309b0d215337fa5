"""The root ``Mutation``: replays (operator role)."""

from __future__ import annotations

import strawberry

from hub.ingest.normalize import ReplayFilter as StoreReplayFilter
from hub.ingest.normalize import replay
from resolvers.permissions import require_operator
from schema.filters import ReplayFilter, ReplayResult


async def _replay(info: strawberry.Info, selection: StoreReplayFilter) -> ReplayResult:
    running = info.context["hub"].started()
    ids = await replay(running.store, selection, info.context["hub"].now())
    if ids and running.normalizer is not None:  # else a worker process takes them
        running.normalizer.wake()
    return ReplayResult(count=len(ids), delivery_ids=[strawberry.ID(i) for i in ids])


@strawberry.type
class DeliveryMutation:
    @strawberry.mutation(description="Re-derive events from one stored delivery (after a mapping fix). "
                                     "Never duplicates events; they keep the link to the delivery.")
    async def replay_delivery(self, info: strawberry.Info, id: strawberry.ID) -> ReplayResult:
        require_operator(info)
        return await _replay(info, StoreReplayFilter(ids=(str(id),), state=None))

    @strawberry.mutation(description="Re-derive events from many deliveries: by source, state (default dead), "
                                     "time window and error text.")
    async def replay_deliveries(self, info: strawberry.Info, filter: ReplayFilter) -> ReplayResult:
        require_operator(info)
        return await _replay(info, StoreReplayFilter(source=filter.source, state=filter.state, since=filter.since,
                                                     until=filter.until, error_contains=filter.error_contains))
