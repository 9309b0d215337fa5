"""Maintenance windows: list them (viewer), announce and end them (operator, audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from graphql import GraphQLError

from hub.exceptions import maintenance
from resolvers.permissions import require_operator
from schema.maintenance import MaintenanceWindow


@strawberry.type
class MaintenanceQuery:
    @strawberry.field(description="Maintenance windows under way or announced (configured and operators'), by start.")
    async def maintenance_windows(self, info: strawberry.Info) -> list[MaintenanceWindow]:
        hub = info.context["hub"]
        now = hub.now()
        async with hub.started().store.read() as conn:
            found = await maintenance.windows(conn, hub.config, now)
        return [MaintenanceWindow.of(window, now) for window in found]


@strawberry.type
class MaintenanceMutation:
    @strawberry.mutation(description="Announce that a source is under maintenance from `from` until `until` (at most "
                                     "14 days): the SLA clocks of the steps it owes and its silence alerts pause.")
    async def schedule_maintenance(self, info: strawberry.Info, source: str,
                                   from_: Annotated[datetime, strawberry.argument(name="from")], until: datetime,
                                   reason: str | None = None) -> MaintenanceWindow:
        hub = info.context["hub"]
        actor = require_operator(info)
        now = hub.now()
        try:
            async with hub.started().store.write() as conn:
                window = await maintenance.schedule(conn, hub.config, source, from_, until, reason, actor, now)
        except ValueError as exc:
            raise GraphQLError(str(exc), extensions={"code": "BAD_USER_INPUT"}) from None
        return MaintenanceWindow.of(window, now)

    @strawberry.mutation(description="End an announced maintenance window now; null when there is no such window.")
    async def end_maintenance(self, info: strawberry.Info, id: strawberry.ID) -> MaintenanceWindow | None:
        hub = info.context["hub"]
        now = hub.now()
        async with hub.started().store.write() as conn:
            window = await maintenance.end(conn, str(id), now)
        return MaintenanceWindow.of(window, now) if window is not None else None
