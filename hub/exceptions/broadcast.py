"""In-process fan-out of exception changes to live subscribers (GraphQL ``exceptionEvents``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable

from hub.exceptions.lifecycle import Change


class Broadcaster:
    """Each subscriber gets its own bounded queue; a subscriber too slow to keep up loses the oldest items,
    never blocks ingest."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queues: set[asyncio.Queue[Change]] = set()
        self._size = queue_size
        self.forward: Callable[[list[Change]], None] | None = None  # to other processes (hub.exceptions.relay)

    def publish(self, changes: Iterable[Change]) -> None:
        """Changes made by this process: to its subscribers, and forwarded to the other processes'."""
        changes = list(changes)
        self.publish_local(changes)
        if self.forward is not None and changes:
            self.forward(changes)

    def publish_local(self, changes: Iterable[Change]) -> None:
        """Changes to hand to this process's subscribers only (another process made them)."""
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
