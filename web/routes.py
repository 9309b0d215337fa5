"""Web pages: search any ref and see its transaction's timeline (the full UI grows from here)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from hub.runtime import Hub
from hub.store import queries as q

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def routes(hub: Hub) -> list[BaseRoute]:
    async def index(request: Request) -> Response:
        async with hub.require_store().read() as conn:
            page = await q.list_transactions(conn, q.TransactionFilter(), 20, None)
        return templates.TemplateResponse(request, "index.html", {"transactions": page.rows})

    async def search(request: Request) -> Response:
        ref = request.query_params.get("ref", "").strip()
        if not ref:
            return RedirectResponse("/", status_code=303)
        async with hub.require_store().read() as conn:
            lookup = await q.resolve_ref(conn, ref)
            found = await q.transactions_by_id(conn, lookup.tx_ids[: q.MAX_PAGE])
        if len(lookup.tx_ids) == 1:
            return RedirectResponse(f"/t/{lookup.tx_ids[0]}", status_code=303)
        return templates.TemplateResponse(request, "choose.html",
                                          {"ref": ref, "transactions": list(found.values())},
                                          status_code=200 if found else 404)

    async def trace(request: Request) -> Response:
        tx_id = request.path_params["tx_id"]
        async with hub.require_store().read() as conn:
            lookup = await q.resolve_ref(conn, tx_id)
            if lookup.tx_ids and lookup.tx_ids[0] != tx_id:  # a merged-away id: the permalink still works
                return RedirectResponse(f"/t/{lookup.tx_ids[0]}", status_code=301)
            found = await q.transactions_by_id(conn, [tx_id])
            if tx_id not in found:
                return templates.TemplateResponse(request, "choose.html", {"ref": tx_id, "transactions": []},
                                                  status_code=404)
            timeline = (await q.events_by_transaction(conn, [tx_id])).get(tx_id, [])
        return templates.TemplateResponse(request, "trace.html", {"tx": found[tx_id], "events": timeline})

    return [Route("/", index), Route("/search", search), Route("/t/{tx_id}", trace)]
