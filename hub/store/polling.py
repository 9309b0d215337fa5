"""Pollers' committed cursors and health (``poll_state``), and the reads behind each source's health."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import deliveries, events, poll_state, refs


async def poll_state_of(conn: AsyncConnection, source: str) -> dict[str, Any] | None:
    """The source's ``poll_state`` row as a dict of its columns, or None before its first poll."""
    row = (await conn.execute(select(poll_state).where(poll_state.c.source == source))).mappings().first()
    return None if row is None else dict(row)


async def locked_cursor(conn: AsyncConnection, source: str) -> str | None:
    """The source's stored cursor, its row locked to the end of the transaction (None before the first poll)."""
    return (await conn.execute(select(poll_state.c.cursor).where(poll_state.c.source == source)
                               .with_for_update())).scalar_one_or_none()


async def all_poll_states(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every ``poll_state`` row, by source name."""
    return [dict(row) for row in (await conn.execute(select(poll_state).order_by(poll_state.c.source))).mappings()]


async def save_poll_state(conn: AsyncConnection, source: str, values: dict[str, Any], *,
                          add_items: bool = False) -> None:
    """Create or update the source's row with ``values``; ``add_items``: add ``items_total`` to the stored count."""
    statement = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(poll_state).values(
        source=source, **values)
    updates = {name: statement.excluded[name] for name in values if name != "items_total"}
    if add_items:
        updates["items_total"] = poll_state.c.items_total + statement.excluded.items_total
    await conn.execute(statement.on_conflict_do_update(index_elements=[poll_state.c.source], set_=updates))


async def last_delivery_at(conn: AsyncConnection, sources: Sequence[str]) -> dict[str, Any]:
    """When each source's newest delivery was received (None: never), in one statement.

    One ``max(received_at)`` per source, each answered from the ``(source, received_at)`` index, rather than a
    ``GROUP BY`` that reads every delivery ever stored. SQLite hands the value back as text.
    """
    if not sources:
        return {}
    latest = [select(func.max(deliveries.c.received_at)).where(deliveries.c.source == name)
              .scalar_subquery().label(f"s{index}") for index, name in enumerate(sources)]
    row = (await conn.execute(select(*latest))).one()
    return {name: row[index] for index, name in enumerate(sources)}


async def unresolved_refs(conn: AsyncConnection, source: str, limit: int) -> list[tuple[str, str]]:
    """``(namespace, value)`` of the ``<source>:unresolved_<object>`` refs not resolved since, at most ``limit``.

    A ref counts while no event received after its newest marked one carries the plain ``<source>:<object>``
    ref with the same value. Index ranges on ``refs (namespace, value)``.
    """
    prefix = f"{source}:unresolved_"
    marked, marked_event = refs.alias("marked"), events.alias("marked_event")
    newest = (select(marked.c.namespace, marked.c.value, func.max(marked_event.c.received_at).label("at"))
              .join(marked_event, marked_event.c.id == marked.c.event_id)
              .where(marked.c.namespace >= prefix, marked.c.namespace < prefix[:-1] + "`")  # "`" follows "_"
              .group_by(marked.c.namespace, marked.c.value).subquery())
    plain, plain_event = refs.alias("plain"), events.alias("plain_event")
    resolved_later = (select(plain.c.event_id).join(plain_event, plain_event.c.id == plain.c.event_id)
                      .where(plain.c.namespace == func.replace(newest.c.namespace, "unresolved_", ""),
                             plain.c.value == newest.c.value, plain_event.c.received_at > newest.c.at))
    rows = (await conn.execute(select(newest.c.namespace, newest.c.value).where(~exists(resolved_later))
                               .order_by(newest.c.namespace, newest.c.value).limit(limit))).all()
    return [(row.namespace, row.value) for row in rows]
