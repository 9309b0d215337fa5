"""The notification log (operator role): endpoints and messages, resending one, enabling a disabled endpoint."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from hub.exceptions import notify_log
from schema.notification import Notification, NotificationEndpoint

_STATES = ("pending", "delivered", "failed")


@strawberry.type
class NotificationQuery:
    @strawberry.field(description="Every configured notification endpoint with its health and message counts.")
    async def notification_endpoints(self, info: strawberry.Info) -> list[NotificationEndpoint]:
        hub = info.context["hub"]
        found = await notify_log.endpoints(hub.started().store, hub.config.notifications)
        return [NotificationEndpoint.from_endpoint(item) for item in found]

    @strawberry.field(description="Outbound notifications, newest first, with their attempts: of one endpoint, in "
                                  "some states (pending, delivered, failed), older than the id `before`.")
    async def notifications(self, info: strawberry.Info, endpoint: str | None = None,
                            states: list[str] | None = None, first: int = 50,
                            before: strawberry.ID | None = None) -> list[Notification]:
        bad = [s for s in states or [] if s not in _STATES]
        if bad:
            raise GraphQLError(f"state {bad[0]!r} is not one of {', '.join(_STATES)}",
                               extensions={"code": "BAD_USER_INPUT"})
        found = await notify_log.messages(info.context["hub"].started().store, endpoint, states or (),
                                          max(1, min(first, 200)), str(before) if before else None)
        return [Notification.from_message(item) for item in found]


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(description="Send one notification again now (whatever its state), with a fresh count "
                                     "of attempts; null when there is no such notification.")
    async def resend_notification(self, info: strawberry.Info, id: strawberry.ID) -> Notification | None:
        hub = info.context["hub"]
        running = hub.started()
        message = await notify_log.resend(running.store, str(id), hub.now())
        if message is None:
            return None
        running.notifier.wake()
        return Notification.from_message(message)

    @strawberry.mutation(description="Enable an endpoint disabled after repeated failure: its waiting notifications "
                                     "go out and the exception that said so resolves. False when it was enabled.")
    async def enable_notification_endpoint(self, info: strawberry.Info, name: str) -> bool:
        hub = info.context["hub"]
        if name not in {target.name for target in hub.config.notifications}:
            raise GraphQLError(f"no notification endpoint named {name!r}", extensions={"code": "NOT_FOUND"})
        running = hub.started()
        enabled = await notify_log.enable(running.store, name, hub.now())
        if enabled:
            running.notifier.wake()
        return enabled
