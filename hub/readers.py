"""Names the caller of each HTTP request for the store's read routing (a replica, with read-your-writes).

The caller is its ``Authorization`` header or its UI session cookie, hashed; a request with neither reads the
primary. A caller's write transactions mark it fresh (:meth:`hub.store.Store.write`); ``/ingest`` stores through
the inbox's own task, out of the request, so it marks its caller with :func:`ingested`.
See :mod:`hub.store.replica`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import cookie_parser

from hub.runtime import Hub
from hub.store.replica import reading_as

SESSION_COOKIE = "ct_session"  # web/guard.py's UI session (the web package sits above the hub)


def caller_of(scope: dict[str, Any]) -> str | None:
    """A stable name for who sent this request: their bearer key or their session, hashed; None for neither."""
    headers = dict(scope.get("headers", []))
    credential = headers.get(b"authorization", b"").decode("latin-1")
    if not credential:
        credential = cookie_parser(headers.get(b"cookie", b"").decode("latin-1")).get(SESSION_COOKIE, "")
    return hashlib.sha256(credential.encode()).hexdigest() if credential else None


def ingested(hub: Hub, scope: dict[str, Any], send: Any) -> Any:
    """``send`` for an ``/ingest`` request: once it is accepted (2xx), its caller's next reads go to the primary
    for a while, on every process (marked before the 2xx is sent)."""
    async def marking(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] < 300 and hub.store is not None:
            with reading_as(caller_of(scope)):
                await hub.store.wrote_elsewhere()
        await send(message)
    return marking


class ReadsForCaller:
    """ASGI middleware: the store's reads and writes in a request are made for its caller."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with reading_as(caller_of(scope)):
            await self.app(scope, receive, send)
