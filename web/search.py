"""Search (on every page): any ref → its transaction, a choice list, or a SKU's stock page.

Resolution is ``hub.store.queries.resolve_ref`` — the same function GraphQL ``transaction(ref:)`` uses.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.access import audit
from hub.access.contacts import contact_fingerprint, transactions_by_contact, typed_contact
from hub.runtime import Hub
from hub.store import queries as q
from web import stock
from web.common import masks_personal_data, render
from web.numbers import numbers_of


def routes(hub: Hub) -> list[BaseRoute]:
    async def search(request: Request) -> Response:
        ref = request.query_params.get("ref", "").strip()
        if not ref:
            return RedirectResponse("/", status_code=303)
        if len(ref) > 400 or "\x00" in ref:
            return render(request, "choose.html", {"ref": ref[:40] + "…", "transactions": [], "too_long": True},
                          status_code=400)
        contact = typed_contact(unquote(ref))
        by_contact = contact is not None and not masks_personal_data(request)  # an admin finds orders by email/phone
        async with hub.started().store.read() as conn:
            lookup = await q.resolve_ref(conn, ref)
            if by_contact and contact:
                of_contact = await transactions_by_contact(conn, contact)
                lookup = q.RefLookup(sorted({*lookup.tx_ids, *of_contact}), lookup.related_only and not of_contact)
            found = await q.transactions_by_id(conn, lookup.tx_ids[: q.MAX_PAGE])
            several = len(found) > 1
            tx_refs = await q.identity_refs(conn, list(found)) if several else {}
            numbers = await numbers_of(conn, {tx_id: row.kind for tx_id, row in found.items()}) if several else {}
            plain = unquote(ref).strip() if "%" in ref else ref
            sku, _, location = plain.partition("@")  # SKU@LOCATION, as divergence subjects and the demo print it
            is_sku = (not lookup.tx_ids or lookup.related_only) and await stock.sku_known(conn, sku.strip())
        if by_contact:  # a search by personal data is audited, as GraphQL transactionsByContact is
            key = request.state.api_key
            await audit.append(hub.started().store, actor=key.name, role=key.role, action="web contact search",
                               object=f"contact={contact_fingerprint(unquote(ref))}")
        if is_sku:  # a SKU only named on listings and counts is a product: its stock page, not a choice list
            cell = f"&location={quote(location.strip())}" if location.strip() else ""
            return RedirectResponse(f"/stock?sku={quote(sku.strip())}{cell}", status_code=303)
        if len(lookup.tx_ids) == 1:
            return RedirectResponse(f"/t/{lookup.tx_ids[0]}", status_code=303)
        rows = sorted(found.values(), key=lambda r: r.id, reverse=True)
        contact_hint = bool(contact) and not rows and masks_personal_data(request)
        return render(request, "choose.html", {"ref": ref, "transactions": rows, "tx_refs": tx_refs,
                                               "tx_numbers": numbers, "contact_hint": contact_hint},
                      status_code=200 if rows else 404)

    return [Route("/search", search)]
