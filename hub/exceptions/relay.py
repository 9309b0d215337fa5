"""Exception changes across hub processes: what one process publishes, subscribers on every other one see.

Each process's :class:`~hub.exceptions.broadcast.Broadcaster` serves its own subscribers (GraphQL
``exceptionEvents``, the web queue's live updates, the notifier's wake-up). On PostgreSQL the relay also sends
every local change on a ``LISTEN/NOTIFY`` channel (hub/store/channel.py) and hands the changes other processes
sent to the local subscribers, so a subscriber on one process sees an exception another process opened.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime

from hub.exceptions.broadcast import Broadcaster
from hub.exceptions.lifecycle import Change
from hub.periodic import cancel_and_wait
from hub.store import Store
from hub.store.channel import MAX_PAYLOAD, Channel, open_channel

log = logging.getLogger(__name__)
CHANNEL = "crosstrace_exception_changes"
_FIELDS = ("exception_id", "action", "status", "type", "severity", "tx_id")


class Relay:
    def __init__(self, store: Store, broadcaster: Broadcaster, node: str) -> None:
        self._store, self._broadcaster, self._node = store, broadcaster, node
        self._outbox: asyncio.Queue[list[Change]] = asyncio.Queue(10_000)
        self._channel: Channel | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._channel = await open_channel(self._store, CHANNEL, self._received)
        if self._channel is not None:
            self._broadcaster.forward = self._forward
            self._task = asyncio.create_task(self._send_loop(), name="crosstrace-relay")

    async def stop(self) -> None:
        self._broadcaster.forward = None
        await cancel_and_wait([self._task])
        if self._channel is not None:
            await self._channel.close()

    def _forward(self, changes: list[Change]) -> None:
        if self._outbox.full():
            log.warning("relay: %d exception changes not sent to other processes (outbox full)", len(changes))
            return
        self._outbox.put_nowait(changes)

    async def _send_loop(self) -> None:
        assert self._channel is not None
        while True:
            changes = await self._outbox.get()
            try:
                for payload in _payloads(self._node, changes):
                    await self._channel.send(payload)
            except Exception:  # noqa: BLE001 - the store is restarting: local subscribers still had them
                log.exception("relay: exception changes not sent to other processes")

    def _received(self, payload: str) -> None:
        """A message on the channel: another process's changes, to this one's subscribers. A message this version
        cannot read (anyone with database access may NOTIFY) is logged and dropped; the next one is read."""
        try:
            message = json.loads(payload)
            if message["node"] == self._node:
                return
            changes = [Change(**{name: item[name] for name in _FIELDS}, at=datetime.fromisoformat(item["at"]))
                       for item in message["changes"]]
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("relay: unreadable message on %s dropped (%s: %s)", CHANNEL, type(exc).__name__, exc)
            return
        self._broadcaster.publish_local(changes)


def _payloads(node: str, changes: list[Change]) -> list[str]:
    """JSON messages of at most ``MAX_PAYLOAD`` bytes, each a part of ``changes``."""
    items = [{**{name: getattr(change, name) for name in _FIELDS}, "at": change.at.isoformat()} for change in changes]
    out: list[str] = []
    part: list[dict] = []
    for item in items:
        candidate = json.dumps({"node": node, "changes": [*part, item]})
        if part and len(candidate.encode()) > MAX_PAYLOAD:
            out.append(json.dumps({"node": node, "changes": part}))
            part = [item]
        else:
            part.append(item)
    if part:
        out.append(json.dumps({"node": node, "changes": part}))
    return out
