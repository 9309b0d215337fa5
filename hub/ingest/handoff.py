"""Events ``/ingest`` parsed, handed to the normalizer of the same process so a body is parsed once, not twice.

``/ingest`` parses and checks every event before it answers (a bad batch is the client's 400); a normalizer in the
same process takes those events for the delivery instead of parsing its body again. Only for the very body and
traceparent they were parsed from, and once: anything else is parsed as before (a replay, a delivery another
process normalized, one that found the handoff full). At most ``max_events`` events wait (~1 KB each with their
body): the normalizer takes the oldest deliveries first, so when it is full the new ones are not kept; entries
older than ``max_age`` seconds (deliveries another process took) are let go.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from hub.model import Event


class Handoff:
    def __init__(self, max_events: int = 8_000, max_age: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max_events = max_events
        self._max_age = max_age
        self._clock = clock
        self._waiting: OrderedDict[str, tuple[float, bytes, str | None, list[Event]]] = OrderedDict()
        self._events = 0

    def put(self, delivery_id: str, body: bytes, traceparent: str | None, events: list[Event]) -> None:
        """The checked events parsed from the delivery's ``body`` (under its ``traceparent`` header)."""
        now = self._clock()
        while self._waiting and next(iter(self._waiting.values()))[0] < now - self._max_age:
            self._events -= len(self._waiting.popitem(last=False)[1][3])
        if self._events + len(events) > self._max_events or delivery_id in self._waiting:
            return
        self._waiting[delivery_id] = (now, body, traceparent, events)
        self._events += len(events)

    def take(self, delivery_id: str, body: bytes, traceparent: str | None) -> list[Event] | None:
        """The events put for this delivery if they were parsed from this body and traceparent, else None."""
        entry = self._waiting.pop(delivery_id, None)
        if entry is None:
            return None
        _, parsed_body, parsed_traceparent, events = entry
        self._events -= len(events)
        return events if parsed_traceparent == traceparent and parsed_body == body else None

    def __len__(self) -> int:
        return self._events
