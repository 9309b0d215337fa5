"""The trace page ``/t/{id}``: one transaction end to end — swimlanes, flow steps, refs, quantities, amounts,
exceptions with evidence, related transactions, and the clicked event's canonical fields and raw delivery.

Reads through the same ``hub`` functions the GraphQL ``Transaction`` resolvers use (``queries``,
``exception_queries``, ``flows.step_states``). The permalink survives merges: a merged-away id redirects.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.flows import FlowEvent, step_states
from hub.runtime import Hub
from hub.store import exception_queries as xq
from hub.store import queries as q
from web import timeline
from web.common import masks_personal_data, not_found, now_of, pretty_body, render
from web.deliveries import how_it_came


def _refs(events: list[q.EventRecord], demoted: set[tuple[str, str]]) -> list[dict[str, str]]:
    """Every ref once, identity winning over related (as ``Transaction.refs`` does), with who stated it."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for record in events:
        for ns, value, role in q.identity_roles(record, demoted):
            item = seen.setdefault((ns, value), {"namespace": ns, "value": value, "role": role, "systems": set()})
            if role == "identity":
                item["role"] = "identity"
            item["systems"].add(record.source)
    return [{**item, "systems": sorted(item["systems"]), "demoted": (item["namespace"], item["value"]) in demoted}
            for _, item in sorted(seen.items())]


def _quantities(events: list[q.EventRecord]) -> tuple[list[str], list[dict[str, Any]]]:
    """SKU × event type: the quantity each step reported (ordered vs allocated vs shipped at a glance)."""
    columns: list[str] = []
    table: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for record in events:
        for line in record.lines:
            column = record.type
            if column not in columns:
                columns.append(column)
            key = (str(line.get("sku")), str(line.get("location") or ""))
            cell = table[key].get(column)
            qty = str(line.get("qty"))
            state = f" {line['state']}" if line.get("state") else ""
            table[key][column] = f"{cell}, {qty}{state}" if cell else f"{qty}{state}"
    rows = [{"sku": sku, "location": location, "cells": cells} for (sku, location), cells in sorted(table.items())]
    return columns, rows


def _amounts(events: list[q.EventRecord]) -> list[dict[str, Any]]:
    return [{"type": e.type, "source": e.source, "kind": e.amount_kind or "total", "value": e.amount_value,
             "currency": e.amount_currency or "", "event": e.id} for e in events if e.amount_value is not None]


def routes(hub: Hub) -> list[BaseRoute]:
    async def trace(request: Request) -> Response:
        tx_id = request.path_params["tx_id"]
        selected = request.query_params.get("event")
        store = hub.require_store()
        async with store.read() as conn:
            lookup = await q.resolve_ref(conn, tx_id)
            if len(lookup.tx_ids) == 1 and lookup.tx_ids[0] != tx_id:
                # a merged-away id (or any ref): the bookmarked link lands on the surviving transaction
                target = f"/t/{lookup.tx_ids[0]}" + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(target, status_code=301)
            if len(lookup.tx_ids) > 1:
                return RedirectResponse(f"/search?ref={quote(tx_id)}", status_code=303)
            found = await q.transactions_by_id(conn, [tx_id])
            if tx_id not in found:
                return not_found(request, f"No transaction {tx_id}",
                                 "Check the link, or paste any order, shipment, tracking or payment id in the search "
                                 "box above.")
            events = (await q.events_by_transaction(conn, [tx_id])).get(tx_id, [])
            keys = sorted({(ns, v) for e in events for ns, v, role in e.refs if role == "identity"})
            demoted = await q.demoted_keys(conn, keys)
            related_ids = (await q.related_transactions(conn, [tx_id])).get(tx_id, [])
            related = list((await q.transactions_by_id(conn, related_ids)).values())
            tx_exceptions = (await xq.exceptions_by_transaction(conn, [tx_id])).get(tx_id, [])
            history = await xq.history_of(conn, [x.id for x in tx_exceptions])
            event = next((e for e in events if e.id == selected), None)
            delivery = await q.get_delivery(conn, event.delivery_id) if event is not None else None
        tx = found[tx_id]
        kinds = {name: source.kind for name, source in hub.config.sources.items()}
        flow = hub.config.flows.get(tx.kind)
        steps = step_states(flow, [FlowEvent(e.id, e.type, e.source, e.occurred_at, kinds.get(e.source))
                                   for e in events], now_of(hub)) if flow is not None else []
        lags: dict[str, float | None] = {}
        previous = None
        for record in events:
            lags[record.id] = (record.occurred_at - previous).total_seconds() if previous else None
            previous = record.occurred_at
        columns, quantities = _quantities(events)
        return render(request, "trace.html", {
            "tx": tx, "events": events, "lags": lags, "steps": steps, "timeline": timeline.build(events, selected),
            "refs": _refs(events, demoted), "qty_columns": columns, "quantities": quantities,
            "amounts": _amounts(events), "exceptions": tx_exceptions, "history": history, "related": related,
            "event": event, "event_refs": q.identity_roles(event, demoted) if event is not None else [],
            "delivery": delivery, "how_it_came": how_it_came(delivery, hub.config) if delivery is not None else "",
            "delivery_body": pretty_body(delivery.body, masks_personal_data(request)) if delivery is not None else "",
            "selected": selected, "now": now_of(hub)})

    return [Route("/t/{tx_id}", trace)]
