"""GraphQL cost budgets in the store: one leaky bucket per caller, shared by every hub process on PostgreSQL.

A row (caller, tokens, refilled_at) is the bucket's level at a time on the app's clock; the level now is that plus
the refill since, up to the bucket's size. :func:`take` is one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``:
PostgreSQL locks the caller's row for it, so concurrent takes on any process see each other's and a caller gets
one budget however many processes answer it. Each statement is its own short transaction on the engine, apart
from the in-process writer queue (a budget check never waits behind a normalizer batch) and from the caller's
read-your-writes window (charging a query is not the caller's write).

Times are the processes' wall clocks: machines in one cluster agree within NTP's error, which moves a refill by a
few points, and ``refilled_at`` never goes back, so a clock that is behind refills nothing rather than too much.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import case, delete, func, literal, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import SQLAlchemyError

from hub.store import Store
from hub.store.tables import cost_budgets

__all__ = ["Bucket", "BudgetUnavailable", "forget_full", "level", "settle", "take"]


class BudgetUnavailable(Exception):
    """The store holding the budgets did not answer (or refused the statement)."""


@asynccontextmanager
async def _answering() -> AsyncIterator[None]:
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        raise BudgetUnavailable(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket's shape: ``size`` points, refilled at ``rate`` points per second."""

    size: int
    rate: float


def _level(bucket: Bucket, now: float):  # type: ignore[no-untyped-def]
    """The stored row's level at ``now`` (SQL)."""
    elapsed = func.greatest(literal(0.0), literal(now) - cost_budgets.c.refilled_at)
    return func.least(literal(float(bucket.size)), cost_budgets.c.tokens + elapsed * literal(bucket.rate))


def _since(now: float):  # type: ignore[no-untyped-def]
    return func.greatest(cost_budgets.c.refilled_at, literal(now))


@_answering()
async def take(store: Store, bucket: Bucket, caller: str, cost: int, now: float) -> tuple[bool, float, int]:
    """Take ``cost`` points from ``caller``'s bucket when they are there: (taken, points left, seconds until it
    would fit); :class:`BudgetUnavailable` when the store does not answer. ``cost`` is at most the bucket's size
    (``max_cost <= cost_bucket``)."""
    level = _level(bucket, now)
    statement = postgresql.insert(cost_budgets).values(
        caller=caller, tokens=float(bucket.size - cost), refilled_at=now, granted=True)
    statement = statement.on_conflict_do_update(
        index_elements=[cost_budgets.c.caller],
        set_={"tokens": case((level >= cost, level - cost), else_=level), "refilled_at": _since(now),
              "granted": level >= cost},
    ).returning(cost_budgets.c.tokens, cost_budgets.c.granted)
    async with store.engine.begin() as conn:
        row = (await conn.execute(statement)).one()
    if row.granted:
        return True, row.tokens, 0
    return False, row.tokens, max(1, math.ceil((cost - row.tokens) / bucket.rate))


@_answering()
async def settle(store: Store, bucket: Bucket, caller: str, refund: int, now: float) -> float:
    """Give back ``refund`` points (negative: take more, the level may go below zero); the points left."""
    statement = (update(cost_budgets).where(cost_budgets.c.caller == caller)
                 .values(tokens=func.least(literal(float(bucket.size)), _level(bucket, now) + refund),
                         refilled_at=_since(now))
                 .returning(cost_budgets.c.tokens))
    async with store.engine.begin() as conn:
        left = (await conn.execute(statement)).scalar()
    return float(bucket.size) if left is None else left


@_answering()
async def level(store: Store, bucket: Bucket, caller: str, now: float) -> float:
    """The points ``caller`` has now (a full bucket for a caller never seen)."""
    async with store.engine.connect() as conn:
        left = (await conn.execute(select(_level(bucket, now)).where(cost_budgets.c.caller == caller))).scalar()
    return float(bucket.size) if left is None else left


@_answering()
async def forget_full(store: Store, bucket: Bucket, now: float) -> int:
    """Delete the rows of buckets that have refilled (a missing row is a full bucket); how many."""
    async with store.engine.begin() as conn:
        result = await conn.execute(delete(cost_budgets).where(_level(bucket, now) >= bucket.size))
    return result.rowcount or 0
