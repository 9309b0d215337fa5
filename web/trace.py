"""The trace page ``/t/{id}``: one transaction end to end — swimlanes, flow steps, refs, quantities, amounts,
exceptions with evidence, related transactions, and the clicked event's canonical fields and raw delivery.

Renders the one ``hub.store.trace.Trace`` the GraphQL ``Transaction`` renders (``find_trace``, then
``flows.step_states`` on its events). The permalink survives merges: a merged-away id redirects.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.correlation.numbers import business_number
from hub.exceptions import maintenance
from hub.exceptions.flows import transaction_steps
from hub.model import IDENTITY
from hub.runtime import Hub
from hub.store import queries as q
from hub.store.trace import AmbiguousRef, Trace, find_trace
from web import timeline
from web.common import masks_personal_data, not_found, now_of, pretty_body, render
from web.deliveries import how_it_came
from web.folding import fold_ref_rows, related_summary
from web.numbers import numbers_of


def _refs(trace: Trace) -> list[dict[str, Any]]:
    """Every ref once, identity winning over related (as ``Transaction.refs`` does), with who stated it."""
    return [{"namespace": r.namespace, "value": r.value, "role": r.role, "systems": list(r.systems),
             "demoted": r.demoted} for r in trace.refs]


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
        store = hub.started().store
        try:
            trace = await find_trace(store, tx_id)
        except AmbiguousRef:
            return RedirectResponse(f"/search?ref={quote(tx_id)}", status_code=303)
        if trace is not None and trace.transaction.id != tx_id:
            # a merged-away id (or any ref): the bookmarked link lands on the surviving transaction
            target = f"/t/{trace.transaction.id}" + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(target, status_code=301)
        if trace is None:
            return not_found(request, f"No transaction {tx_id}",
                             "Check the link, or paste any order, shipment, tracking or payment id in the search "
                             "box above.")
        events = trace.events
        event = next((e for e in events if e.id == selected), None)
        async with store.read() as conn:  # the primary too when the replica lacked this trace
            delivery = await q.get_delivery(conn, event.delivery_id) if event is not None else None
            related_numbers = await numbers_of(conn, {r.id: r.kind for r in trace.related})
            stopped = await maintenance.paused_at(conn, hub.config, now_of(hub))
        tx = trace.transaction
        number = business_number(tx.kind, [(r.namespace, r.value) for r in trace.refs
                                           if r.role == IDENTITY and not r.demoted])
        steps = transaction_steps(hub.config, tx.kind, events, now_of(hub), stopped)
        lags: dict[str, float | None] = {}
        previous = None
        for record in events:
            lags[record.id] = (record.occurred_at - previous).total_seconds() if previous else None
            previous = record.occurred_at
        columns, quantities = _quantities(events)
        amounts = _amounts(events)
        return render(request, "trace.html", {
            "tx": tx, "events": events, "lags": lags, "steps": steps, "timeline": timeline.build(events, selected),
            "refs": fold_ref_rows(_refs(trace)), "qty_columns": columns, "quantities": quantities,
            "amounts": amounts, "exceptions": trace.exceptions, "history": trace.history, "related": trace.related,
            "related_summary": related_summary(trace.related, amounts), "tx_numbers": related_numbers, "event": event,
            "event_refs": trace.event_refs(event) if event is not None else [],
            "delivery": delivery, "how_it_came": how_it_came(delivery, hub.config) if delivery is not None else "",
            "delivery_body": pretty_body(delivery.body, masks_personal_data(request)) if delivery is not None else "",
            "selected": selected, "now": now_of(hub),
            "number": (*number, IDENTITY) if number else None})

    return [Route("/t/{tx_id}", trace)]
