"""``unlinked`` exceptions: events that name nothing they are about are counted, never orphan transactions.

An event without any identity ref (an ``unknown`` type, or a mapping that found no id) would otherwise be a
transaction of its own that no search finds. The recorder stores it without a transaction; this keeps ONE
open exception per source and event type (rule ``event.unlinked``, subject ``<source>:<type>``) whose
evidence holds how many such events there are and the newest ones, so whoever owns the mapping sees it.
When a fixed mapping and a replay link them all, it resolves itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from hub.config import RoutingRule
from hub.exceptions.lifecycle import Changes, Finding, clear_exception, raise_exception
from hub.store import Connection
from hub.store.unlinked import unlinked

RULE = "event.unlinked"


async def flag_unlinked(conn: Connection, keys: Iterable[tuple[str, str]], *, source_kinds: Mapping[str, str],
                        routing: Sequence[RoutingRule], changes: Changes) -> None:
    """Open, refresh or resolve the ``unlinked`` exception of each ``(source, type)`` whose count may have changed."""
    for found in await unlinked(conn, keys):
        subject = f"{found.source}:{found.type}"
        if found.count == 0:
            await clear_exception(conn, rule=RULE, subject=subject, changes=changes,
                                  note="no unlinked event left: replayed with a mapping that names an identity")
            continue
        noun = "event" if found.count == 1 else "events"
        await raise_exception(conn, Finding(
            rule=RULE, type="unlinked", severity="warning", subject=subject, system=found.source,
            system_kind=source_kinds.get(found.source),
            message=(f"{found.count} {found.type} {noun} from {found.source} name no order, shipment or other object "
                     "(no identity ref), so they join no transaction: map an id for this type, then replay "
                     f"{found.source}'s deliveries"),
            evidence={"source": found.source, "type": found.type, "count": found.count,
                      "expected": "an identity ref", "actual": "none",
                      "first_received": found.first_received.isoformat() if found.first_received else None,
                      "last_received": found.last_received.isoformat() if found.last_received else None,
                      "latest_events": [event for event, _ in found.latest],
                      "latest_deliveries": [delivery for _, delivery in found.latest]}),
            routing=routing, changes=changes)
