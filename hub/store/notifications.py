"""The notification outbox and the cursor that feeds it from exception history (:mod:`hub.exceptions.notify`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import (
    exception_history,
    exceptions,
    notification_attempts,
    notification_cursor,
    notification_endpoints,
    notification_outbox,
)


async def cursor_at(conn: AsyncConnection, name: str) -> int | None:
    """The history id the cursor ``name`` has read up to, or None when it was never placed."""
    return (await conn.execute(select(notification_cursor.c.history_id)
                               .where(notification_cursor.c.name == name))).scalar_one_or_none()


async def place_cursor(conn: AsyncConnection, name: str, history_id: int, *, new: bool = False) -> None:
    """Move the cursor ``name`` to ``history_id`` (``new``: create it there)."""
    if new:
        await conn.execute(notification_cursor.insert().values(name=name, history_id=history_id))
    else:
        await conn.execute(update(notification_cursor).where(notification_cursor.c.name == name)
                           .values(history_id=history_id))


async def last_history_id(conn: AsyncConnection) -> int:
    """The newest exception history entry's id (0 when there is none)."""
    return (await conn.execute(select(func.max(exception_history.c.id)))).scalar_one() or 0


async def history_after(conn: AsyncConnection, history_id: int, limit: int) -> list[Any]:
    """History entries after ``history_id``, oldest first, each with its exception's columns and ``history_id``,
    ``history_action``, ``actor``, ``note``, ``at``."""
    h = exception_history.c
    return list((await conn.execute(
        select(exceptions, h.id.label("history_id"), h.action.label("history_action"), h.actor, h.note, h.at)
        .join(exceptions, exceptions.c.id == h.exception_id).where(h.id > history_id)
        .order_by(h.id).limit(limit))).all())


async def add_to_outbox(conn: AsyncConnection, messages: list[dict[str, Any]]) -> None:
    if messages:
        await conn.execute(notification_outbox.insert(), messages)


async def due_messages(conn: AsyncConnection, now: datetime, limit: int, skip_targets: Sequence[str] = ()) -> list[Any]:
    """Pending outbox rows due by ``now``, the longest due first (none for the ``skip_targets``: disabled)."""
    outbox = notification_outbox.c
    query = select(notification_outbox).where(outbox.state == "pending", outbox.next_attempt_at <= now)
    if skip_targets:
        query = query.where(outbox.target.not_in(list(skip_targets)))
    return list((await conn.execute(query.order_by(outbox.next_attempt_at, outbox.id).limit(limit))).all())


async def update_message(conn: AsyncConnection, message_id: str, **values: Any) -> None:
    await conn.execute(update(notification_outbox).where(notification_outbox.c.id == message_id).values(**values))


@dataclass(frozen=True, slots=True)
class EndpointState:
    """One endpoint's delivery record: failed attempts in a row, and since when it is disabled (None: enabled)."""

    target: str
    consecutive_failures: int = 0
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    disabled_at: datetime | None = None
    disabled_reason: str | None = None


async def endpoint_states(conn: AsyncConnection) -> dict[str, EndpointState]:
    """Every endpoint that has been attempted, by target name."""
    rows = await conn.execute(select(notification_endpoints))
    return {row.target: EndpointState(row.target, row.consecutive_failures, row.last_attempt_at, row.last_success_at,
                                      row.disabled_at, row.disabled_reason) for row in rows}


async def record_attempt(conn: AsyncConnection, message_id: str, target: str, at: datetime, status_code: int | None,
                         error: str | None) -> int:
    """Log one attempt and move its endpoint's count of failures in a row; returns that count (0 after a success)."""
    await conn.execute(notification_attempts.insert().values(message_id=message_id, target=target, at=at,
                                                             status_code=status_code, error=error))
    ends = notification_endpoints.c
    current = (await conn.execute(select(ends.consecutive_failures).where(ends.target == target))).scalar()
    if current is None:
        await conn.execute(notification_endpoints.insert().values(target=target, consecutive_failures=0))
        current = 0
    failures = 0 if error is None else current + 1
    values: dict[str, Any] = {"consecutive_failures": failures, "last_attempt_at": at}
    if error is None:
        values["last_success_at"] = at
    await conn.execute(update(notification_endpoints).where(ends.target == target).values(**values))
    return failures


async def set_endpoint_disabled(conn: AsyncConnection, target: str, at: datetime | None, reason: str | None) -> bool:
    """Disable (``at`` set) or enable (``at`` None: its failure count starts again) an endpoint; False when it was
    already so."""
    ends = notification_endpoints.c
    row = (await conn.execute(select(ends.disabled_at).where(ends.target == target))).first()
    if row is None:
        await conn.execute(notification_endpoints.insert().values(target=target, consecutive_failures=0))
    elif (row.disabled_at is None) == (at is None):
        return False
    values: dict[str, Any] = {"disabled_at": at, "disabled_reason": reason}
    if at is None:
        values["consecutive_failures"] = 0
    await conn.execute(update(notification_endpoints).where(ends.target == target).values(**values))
    return True


async def message_page(conn: AsyncConnection, target: str | None, states: Sequence[str], limit: int,
                       before: str | None = None) -> list[Any]:
    """Outbox rows, newest first: of one target, in some states, older than the id ``before``."""
    outbox = notification_outbox.c
    query = select(notification_outbox)
    if target is not None:
        query = query.where(outbox.target == target)
    if states:
        query = query.where(outbox.state.in_(list(states)))
    if before is not None:
        query = query.where(outbox.id < before)
    return list((await conn.execute(query.order_by(outbox.id.desc()).limit(limit))).all())


async def message_counts(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    """Per target, how many outbox rows are in each state."""
    outbox = notification_outbox.c
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for target, state, n in await conn.execute(select(outbox.target, outbox.state, func.count())
                                                .group_by(outbox.target, outbox.state)):
        counts[target][state] = n
    return counts


async def attempts_of(conn: AsyncConnection, message_ids: Sequence[str]) -> dict[str, list[Any]]:
    """Each message's attempts, oldest first."""
    found: dict[str, list[Any]] = defaultdict(list)
    if message_ids:
        a = notification_attempts.c
        for row in await conn.execute(select(notification_attempts).where(a.message_id.in_(list(message_ids)))
                                      .order_by(a.message_id, a.id)):
            found[row.message_id].append(row)
    return found


async def message_by_id(conn: AsyncConnection, message_id: str) -> Any:
    return (await conn.execute(select(notification_outbox).where(notification_outbox.c.id == message_id))).first()


async def next_attempts(conn: AsyncConnection) -> dict[str, datetime]:
    """Per target, when its next pending message is due."""
    outbox = notification_outbox.c
    return dict((await conn.execute(select(outbox.target, func.min(outbox.next_attempt_at))
                                    .where(outbox.state == "pending").group_by(outbox.target))).all())


async def resend_message(conn: AsyncConnection, message_id: str, now: datetime) -> bool:
    """Send one message again from now, with a fresh count of attempts (its attempt log stays); False if unknown."""
    result = await conn.execute(update(notification_outbox).where(notification_outbox.c.id == message_id)
                                .values(state="pending", attempts=0, next_attempt_at=now))
    return bool(result.rowcount)


async def release_target(conn: AsyncConnection, target: str, now: datetime) -> None:
    """Make an enabled endpoint's pending messages due now (they waited while it was disabled)."""
    outbox = notification_outbox.c
    await conn.execute(update(notification_outbox).where(outbox.target == target, outbox.state == "pending")
                       .values(next_attempt_at=now))
