"""In-process fan-out of exception changes to live subscribers (GraphQL ``exceptionEvents``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from hub.exceptions.lifecycle import Change


class Broadcaster:
    """Each subscriber gets its own bounded queue; a subscriber too slow to keep up loses the oldest items,
    never blocks ingest."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queues: set[asyncio.Queue[Change]] = set()
        self._size = queue_size

    def publish(self, changes: Iterable[Change]) -> None:
        for change in changes:
            for queue in self._queues:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(change)

    async def subscribe(self) -> AsyncIterator[Change]:
        queue: asyncio.Queue[Change] = asyncio.Queue(self._size)
        self._queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._queues)
