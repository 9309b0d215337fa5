"""Raw-ASGI helpers for the ingest endpoints (the hottest path: no framework per request, DESIGN §6)."""

from __future__ import annotations

import json
from typing import Any

import orjson

from hub.errors import HubError
from hub.ingest.request_body import read_body

Scope = dict[str, Any]
__all__ = ["media_type", "read_body", "request_headers", "send_error", "send_json"]


def request_headers(scope: Scope) -> dict[str, str]:
    """Header names lowercased (ASGI already gives them so); repeated headers joined with ``, ``."""
    result: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        result[name] = f"{result[name]}, {value}" if name in result else value
    return result


def media_type(headers: dict[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def send_json(send: Any, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    try:
        body = orjson.dumps(payload)
    except orjson.JSONEncodeError:  # a lone surrogate quoted from the request: escaped, never a 500
        body = json.dumps(payload).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Any, error: HubError) -> None:
    await send_json(send, error.status, error.body(), error.headers)
