"""``sources``: every configured system with the health of its feed (``hub.ingest.polling.source_health``)."""

from __future__ import annotations

import strawberry

from hub.ingest.polling import source_health
from hub.store import inbox_log
from schema.source import Source


@strawberry.type
class SourceQuery:
    @strawberry.field(description="Every configured source, in config order, with its last delivery, its "
                                  "poller's last run, error, failures in a row, circuit, lag and state.")
    async def sources(self, info: strawberry.Info) -> list[Source]:
        hub = info.context["hub"]
        now = hub.now()
        store = hub.started().store
        await inbox_log.caught_up(store)  # lastDeliveryAt counts deliveries just acknowledged
        return [Source.from_health(item) for item in await source_health(store, hub.config, now)]
