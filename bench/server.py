"""ASGI apps uvicorn serves in the webhook bench: the real hub and a bare raw-ASGI hello.

``python -m uvicorn --factory bench.server:hub_app`` reads the store URL from ``BENCH_STORE_URL``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from bench.common import bench_config

_HELLO_BODY = b'{"delivery":"dlv_hello"}'
_HELLO_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_HELLO_BODY)).encode())]


def hub_app() -> Any:
    """The real hub (create_app), exactly as ``crosstrace serve`` builds it, on the bench config."""
    from hub.app import create_app

    return create_app(bench_config(os.environ["BENCH_STORE_URL"]))


def hub_web() -> Any:
    """The real hub as ``crosstrace serve --role web`` builds it: receiver, GraphQL and UI, no background duties
    (``python -m bench.server worker`` runs them in another process)."""
    from hub.app import create_app

    return create_app(bench_config(os.environ["BENCH_STORE_URL"]), role="web")


def hub_receive_only() -> Any:
    """The real hub with its normalizer loop parked: what the receiver does when nothing shares its loop or writer.

    The upper bound of moving the normalizer out of the server's event loop and off its writer (issue 14, item 3);
    deliveries stay pending. Bench only: ``crosstrace serve`` always runs the normalizer.
    """
    from hub.ingest.normalize import Normalizer

    async def parked(self: Normalizer) -> None:
        await asyncio.Event().wait()  # cancelled by Normalizer.stop() like the real loop

    Normalizer._run = parked  # type: ignore[method-assign]  # this server process only
    return hub_app()


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The floor: reads the request body like the receiver does and answers 202 with a small JSON body."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 202, "headers": _HELLO_HEADERS})
    await send({"type": "http.response.body", "body": _HELLO_BODY})


if __name__ == "__main__":  # python -m bench.server worker: `crosstrace worker` on the bench config
    import sys

    from hub.worker import run_worker

    assert sys.argv[1:] == ["worker"], "usage: python -m bench.server worker"
    raise SystemExit(run_worker(bench_config(os.environ["BENCH_STORE_URL"])))
