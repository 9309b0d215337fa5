"""Events ``/ingest`` parsed, handed to the normalizer of the same process so a body is parsed once, not twice.

``/ingest`` parses and checks every event before it answers (a bad batch is the client's 400); a normalizer in the
same process takes those events for the delivery instead of parsing its body again. Only for the very body and
traceparent they were parsed from, and once: anything else is parsed as before (a replay, a delivery another
process normalizes, an entry pushed out). At most ``max_events`` events wait, the oldest pushed out first, so
memory stays bounded when the normalizer lags behind or runs elsewhere.
"""

from __future__ import annotations

from collections import OrderedDict

from hub.model import Event


class Handoff:
    def __init__(self, max_events: int = 4_000) -> None:
        self._max_events = max_events
        self._waiting: OrderedDict[str, tuple[bytes, str | None, list[Event]]] = OrderedDict()
        self._events = 0

    def put(self, delivery_id: str, body: bytes, traceparent: str | None, events: list[Event]) -> None:
        """The checked events parsed from the delivery's ``body`` (under its ``traceparent`` header)."""
        if len(events) > self._max_events or delivery_id in self._waiting:
            return
        self._waiting[delivery_id] = (body, traceparent, events)
        self._events += len(events)
        while self._events > self._max_events:
            _, (_, _, pushed_out) = self._waiting.popitem(last=False)
            self._events -= len(pushed_out)

    def take(self, delivery_id: str, body: bytes, traceparent: str | None) -> list[Event] | None:
        """The events put for this delivery if they were parsed from this body and traceparent, else None."""
        entry = self._waiting.pop(delivery_id, None)
        if entry is None:
            return None
        self._events -= len(entry[2])
        parsed_body, parsed_traceparent, events = entry
        return events if parsed_traceparent == traceparent and parsed_body == body else None

    def __len__(self) -> int:
        return self._events
