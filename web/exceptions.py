"""The exception queue ``/exceptions``: filters with counts, sort by age or severity, acknowledge / assign /
resolve (with a note) one or many, replay a dead letter, and a fragment the page polls so new ones appear.

Reads through ``hub.store.exception_queries`` and acts through ``hub.exceptions.lifecycle.act`` and
``hub.ingest.normalize.replay`` — the functions the GraphQL mutations call — publishing the same live changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.exceptions import maintenance
from hub.exceptions.lifecycle import Changes, act
from hub.ingest.normalize import ReplayFilter, replay
from hub.runtime import Hub
from hub.store import exception_queries as xq
from hub.store import queries as q
from hub.store.exception_pages import queue_page
from hub.store.paging import PageRequest
from web.common import actor_of, bad_request, local_path, now_of, parse_minutes, query_with, render
from web.numbers import numbers_of

PAGE = 50
ACTIONS = {"acknowledge": "acknowledged", "assign": "assigned", "resolve": "resolved"}
STATUSES = ("open", "acknowledged", "resolved")
FACETS = ("status", "type", "severity", "source", "tx_kind")
MAX_FORM = 64 * 1024


def _filter(request: Request) -> xq.ExceptionFilter:
    """The queue filter from the query string; ``status`` defaults to open, ``status=all`` shows every one."""
    p = request.query_params
    statuses = [s for s in p.getlist("status") if s]
    status = () if statuses == ["all"] else tuple(s for s in statuses if s in STATUSES) or ("open",)
    return xq.ExceptionFilter(
        status=status, type=_many(p.getlist("type")), severity=_many(p.getlist("severity")),
        source=p.get("source") or None, tx_kind=p.get("kind") or None, assignee=p.get("assignee") or None,
        queue=p.get("queue") or None, tx_id=p.get("tx") or None, older_than=parse_minutes(p.get("age")))


def _many(values: list[str]) -> tuple[str, ...]:
    """``?type=late&type=failed`` or ``?type=late, failed`` (the filter box takes a comma list)."""
    return tuple(dict.fromkeys(v.strip() for value in values for v in value.split(",") if v.strip()))


def _without(flt: xq.ExceptionFilter, facet: str) -> xq.ExceptionFilter:
    field = {"status": "status", "type": "type", "severity": "severity", "source": "source", "tx_kind": "tx_kind"}
    empty: Any = () if facet in ("status", "type", "severity") else None
    return replace(flt, **{field[facet]: empty})


async def _queue(hub: Hub, request: Request) -> dict[str, Any]:
    flt, now = _filter(request), now_of(hub)
    order = "severity" if request.query_params.get("order") == "severity" else "age"
    after = request.query_params.get("after") or None
    async with hub.started().store.read() as conn:
        try:
            page = await queue_page(conn, flt, now, order, PageRequest(first=PAGE, after=after))
        except ValueError:
            page = await queue_page(conn, flt, now, order, PageRequest(first=PAGE))  # a stale cursor starts over
        total = await xq.count_exceptions(conn, flt, now)
        facets = {facet: await xq.group_counts(conn, _without(flt, facet), now, [facet]) for facet in FACETS}
        history = await xq.history_of(conn, [r.id for r in page.rows])
        numbers = await numbers_of(conn, {r.tx_id: r.tx_kind or "" for r in page.rows if r.tx_id})
        windows = await maintenance.windows(conn, hub.config, now)
    return {"rows": page.rows, "maintenance": windows, "tx_numbers": numbers, "has_next": page.has_next,
            "end_cursor": page.end_cursor,
            "total": total,
            "facets": facets, "flt": flt, "order": order, "history": history, "now": now,
            "newest": max((r.id for r in page.rows), default=""), "cap": xq.TOTAL_COUNT_CAP}


def _back(request: Request, form: dict[str, list[str]], message: str) -> Response:
    """Back to the page the form was on (same filters), with a message; only local paths are followed."""
    parts = urlsplit(local_path((form.get("next") or [""])[0], "/exceptions"))
    params = [(k, v) for k, v in parse_qs(parts.query).items() if k != "msg"]
    query = urlencode([(k, v) for k, values in params for v in values] + [("msg", message)])
    return RedirectResponse(f"{parts.path}?{query}", status_code=303)


async def _form(request: Request) -> dict[str, list[str]] | None:
    body = await request.body()
    if len(body) > MAX_FORM:
        return None
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)


def routes(hub: Hub) -> list[BaseRoute]:
    async def queue(request: Request) -> Response:
        context = await _queue(hub, request)
        context.update(message=request.query_params.get("msg"), query=request.url.query,
                       query_with=lambda **kw: query_with(request, **kw))
        return render(request, "exceptions.html", context)

    async def live(request: Request) -> Response:
        """The queue's rows only: the page polls this and swaps them in, so new exceptions appear."""
        context = await _queue(hub, request)
        response = render(request, "_exception_rows.html", context)
        response.headers["x-total-count"] = str(context["total"])
        response.headers["cache-control"] = "no-store"
        return response

    async def perform(request: Request) -> Response:
        form = await _form(request)
        if form is None:
            return bad_request(request, "That form was too large", "Select fewer exceptions at once.")
        action = ACTIONS.get((form.get("action") or [""])[0])
        ids = [i for i in form.get("ids", []) if i][: q.MAX_PAGE * 5]
        note = (form.get("note") or [""])[0].strip()[:2000] or None
        assignee = (form.get("assignee") or [""])[0].strip()[:100] or None
        if action is None:
            return _back(request, form, "Choose acknowledge, assign or resolve.")
        if not ids:
            return _back(request, form, "Tick at least one exception first.")
        if action == "assigned" and assignee is None:
            return _back(request, form, "Say who to assign to.")
        changes = Changes()
        async with hub.started().store.write() as conn:
            changed = await act(conn, ids, actor=actor_of(request), action=action, assignee=assignee, note=note,
                                changes=changes, now=hub.now())
        hub.broadcaster.publish(changes.items)
        skipped = len(ids) - len(changed)
        message = f"{action.capitalize()} {len(changed)} exception{'s' if len(changed) != 1 else ''}" + (
            f"; {skipped} were already {action} or not found" if skipped else "") + "."
        return _back(request, form, message)

    async def replay_delivery(request: Request) -> Response:
        form = await _form(request) or {}
        delivery_id = request.path_params["delivery_id"]
        running = hub.started()
        ids = await replay(running.store, ReplayFilter(ids=(delivery_id,), state=None), hub.now())
        if ids and running.normalizer is not None:  # else a worker process takes them
            running.normalizer.wake()
        message = (f"Replaying {delivery_id}: its exception resolves itself once the delivery normalizes."
                   if ids else f"No delivery {delivery_id} to replay.")
        return _back(request, form, message)

    return [Route("/exceptions", queue), Route("/exceptions/live", live),
            Route("/exceptions/act", perform, methods=["POST"]),
            Route("/deliveries/{delivery_id}/replay", replay_delivery, methods=["POST"])]

