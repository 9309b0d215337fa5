"""GraphQL cost budgets in the store: one leaky bucket per caller, shared by every hub process on PostgreSQL.

A row (caller, tokens, refilled_at) is the bucket's level at a time on the app's clock; the level now is that plus
the refill since, up to the bucket's size. :func:`take` is one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``:
PostgreSQL locks the caller's row for it, so concurrent takes on any process see each other's and a caller gets
one budget however many processes answer it. Each statement is its own short transaction on the engine, apart
from the in-process writer queue (a budget check never waits behind a normalizer batch) and from the caller's
read-your-writes window (charging a query is not the caller's write). With a ``read_url`` replica the take also
answers whether the request's caller wrote lately on any process (:mod:`hub.store.caller_writes`), in the same
round trip.

Times are the processes' wall clocks: machines in one cluster agree within NTP's error, which moves a refill by a
few points, and ``refilled_at`` never goes back, so a clock that is behind refills nothing rather than too much.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import Float, Text, bindparam, case, delete, func, literal, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import SQLAlchemyError

from hub.store import Store
from hub.store.caller_writes import FRESH, fresh_params
from hub.store.replica import current_caller
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


# Built once with parameters: each request only binds its values (building the statement took ~0.2 ms).
_AT, _SIZE, _RATE = bindparam("at", type_=Float), bindparam("size", type_=Float), bindparam("rate", type_=Float)
_COST, _WHO = bindparam("cost", type_=Float), bindparam("who", type_=Text)
# The stored row's level at ``:at``: the refill since, up to the bucket's ``:size``.
_REFILL = func.greatest(literal(0.0), _AT - cost_budgets.c.refilled_at) * _RATE
_LEVEL = func.least(_SIZE, cost_budgets.c.tokens + _REFILL)
_SINCE = func.greatest(cost_budgets.c.refilled_at, _AT)
_UPSERT = postgresql.insert(cost_budgets).values(caller=_WHO, tokens=_SIZE - _COST, refilled_at=_AT, granted=True)
_UPSERT = _UPSERT.on_conflict_do_update(
    index_elements=[cost_budgets.c.caller],
    set_={"tokens": case((_LEVEL >= _COST, _LEVEL - _COST), else_=_LEVEL), "refilled_at": _SINCE,
          "granted": _LEVEL >= _COST},
)
_TAKE = _UPSERT.returning(cost_budgets.c.tokens, cost_budgets.c.granted)
# With a replica: the same round trip also says whether the request's caller wrote lately on any process.
_TAKE_READING = _UPSERT.returning(cost_budgets.c.tokens, cost_budgets.c.granted, FRESH.label("wrote_lately"))
_SETTLE = (update(cost_budgets).where(cost_budgets.c.caller == _WHO)
           .values(tokens=func.least(_SIZE, _LEVEL + _COST), refilled_at=_SINCE).returning(cost_budgets.c.tokens))


def _params(bucket: Bucket, now: float, **more: object) -> dict[str, object]:
    return {"at": now, "size": float(bucket.size), "rate": bucket.rate, **more}


@_answering()
async def take(store: Store, bucket: Bucket, caller: str, cost: int, now: float) -> tuple[bool, float, int]:
    """Take ``cost`` points from ``caller``'s bucket when they are there: (taken, points left, seconds until it
    would fit); :class:`BudgetUnavailable` when the store does not answer. ``cost`` is at most the bucket's size
    (``max_cost <= cost_bucket``)."""
    params = _params(bucket, now, who=caller, cost=float(cost))
    reader = current_caller() if store.read_engine is not None and store.freshness.replica() is None else None
    async with store.engine.begin() as conn:
        if reader is None:
            row = (await conn.execute(_TAKE, params)).one()
        else:
            row = (await conn.execute(_TAKE_READING, params | fresh_params(reader, store.freshness.seconds))).one()
            store.freshness.learned(row.wrote_lately)
    if row.granted:
        return True, row.tokens, 0
    return False, row.tokens, max(1, math.ceil((cost - row.tokens) / bucket.rate))


@_answering()
async def settle(store: Store, bucket: Bucket, caller: str, refund: int, now: float) -> float:
    """Give back ``refund`` points (negative: take more, the level may go below zero); the points left."""
    async with store.engine.begin() as conn:
        left = (await conn.execute(_SETTLE, _params(bucket, now, who=caller, cost=float(refund)))).scalar()
    return float(bucket.size) if left is None else left


@_answering()
async def level(store: Store, bucket: Bucket, caller: str, now: float) -> float:
    """The points ``caller`` has now (a full bucket for a caller never seen)."""
    async with store.engine.connect() as conn:
        left = (await conn.execute(select(_LEVEL).where(cost_budgets.c.caller == _WHO),
                                   _params(bucket, now, who=caller))).scalar()
    return float(bucket.size) if left is None else left


@_answering()
async def forget_full(store: Store, bucket: Bucket, now: float) -> int:
    """Delete the rows of buckets that have refilled (a missing row is a full bucket); how many."""
    async with store.engine.begin() as conn:
        result = await conn.execute(delete(cost_budgets).where(_LEVEL >= _SIZE), _params(bucket, now))
    return result.rowcount or 0
