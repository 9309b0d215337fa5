"""Outbound notification endpoints and messages: the notification log operators read and repair."""

from __future__ import annotations

from datetime import datetime

import strawberry

from hub.exceptions.notify_log import Endpoint, Message


@strawberry.type(description="One delivery attempt of a notification.")
class NotificationAttempt:
    at: datetime
    status_code: int | None = strawberry.field(description="The endpoint's HTTP status; null: no answer.")
    error: str | None


@strawberry.type(description="One outbound notification (an exception change for one endpoint) and its attempts.")
class Notification:
    id: strawberry.ID = strawberry.field(description="Also the Standard Webhooks webhook-id it is sent with.")
    endpoint: str
    exception_id: strawberry.ID
    action: str
    state: str = strawberry.field(description="pending | delivered | failed")
    attempts: int = strawberry.field(description="Attempts since it was queued or last resent.")
    created_at: datetime
    next_attempt_at: datetime | None = strawberry.field(description="When it is tried next (pending only).")
    delivered_at: datetime | None
    last_error: str | None
    log: list[NotificationAttempt] = strawberry.field(description="Every attempt, oldest first.")

    @classmethod
    def from_message(cls, message: Message) -> Notification:
        return cls(id=strawberry.ID(message.id), endpoint=message.target,
                   exception_id=strawberry.ID(message.exception_id), action=message.action, state=message.state,
                   attempts=message.attempts, created_at=message.created_at, next_attempt_at=message.next_attempt_at,
                   delivered_at=message.delivered_at, last_error=message.last_error,
                   log=[NotificationAttempt(at=a.at, status_code=a.status_code, error=a.error) for a in message.log])


@strawberry.type(description="A configured notification endpoint ([[notifications]]) and how its deliveries go.")
class NotificationEndpoint:
    name: str
    url: str
    enabled: bool = strawberry.field(description="False once disabled after repeated failure, until enabled again.")
    disabled_at: datetime | None
    disabled_reason: str | None
    consecutive_failures: int
    disable_after_failures: int
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    next_attempt_at: datetime | None = strawberry.field(description="When its next pending notification is due.")
    pending: int
    delivered: int
    failed: int

    @classmethod
    def from_endpoint(cls, item: Endpoint) -> NotificationEndpoint:
        return cls(name=item.name, url=item.url, enabled=item.enabled, disabled_at=item.disabled_at,
                   disabled_reason=item.disabled_reason, consecutive_failures=item.consecutive_failures,
                   disable_after_failures=item.disable_after, last_attempt_at=item.last_attempt_at,
                   last_success_at=item.last_success_at, next_attempt_at=item.next_attempt_at, pending=item.pending,
                   delivered=item.delivered, failed=item.failed)
