"""The store's writer lock: one writer at a time, urgent writers first, background ones never starved."""

from __future__ import annotations

import asyncio

import pytest

from hub.store import _WriterLock


async def _order_of(lock: _WriterLock, waiters: list[tuple[str, bool]]) -> list[str]:
    served: list[str] = []

    async def writer(name: str, urgent: bool) -> None:
        await lock.acquire(urgent)
        served.append(name)
        await asyncio.sleep(0)
        lock.release()

    await lock.acquire(urgent=False)  # held while everyone queues up
    tasks = []
    for name, urgent in waiters:
        tasks.append(asyncio.create_task(writer(name, urgent)))
        await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    return served


@pytest.mark.asyncio
async def test_urgent_writers_go_before_background_ones_in_arrival_order() -> None:
    order = await _order_of(_WriterLock(), [("b1", False), ("u1", True), ("b2", False), ("u2", True)])
    assert order == ["u1", "u2", "b1", "b2"]


@pytest.mark.asyncio
async def test_a_background_writer_is_served_after_fairness_urgent_turns() -> None:
    order = await _order_of(_WriterLock(fairness=2), [("b1", False), *[(f"u{n}", True) for n in range(1, 5)]])
    assert order == ["u1", "u2", "b1", "u3", "u4"]


@pytest.mark.asyncio
async def test_a_cancelled_waiter_does_not_keep_the_lock() -> None:
    lock = _WriterLock()
    await lock.acquire(urgent=False)
    waiting = asyncio.create_task(lock.acquire(urgent=True))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    lock.release()
    await asyncio.wait_for(lock.acquire(urgent=False), 1)  # free again: the cancelled waiter never took it
    lock.release()
