"""Search (on every page) and the start page: any ref → its transaction, a choice list, or a SKU's stock page.

Resolution is ``hub.store.queries.resolve_ref`` — the same function GraphQL ``transaction(ref:)`` uses.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.access.contacts import transactions_by_contact, typed_contact
from hub.runtime import Hub
from hub.store import exception_queries as xq
from hub.store import queries as q
from web import stock
from web.common import masks_personal_data, now_of, render


def attribute_filter(values: list[str]) -> tuple[tuple[str, str], ...]:
    """``?attribute=channel=web`` (repeatable) as (name, value) pairs; a value without ``=`` is ignored."""
    pairs = (value.partition("=") for value in values[:10])
    return tuple((name.strip(), value.strip()) for name, sep, value in pairs if sep and name.strip())


def routes(hub: Hub) -> list[BaseRoute]:
    async def index(request: Request) -> Response:
        chosen = attribute_filter(request.query_params.getlist("attribute"))
        async with hub.require_store().read() as conn:
            page = await q.list_transactions(conn, q.TransactionFilter(attributes=chosen), 25, None)
            tx_attributes = await q.attributes_by_transaction(conn, [row.id for row in page.rows])
            open_count = await xq.count_exceptions(conn, xq.ExceptionFilter(status=("open",)), now_of(hub))
        return render(request, "index.html", {"transactions": page.rows, "open_count": open_count,
                                              "tx_attributes": tx_attributes, "chosen_attributes": chosen})

    async def search(request: Request) -> Response:
        ref = request.query_params.get("ref", "").strip()
        if not ref:
            return RedirectResponse("/", status_code=303)
        if len(ref) > 400 or "\x00" in ref:
            return render(request, "choose.html", {"ref": ref[:40] + "…", "transactions": [], "too_long": True},
                          status_code=400)
        async with hub.require_store().read() as conn:
            lookup = await q.resolve_ref(conn, ref)
            contact = typed_contact(unquote(ref))
            if contact and not masks_personal_data(request):  # an admin finds a customer's orders by email or phone
                by_contact = await transactions_by_contact(conn, contact)
                lookup = q.RefLookup(sorted({*lookup.tx_ids, *by_contact}), lookup.related_only and not by_contact)
            found = await q.transactions_by_id(conn, lookup.tx_ids[: q.MAX_PAGE])
            tx_refs = await q.identity_refs(conn, list(found)) if len(found) > 1 else {}
            plain = unquote(ref).strip() if "%" in ref else ref
            sku, _, location = plain.partition("@")  # SKU@LOCATION, as divergence subjects and the demo print it
            is_sku = (not lookup.tx_ids or lookup.related_only) and await stock.sku_known(conn, sku.strip())
        if is_sku:  # a SKU only named on listings and counts is a product: its stock page, not a choice list
            cell = f"&location={quote(location.strip())}" if location.strip() else ""
            return RedirectResponse(f"/stock?sku={quote(sku.strip())}{cell}", status_code=303)
        if len(lookup.tx_ids) == 1:
            return RedirectResponse(f"/t/{lookup.tx_ids[0]}", status_code=303)
        rows = sorted(found.values(), key=lambda r: r.id, reverse=True)
        contact_hint = bool(contact) and not rows and masks_personal_data(request)
        return render(request, "choose.html", {"ref": ref, "transactions": rows, "tx_refs": tx_refs,
                                               "contact_hint": contact_hint},
                      status_code=200 if rows else 404)

    return [Route("/", index), Route("/search", search)]
