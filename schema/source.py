"""``Source``: one configured system and how its feed is doing (webhooks received, polls, the poller's circuit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry


@strawberry.type(description="A connected system (a [[sources]] entry) and the health of its feed.")
class Source:
    name: str
    kind: str = strawberry.field(description="erp, pos, wms, commerce, marketplace, carrier, payment, returns or other")
    adapter: str = strawberry.field(description="shopify, stripe, square, easypost, amazon-sp, cloudevents or json")
    polled: bool = strawberry.field(description="True when the source has a [sources.options.poll] schedule.")
    last_delivery_at: datetime | None = strawberry.field(description="When its newest delivery (webhook or "
                                                                     "polled item) was stored.")
    last_poll_at: datetime | None = strawberry.field(description="When its poller last ran, failed or not.")
    last_success_at: datetime | None = strawberry.field(description="When its poller last finished a run.")
    last_error: str | None = strawberry.field(description="The poller's error since its last success.")
    consecutive_failures: int = strawberry.field(description="Failed poll runs in a row.")
    circuit: str = strawberry.field(description="The poller's circuit: closed, open or half_open.")
    next_poll_at: datetime | None
    items_total: int = strawberry.field(description="New items the poller has stored, all runs together.")
    lag: float | None = strawberry.field(description="Seconds since the last successful poll (polled) or the last "
                                                     "delivery (webhook only); null when neither happened yet.")
    state: str = strawberry.field(description="ok, failing, open, half_open, pending (polled, no success yet) "
                                              "or webhook (not polled)")
    unresolved: list[str] = strawberry.field(description="Ids the source reported that no mapping or lookup "
                                                         "resolved, as \"<object> <id>\" (e.g. \"inventory_item "
                                                         "808950810\": stock kept under Shopify's id), at most 20.")

    @classmethod
    def from_health(cls, health: Any) -> Source:
        """From a :class:`hub.ingest.polling.SourceHealth`."""
        return cls(name=health.name, kind=health.kind, adapter=health.adapter, polled=health.polled,
                   last_delivery_at=health.last_delivery_at, last_poll_at=health.last_poll_at,
                   last_success_at=health.last_success_at, last_error=health.last_error,
                   consecutive_failures=health.consecutive_failures, circuit=health.circuit,
                   next_poll_at=health.next_poll_at, items_total=health.items_total, lag=health.lag_seconds,
                   state=health.state, unresolved=list(health.unresolved))
