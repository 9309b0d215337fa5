"""``/export``: the lists as CSV and NDJSON, and the OCEL 2.0 log (JSON, SQLite) for tools without GraphQL.

- ``GET /export/{transactions|events|exceptions|deliveries}.{csv|ndjson}?source&kind&type&status&tx&since&until
  &limit`` — streamed in id order (see :mod:`hub.export.rows`).
- ``GET /export/ocel.json?since&until`` and ``/export/ocel.sqlite?since&until`` — :mod:`hub.export.ocel`.
An API key (``Authorization: Bearer``) with role viewer or above is required; personal data is masked for every
role but admin (:mod:`hub.access.privacy`). CSV cells that a spreadsheet would run as a formula are prefixed with ``'``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from hub.access.auth import authenticate, require_role
from hub.access.privacy import mask_json
from hub.errors import BadRequest, NotFound
from hub.export.ocel import ocel_json, write_sqlite
from hub.export.rows import COLUMNS, LISTS, ExportFilter, export_rows
from hub.runtime import Hub

_FILTERS = ("source", "kind", "type", "status", "tx", "since", "until", "limit")


def _when(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"`{name}` must be an ISO 8601 time such as 2026-11-01T00:00:00Z") from None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def parse_filter(request: Request) -> ExportFilter:
    """The query parameters as an :class:`ExportFilter`; :class:`BadRequest` names a wrong one."""
    params = request.query_params
    unknown = sorted(set(params) - set(_FILTERS))
    if unknown:
        raise BadRequest(f"unknown filter {unknown[0]!r}: use {', '.join(_FILTERS)}")
    limit = None
    if params.get("limit"):
        if not params["limit"].isdigit() or int(params["limit"]) < 1:
            raise BadRequest("`limit` must be a positive integer")
        limit = int(params["limit"])
    return ExportFilter(source=params.get("source"), kind=params.get("kind"), type=params.get("type"),
                        status=params.get("status"), tx_id=params.get("tx"),
                        since=_when(params["since"], "since") if params.get("since") else None,
                        until=_when(params["until"], "until") if params.get("until") else None, limit=limit)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() + ("Z" if value.tzinfo is None else "")
    return value


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _numeric(text):
        return "'" + text  # OWASP CSV injection: a leading formula character is neutralised
    return text


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


async def _csv(rows: AsyncIterator[dict[str, Any]], columns: list[str]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180 line breaks
    writer.writerow(columns)
    async for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


async def _ndjson(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for row in rows:
        yield orjson.dumps({k: _plain(v) for k, v in row.items()}) + b"\n"


async def _masked(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    async for row in rows:
        yield mask_json(row)


def routes(hub: Hub) -> list[Route]:
    """The export routes, bound to the running hub."""

    def caller(request: Request) -> bool:
        """Authenticate; True when personal data must be masked (every role but admin)."""
        key = require_role(authenticate(hub.config, request.headers.get("authorization")), "viewer")
        return key.role != "admin"

    async def export_list(request: Request) -> Response:
        mask = caller(request)
        name, _, fmt = request.path_params["filename"].rpartition(".")
        if name == "ocel":
            return await _ocel(request, fmt, mask)
        if name not in LISTS or fmt not in ("csv", "ndjson"):
            raise NotFound(f"no export {request.path_params['filename']!r}: use one of "
                           f"{', '.join(f'{n}.csv' for n in LISTS)}, the same as .ndjson, ocel.json or ocel.sqlite")
        flt = parse_filter(request)
        rows = export_rows(hub.started().store, name, flt)
        if mask:
            rows = _masked(rows)
        disposition = {"content-disposition": f'attachment; filename="{name}.{fmt}"'}
        if fmt == "csv":
            return StreamingResponse(_csv(rows, COLUMNS[name]), media_type="text/csv; charset=utf-8",
                                     headers=disposition)
        return StreamingResponse(_ndjson(rows), media_type="application/x-ndjson", headers=disposition)

    async def _ocel(request: Request, fmt: str, mask: bool) -> Response:
        if fmt not in ("json", "sqlite"):
            raise NotFound("OCEL exports are ocel.json and ocel.sqlite")
        flt = parse_filter(request)
        try:
            doc = await ocel_json(hub.started().store, flt.since, flt.until, masked=mask)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        if fmt == "json":
            return Response(orjson.dumps(doc), media_type="application/json",
                            headers={"content-disposition": 'attachment; filename="ocel.json"'})
        handle, path = tempfile.mkstemp(suffix=".sqlite")
        os.close(handle)
        os.unlink(path)  # sqlite3 creates it
        await asyncio.to_thread(write_sqlite, doc, path)
        return FileResponse(path, media_type="application/vnd.sqlite3", filename="ocel.sqlite",
                            background=BackgroundTask(os.unlink, path))

    return [Route("/export/{filename}", export_list, methods=["GET"])]
