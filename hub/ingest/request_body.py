"""Reading a request body under a size limit, for raw-ASGI endpoints (webhooks, ``/ingest``, ``/graphql``)."""

from __future__ import annotations

from typing import Any

from hub.errors import PayloadTooLarge


async def read_body(receive: Any, headers: dict[str, str], limit: int) -> bytes:
    """The request body, refusing with 413 as soon as it exceeds ``limit`` bytes: a declared ``Content-Length``
    over the limit is refused before anything is read, a streamed (chunked) body as soon as the count passes it,
    so an oversized body is never held in memory whole."""
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)
