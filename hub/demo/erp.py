"""The simulated ERP's REST API, which the hub polls with its generic REST poller (style ``rest``).

``GET /api/records?updated_since=<ISO>&limit=<n>&page=<p>``: records whose ``updated_at`` is at or after
``updated_since`` and not in the (simulated) future, oldest first, as ``{"items": [...]}``; the poller
walks pages by keyset on ``updated_at`` (see ``collectors/polling/rest.py``). During an outage window
every request answers ``503`` until the window ends, after which the poller catches up from its cursor.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from hub.demo.payloads import iso


class ErpApi:
    """A plain ASGI app over the scenario's ERP records (sorted by ``updated_at``) and outage windows."""

    def __init__(self, records: list[dict[str, Any]], outages: list[tuple[float, float]],
                 clock: Callable[[], float]) -> None:
        self._records = records
        self._outages = outages
        self._clock = clock
        self.requests = 0
        self.failed = 0
        self.last_caught_up: float | None = None  # simulated time of the last answer that reached "now"

    def in_outage(self, at: float) -> bool:
        return any(start <= at < end for start, end in self._outages)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        now = self._clock()
        self.requests += 1
        if scope["path"] != "/api/records":
            await _answer(send, 404, {"error": {"code": "not_found", "message": "no such resource"}})
            return
        if self.in_outage(now):
            self.failed += 1
            await _answer(send, 503, {"error": {"code": "unavailable", "message": "ERP maintenance in progress"}})
            return
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        try:
            limit = max(1, min(500, int(query.get("limit", "100"))))
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            await _answer(send, 400, {"error": {"code": "bad_request", "message": "limit and page are integers"}})
            return
        since, until = query.get("updated_since", ""), iso(now)
        visible = [r for r in self._records if since <= r["updated_at"] <= until]
        items = visible[(page - 1) * limit:page * limit]
        if page * limit >= len(visible):
            self.last_caught_up = now
        await _answer(send, 200, {"items": items, "page": page, "limit": limit})


async def _answer(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
