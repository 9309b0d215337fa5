"""hub.periodic.Periodic: more work runs again at once, a failing step is logged and the loop survives."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hub.periodic import Periodic


@pytest.mark.asyncio
async def test_a_step_with_more_waiting_runs_again_and_a_failure_does_not_end_the_loop(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    third = asyncio.Event()

    async def step() -> bool:
        calls.append(len(calls) + 1)
        if len(calls) == 3:
            third.set()
            raise RuntimeError("store restarting")
        return True  # more is due: the loop must not sleep an hour before the next call

    loop = Periodic("test-loop", step, logging.getLogger("test.periodic"))
    loop.start(3600)
    async with asyncio.timeout(30):  # a bound against hanging, not a timing assertion
        await third.wait()
    await asyncio.sleep(0)
    await loop.stop()  # the task is still alive (sleeping after the failure) and stops cleanly
    assert calls == [1, 2, 3]
    assert "test-loop: step failed" in caplog.text and "store restarting" in caplog.text
