"""``sources``: every configured system with the health of its feed (``hub.ingest.polling.source_health``)."""

from __future__ import annotations

import strawberry

from hub.ingest.polling import source_health
from hub.model import utcnow
from schema.source import Source


@strawberry.type
class SourceQuery:
    @strawberry.field(description="Every configured source, in config order, with its last delivery, its "
                                  "poller's last run, error, failures in a row, circuit, lag and state.")
    async def sources(self, info: strawberry.Info) -> list[Source]:
        hub = info.context["hub"]
        now = hub.evaluator.now() if hub.evaluator is not None else utcnow()
        return [Source.from_health(item) for item in await source_health(hub.require_store(), hub.config, now)]
