"""One bad item never holds up the others: a failing group is split in halves until the culprit is found.

Used wherever a background stage writes many items in one transaction (the normalizer's batches, the
evaluator's due transactions, alert rules, notification history): the common case stays one transaction;
a failure costs about ``2·log2(n)`` extra transactions and ends with the one item that cannot be written
handed to ``poisoned`` (dead-lettered, skipped, rescheduled — the caller's choice). A failure that says the
store itself is unavailable (:func:`hub.store.is_transient`) is not split: it propagates, and the caller's
loop retries later, with backoff, while ``/healthz`` shows the stall.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from hub.store import is_transient

__all__ = ["isolate"]

T = TypeVar("T")


async def isolate(items: Sequence[T], attempt: Callable[[Sequence[T]], Awaitable[None]],
                  poisoned: Callable[[T, Exception], Awaitable[None]]) -> int:
    """Run ``attempt(items)`` (which opens its own transaction: a failed one is rolled back whole); when it
    fails because of the data, bisect, keeping order, until each failing item alone goes to ``poisoned``.
    Returns how many items were poisoned; re-raises a transient (store unavailable) error."""
    if not items:
        return 0
    try:
        await attempt(items)
        return 0
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(items) == 1:
            await poisoned(items[0], exc)
            return 1
    middle = len(items) // 2
    return await isolate(items[:middle], attempt, poisoned) + await isolate(items[middle:], attempt, poisoned)
