"""Shopify Payments payouts → ``settlement.paid`` events (part of the ``shopify`` adapter).

A Payout (https://shopify.dev/docs/api/admin-rest/latest/resources/payouts) is ``{id, status, date, currency,
amount, summary}``; ``amount`` is what reached the bank, ``summary`` its ``<kind>_gross_amount`` and
``<kind>_fee_amount`` per kind (charges, refunds, adjustments, reserved funds, retried payouts). A ``paid`` payout
becomes three events, as a Stripe payout with its balance transactions does: the payout (amount kind
``settlement`` = ``amount``), its ``gross`` (the summary's gross amounts) and its ``fee`` (the summary's fees),
so the hub checks gross − fees = paid out. Other statuses (``scheduled``, ``in_transit``, ``failed``,
``canceled``) are ``unknown`` events on the payout: no money has settled.

The ``shopify-payouts`` poller also reads each paid payout's balance transactions
(https://shopify.dev/docs/api/admin-rest/latest/resources/transactions, ``?payout_id=``) and delivers them with
the payout (``transactions``, header ``X-Crosstrace-Polled: shopify-payout-detail``): that delivery yields one
``settlement.paid`` without an amount whose related refs name every order the payout settled
(``source_order_id`` → ``<order source>:order``), so each order's trace shows the payout that paid it, and one
``line`` amount per order (the sum of its balance transactions' gross ``amount``) for the payout reconciliation.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from collectors.base import ParseError, compact, decimal_field, ref, require
from hub.config import Source
from hub.model import RELATED, UNKNOWN_TYPE, Amount, Event, Ref

PAYOUT_DETAIL = "shopify-payout-detail"
_SUMMARY_KINDS = ("charges", "refunds", "adjustments", "reserved_funds", "retried_payouts")


def payout_key(payout: Any) -> str | None:
    """One key per payout and status, the same from the poll and a webhook: ``<id>:payout:<status>``."""
    if not isinstance(payout, dict) or not isinstance(payout.get("id"), int | str) or not payout.get("status"):
        return None
    return f"{payout['id']}:payout:{payout['status']}"


def order_namespace(source: Source) -> str:
    """Where a payout's orders are: ``options.order_source`` (the storefront source, e.g. ``"shop"``) + ``:order``;
    default this source's own name (a source that both receives the orders and polls the payouts)."""
    name = source.options.get("order_source")
    return f"{name if isinstance(name, str) and name else source.name}:order"


def payout_events(event: Event, payload: dict[str, Any], source: Source, detail: bool) -> list[Event]:
    """The events of one payout (``event`` is prepared by the adapter: source, id, time, traceparent)."""
    event.refs = compact([ref(source, "payout", require(payload, "id")), *event.refs])
    status = str(require(payload, "status"))
    if detail:  # its own fact, whatever key the payout itself has (the poller stores both)
        event.type, event.source_event_id = "settlement.paid", f"{payload['id']}:payout:transactions"
        order_refs = _order_refs(payload.get("transactions"), source)
        event.refs = compact([*event.refs, *order_refs])
        return [event, *_order_lines(event, payload["transactions"], order_refs)]
    if status != "paid":
        event.type = UNKNOWN_TYPE
        return [event]
    event.type = "settlement.paid"
    currency = str(require(payload, "currency")).upper()
    event.amount = Amount(decimal_field(require(payload, "amount"), "amount"), currency, "settlement")
    summary = payload.get("summary")
    if not isinstance(summary, dict):
        return [event]
    events = [event]
    for kind in ("gross", "fee"):
        total = sum((decimal_field(summary.get(f"{name}_{kind}_amount") or 0, f"summary.{name}_{kind}_amount")
                     for name in _SUMMARY_KINDS), Decimal(0))
        events.append(Event(source=event.source, source_event_id=f"{event.source_event_id}:{kind}", type=event.type,
                            occurred_at=event.occurred_at, refs=list(event.refs), amount=Amount(total, currency, kind),
                            traceparent=event.traceparent))
    return events


def _order_lines(event: Event, transactions: list[Any], order_refs: list[Ref]) -> list[Event]:
    """One ``line`` event per order and currency: the sum of that order's balance transactions' ``amount`` (gross
    of fees; refunds negative), naming the order by a related ref, so the hub tells which orders do not add up."""
    namespace = order_refs[0].namespace if order_refs else ""
    sums: dict[tuple[str, str], Decimal] = {}
    for index, txn in enumerate(transactions):
        order = txn.get("source_order_id") if isinstance(txn, dict) else None
        if not isinstance(order, int | str) or isinstance(order, bool) or not str(order).strip():
            continue
        key = (str(order), str(require(txn, "currency")).upper())
        sums[key] = sums.get(key, Decimal(0)) + decimal_field(txn.get("amount"), f"transactions.{index}.amount")
    payout = [r for r in event.refs if r.role != RELATED]
    return [Event(source=event.source, source_event_id=f"{event.source_event_id}:line:{order}:{currency}",
                  type=event.type, occurred_at=event.occurred_at, refs=[*payout, Ref(namespace, order, RELATED)],
                  amount=Amount(value, currency, "line"), traceparent=event.traceparent)
            for (order, currency), value in sums.items()]


def _order_refs(transactions: Any, source: Source) -> list[Ref]:
    """Related refs to the orders the payout's balance transactions settled (charges, refunds, adjustments…)."""
    if not isinstance(transactions, list):
        raise ParseError("field 'transactions' must be an array of balance transactions")
    namespace = order_namespace(source)
    refs = []
    for txn in transactions:
        order = txn.get("source_order_id") if isinstance(txn, dict) else None
        if isinstance(order, int | str) and not isinstance(order, bool) and str(order).strip():
            refs.append(Ref(namespace, str(order), RELATED))
    return refs
