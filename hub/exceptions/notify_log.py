"""The outbound notification log for operators (issue 17 item 6): per endpoint its health, per message its
attempts; a resend of one message; enabling an endpoint the notifier disabled after repeated failure.

The notifier (:mod:`hub.exceptions.notify`) writes the log as it sends; this module reads it and acts on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.exceptions.lifecycle import clear_exception
from hub.exceptions.notify_targets import Target
from hub.store import Store
from hub.store import notifications as outbox

DISABLED_RULE = "notify.endpoint_disabled"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One configured endpoint: whether it is enabled, its failures in a row, its messages by state, next retry."""

    name: str
    url: str
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    consecutive_failures: int
    disable_after: int
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    next_attempt_at: datetime | None
    pending: int
    delivered: int
    failed: int


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Message:
    """One outbox row with its attempts, oldest first."""

    id: str
    target: str
    exception_id: str
    action: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    log: list[Attempt] = field(default_factory=list)


async def endpoints(store: Store, targets: Sequence[Target]) -> list[Endpoint]:
    """Every configured endpoint, in config order."""
    async with store.read() as conn:
        states = await outbox.endpoint_states(conn)
        counts = await outbox.message_counts(conn)
        due = await outbox.next_attempts(conn)
    found = []
    for target in targets:
        state = states.get(target.name, outbox.EndpointState(target.name))
        by_state = counts.get(target.name, {})
        found.append(Endpoint(target.name, target.url, state.disabled_at is None, state.disabled_at,
                              state.disabled_reason, state.consecutive_failures, target.disable_after,
                              state.last_attempt_at, state.last_success_at, due.get(target.name),
                              by_state.get("pending", 0), by_state.get("delivered", 0), by_state.get("failed", 0)))
    return found


async def messages(store: Store, target: str | None = None, states: Sequence[str] = (), first: int = 50,
                   before: str | None = None) -> list[Message]:
    """Outbox messages, newest first, each with its attempts."""
    async with store.read() as conn:
        rows = await outbox.message_page(conn, target, states, first, before)
        attempts = await outbox.attempts_of(conn, [row.id for row in rows])
    return [_message(row, attempts.get(row.id, [])) for row in rows]


def _message(row: Any, attempts: list[Any]) -> Message:
    return Message(row.id, row.target, row.exception_id, row.action, row.state, row.attempts, row.created_at,
                   row.next_attempt_at if row.state == "pending" else None, row.delivered_at, row.last_error,
                   [Attempt(a.at, a.status_code, a.error) for a in attempts])


async def resend(store: Store, message_id: str, now: datetime) -> Message | None:
    """Send one message again from ``now`` (delivered, failed or pending alike); None when there is no such one."""
    async with store.write() as conn:
        if not await outbox.resend_message(conn, message_id, now):
            return None
        row = await outbox.message_by_id(conn, message_id)
        attempts = await outbox.attempts_of(conn, [message_id])
    return _message(row, attempts.get(message_id, []))


async def enable(store: Store, target: str, now: datetime) -> bool:
    """Enable an endpoint again: its failures count from zero, its waiting messages are due now and the exception
    that said it was disabled resolves. False when it was not disabled."""
    async with store.write() as conn:
        if not await outbox.set_endpoint_disabled(conn, target, None, None):
            return False
        await outbox.release_target(conn, target, now)
        await clear_exception(conn, rule=DISABLED_RULE, subject=target, note="the endpoint was enabled again",
                              now=now)
    return True


__all__ = ["Attempt", "DISABLED_RULE", "Endpoint", "Message", "enable", "endpoints", "messages", "resend"]
