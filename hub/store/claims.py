"""Claims on pending deliveries (PostgreSQL): several workers take the inbox's work, never share it.

A worker claims the oldest pending deliveries nobody holds, in a short transaction of its own: ``FOR UPDATE SKIP
LOCKED`` makes concurrent claimers pass over each other's rows instead of waiting for them or taking them too
(https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE), and the claim (``claimed_by``,
``claim_until``) lasts ``lease`` seconds on the database's clock, so machines' clocks never disagree about it.

The worker then records them in a write transaction that first locks them again and keeps only those still pending
and still claimed by it (:func:`keep_claimed`): a worker that stalled past its lease while another took its
deliveries over records nothing twice. A worker that dies leaves its claims to lapse; the next claimer takes
them after the lease. SQLite has one process and one writer: it needs none of this.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["claim", "keep_claimed", "release"]

_CLAIM = text("""
WITH taken AS (
    SELECT id FROM deliveries
    WHERE state = 'pending' AND (claim_until IS NULL OR claim_until < (now() AT TIME ZONE 'UTC'))
    ORDER BY id LIMIT :limit
    FOR UPDATE SKIP LOCKED)
UPDATE deliveries SET claimed_by = :holder,
                      claim_until = (now() AT TIME ZONE 'UTC') + make_interval(secs => :lease)
FROM taken WHERE deliveries.id = taken.id
RETURNING deliveries.id, length(deliveries.body) AS size
""")

_KEEP = text("""
SELECT id FROM deliveries
WHERE id = ANY(CAST(:ids AS text[])) AND state = 'pending' AND claimed_by = :holder
ORDER BY id FOR UPDATE
""")

_RELEASE = text("""
UPDATE deliveries SET claimed_by = NULL, claim_until = NULL
WHERE id = ANY(CAST(:ids AS text[])) AND claimed_by = :holder AND state = 'pending'
""")


async def claim(conn: AsyncConnection, holder: str, limit: int, lease: float) -> list[tuple[str, int]]:
    """Claim up to ``limit`` of the oldest unclaimed pending deliveries for ``holder``; their (id, body size),
    oldest first. Commit ``conn`` right after: the claim is what other workers see."""
    rows = (await conn.execute(_CLAIM, {"holder": holder, "limit": limit, "lease": float(lease)})).all()
    return sorted((row.id, row.size or 0) for row in rows)


async def keep_claimed(conn: AsyncConnection, holder: str, ids: Sequence[str]) -> set[str]:
    """Inside the write transaction that records them: lock ``ids`` and return those still pending and claimed
    by ``holder`` (the others were taken over, or finished, by another worker)."""
    if not ids:
        return set()
    return set((await conn.execute(_KEEP, {"ids": sorted(ids), "holder": holder})).scalars())


async def release(conn: AsyncConnection, holder: str, ids: Sequence[str]) -> None:
    """Give claimed deliveries back at once (claimed, then left for the next batch)."""
    if ids:
        await conn.execute(_RELEASE, {"ids": sorted(ids), "holder": holder})
