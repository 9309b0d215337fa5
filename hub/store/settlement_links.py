"""Settlements and the orders they pay: the links between transactions that settlement rules read.

A settlement (a Stripe payout, a Shopify Payments payout, an Amazon settlement) is a transaction of kind
``settlement`` whose ``settlement.paid`` events name what they paid by *related* refs (``shop:order``,
``stripe:charge``, ``amazon:order``…). A related ref links to the transaction holding that ref as an identity
(``ref_keys``); one that names nothing the hub has seen links to nothing (``tx_id`` None).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, false, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.lookups import select_in
from hub.store.tables import events, ref_keys, refs, transactions

SETTLEMENT_TYPE = "settlement.paid"


@dataclass(frozen=True, slots=True)
class SettlementLine:
    """One thing a settlement says it paid: a related ref, the transaction it names (None: never seen), and the
    amount of the event stating it when that event is a per-line amount (kind ``line``)."""

    namespace: str
    value: str
    tx_id: str | None
    amount: tuple[Decimal, str] | None = None


# The statements below are built once: select_in adds the wanted ids or pairs as cached parameters.
_IDENTITY_KEYS = select(ref_keys.c.namespace, ref_keys.c.value, ref_keys.c.tx_id).where(ref_keys.c.demoted == false())
_SETTLEMENT_REFS = (select(refs.c.namespace, refs.c.value, events.c.tx_id)
                    .select_from(refs.join(events, events.c.id == refs.c.event_id)
                                 .join(transactions, transactions.c.id == events.c.tx_id))
                    .where(refs.c.role == "related", events.c.type == SETTLEMENT_TYPE,
                           transactions.c.kind == "settlement"))
_LINES = (select(events.c.tx_id, refs.c.namespace, refs.c.value, ref_keys.c.tx_id.label("paid_tx"),
                 events.c.amount_value, events.c.amount_currency, events.c.amount_kind)
          .select_from(events.join(refs, and_(refs.c.event_id == events.c.id, refs.c.role == "related"))
                       .outerjoin(ref_keys, and_(ref_keys.c.namespace == refs.c.namespace,
                                                 ref_keys.c.value == refs.c.value, ref_keys.c.demoted == false())))
          .where(events.c.type == SETTLEMENT_TYPE)
          .order_by(events.c.tx_id, refs.c.namespace, refs.c.value))
_MONEY = select(events).where(events.c.amount_value.is_not(None))


async def settlements_of(conn: AsyncConnection, tx_ids: Sequence[str]) -> dict[str, set[str]]:
    """For each of these transactions that some settlement names: the settlement transactions naming it.

    Two steps, each an index range: the transactions' identity refs (``ix_ref_keys_tx``), then the settlement events
    relating to those refs (``ix_refs_lookup``); one join let PostgreSQL's planner start from every settlement event
    stored instead (seen in EXPLAIN ANALYZE: a scan of all ``settlement.paid`` events per chunk). Each step is one
    cached statement (:func:`hub.store.lookups.select_in`): building the pairs' ``IN`` list anew cost more than
    running it."""
    found: dict[str, set[str]] = defaultdict(set)
    owners = {(row.namespace, row.value): row.tx_id for row in await select_in(conn, _IDENTITY_KEYS, ref_keys.c.tx_id,
                                                                                 sorted(set(tx_ids)))}
    for row in await select_in(conn, _SETTLEMENT_REFS, (refs.c.namespace, refs.c.value), sorted(owners)):
        paid_tx = owners[(row.namespace, row.value)]
        if row.tx_id != paid_tx:
            found[paid_tx].add(row.tx_id)
    return dict(found)


async def settlements_naming(conn: AsyncConnection, tx_ids: Sequence[str]) -> dict[str, set[str]]:
    """Every one of these transactions with the settlement transactions naming it (empty: none), as
    :func:`linked_transactions` and the settlement facts take it read once."""
    return {tx_id: set() for tx_id in tx_ids} | await settlements_of(conn, tx_ids)


async def settlement_lines(conn: AsyncConnection, settlement_ids: Sequence[str]) -> dict[str, list[SettlementLine]]:
    """Every related ref the settlement events of these transactions state, with what it links to."""
    found: dict[str, list[SettlementLine]] = defaultdict(list)
    for row in await select_in(conn, _LINES, events.c.tx_id, sorted(set(settlement_ids))):
        amount = ((Decimal(row.amount_value), row.amount_currency or "")
                  if row.amount_kind == "line" and row.amount_value is not None else None)
        found[row.tx_id].append(SettlementLine(row.namespace, row.value, row.paid_tx, amount))
    return dict(found)


async def linked_transactions(conn: AsyncConnection, tx_ids: Sequence[str],
                              named_by: dict[str, set[str]] | None = None) -> set[str]:
    """The transactions one settlement hop away from these: the settlements naming them, and what the settlements
    among them name. Evaluating one side re-evaluates the other (a late order resolves an unmatched line).
    ``named_by``: :func:`settlements_of` these transactions, when the caller has read it already."""
    linked: set[str] = set()
    for settlements in (await settlements_of(conn, tx_ids) if named_by is None else named_by).values():
        linked |= settlements
    for lines in (await settlement_lines(conn, tx_ids)).values():
        linked |= {line.tx_id for line in lines if line.tx_id}
    return linked - set(tx_ids)


async def money_events(conn: AsyncConnection, tx_ids: Sequence[str]) -> list:  # type: ignore[type-arg]
    """The events with an amount of these transactions (rows with the ``events`` columns)."""
    return await select_in(conn, _MONEY, events.c.tx_id, sorted(set(tx_ids)))


__all__ = ["SettlementLine", "linked_transactions", "money_events", "settlement_lines", "settlements_naming",
           "settlements_of"]
