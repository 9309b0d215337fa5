"""Read-your-writes across processes: when each caller last wrote, kept in one table on the primary (PostgreSQL with
a ``read_url`` replica; hub/store/replica.py says why a time window).

A caller's write transaction marks it (:func:`mark`) as its last statement before the commit, so the mark commits
with the write or not at all. Times are the primary's ``clock_timestamp()``: every process compares against one
clock, whatever its own says. A process reading for a caller asks once per request whether the caller wrote within
``fresh_seconds``: inside the GraphQL cost-budget take's statement (:data:`FRESH`, hub/store/cost_budgets.py), so a
GraphQL request pays no extra round trip, or with one primary-key lookup (:func:`wrote_lately`) for a page or an
export.

The table is UNLOGGED (migration 0024): no WAL for a row rewritten on every write of a caller; a crash of the
primary empties it, which only lets the callers of the last few seconds read the replica early (a ref the replica
lacks is still looked up on the primary).
"""

from __future__ import annotations

from sqlalchemy import Float, Text, bindparam, delete, exists, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import caller_writes

__all__ = ["FRESH", "fresh_params", "mark", "wrote_lately"]

_NOW = func.extract("epoch", func.clock_timestamp())
_READER, _SECONDS = bindparam("reader", type_=Text), bindparam("fresh_seconds", type_=Float)
FRESH = exists().where(caller_writes.c.caller == _READER, caller_writes.c.wrote_at > _NOW - _SECONDS)
"""Did ``:reader`` write within ``:fresh_seconds``: an expression to select beside another statement's columns."""
_MARK = postgresql.insert(caller_writes).values(caller=_READER, wrote_at=_NOW).on_conflict_do_update(
    index_elements=[caller_writes.c.caller], set_={"wrote_at": _NOW})
_FORGET = delete(caller_writes).where(caller_writes.c.wrote_at <= _NOW - _SECONDS)


def fresh_params(caller: str, seconds: float) -> dict[str, object]:
    """The parameters :data:`FRESH` binds."""
    return {"reader": caller, "fresh_seconds": seconds}


async def mark(conn: AsyncConnection, caller: str, *, forget_older_than: float | None = None) -> None:
    """``caller`` writes now (in ``conn``'s transaction); ``forget_older_than``: also delete the marks older than
    that many seconds (they say nothing any more)."""
    if forget_older_than is not None:
        await conn.execute(_FORGET, {"fresh_seconds": forget_older_than})
    await conn.execute(_MARK, {"reader": caller})


async def wrote_lately(conn: AsyncConnection, caller: str, seconds: float) -> bool:
    """Did ``caller`` write within the last ``seconds`` (any process; read on the primary)."""
    return bool((await conn.execute(select(FRESH), fresh_params(caller, seconds))).scalar())
