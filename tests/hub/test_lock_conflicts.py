"""A deadlock PostgreSQL breaks between a normalizer batch (or a periodic duty) and another process is one warning line,
and the work is retried: no traceback, nothing lost (issue 15 item 3).

The deadlock is forced on the real PostgreSQL with two connections locking in opposite order: another process
holds a transaction's row, the normalizer's batch takes its key locks and waits for that row, and the other process
then asks for one of the batch's key locks. The batch waited first, so its deadlock check runs first and fails it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from hub.periodic import Periodic
from hub.store import is_lock_conflict, is_transient
from hub.store.correlation_locks import lock_id
from tests.conftest import scratch_database
from tests.support import cloudevent, dumps, running_app, signed_headers


@pytest_asyncio.fixture
async def pg_url() -> AsyncIterator[str]:
    async with scratch_database() as url:
        yield url


async def _post(client, refs: list[tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
    body = dumps(cloudevent("erp", "erp.posted", refs))
    assert (await client.post("/hooks/erp", content=body, headers=signed_headers(body))).status_code == 202


async def _scalar(conn: AsyncConnection, sql: str, **params: object) -> object:
    return (await conn.execute(text(sql), params)).scalar()


async def _until(conn: AsyncConnection, sql: str, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout  # a liveness bound, not a timing assertion
    while not await _scalar(conn, sql):
        assert time.monotonic() < deadline, f"{what} not in time"
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_a_deadlock_with_another_process_is_one_warning_and_the_batch_is_retried(
        pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    other = create_async_engine(pg_url)  # "another process": a connection of its own
    try:
        async with running_app(pg_url) as (client, hub):
            await _post(client, [("erp:sales_order", "SO-1")])
            await hub.normalizer.run_until_idle()
            async with other.connect() as conn:
                tx_id = await _scalar(conn, "SELECT tx_id FROM ref_keys WHERE value = 'SO-1'")
                await conn.commit()
                await _scalar(conn, "SELECT id FROM transactions WHERE id = :id FOR UPDATE", id=tx_id)
                await _post(client, [("erp:sales_order", "SO-1"), ("shop:order", "77")])  # its loop takes it
                await _until(conn, "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'",
                             "the batch waiting for the transaction's row")
                # the opposite order: the batch's key lock, which it holds while it waits for the row held here
                await _scalar(conn, "SELECT pg_advisory_xact_lock(:key)", key=lock_id("ref", "erp:sales_order", "SO-1"))
                await conn.commit()
                await _until(conn, "SELECT count(*) = 2 FROM events", "the retried batch recorded")
                assert await _scalar(conn, "SELECT count(DISTINCT tx_id) FROM events") == 1
    finally:
        await other.dispose()
    retried = [r for r in caplog.records if "lock conflict" in r.getMessage()]
    assert retried and all(r.levelno == logging.WARNING and r.exc_info is None for r in retried), retried
    assert "deadlock detected" in retried[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], [
        (r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def _deadlock(url: str) -> Exception:
    """What PostgreSQL raises in the one of two connections it fails when they lock two keys in opposite order."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as one, engine.connect() as two:
            await one.execute(text("SELECT pg_advisory_xact_lock(1)"))
            await two.execute(text("SELECT pg_advisory_xact_lock(2)"))
            outcomes = await asyncio.gather(one.execute(text("SELECT pg_advisory_xact_lock(2)")),
                                            two.execute(text("SELECT pg_advisory_xact_lock(1)")),
                                            return_exceptions=True)
    finally:
        await engine.dispose()
    failed = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert len(failed) == 1, outcomes
    return failed[0]


@pytest.mark.asyncio
async def test_a_periodic_duty_that_lost_a_deadlock_logs_one_warning_and_ticks_again(
        pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    deadlock = await _deadlock(pg_url)
    assert is_lock_conflict(deadlock) and is_transient(deadlock)
    calls: list[int] = []
    again = asyncio.Event()

    async def step() -> bool:
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            raise deadlock
        again.set()
        return False

    loop = Periodic("test-duty", step, logging.getLogger("test.periodic"))
    loop.start(0.05)
    async with asyncio.timeout(30):  # a bound against hanging, not a timing assertion
        await again.wait()
    await loop.stop()
    logged = [r for r in caplog.records if r.name == "test.periodic"]
    assert [(r.levelno, r.exc_info) for r in logged] == [(logging.WARNING, None)], logged
    assert "test-duty: step retried after a lock conflict" in logged[0].getMessage()
    assert "deadlock detected" in logged[0].getMessage()
