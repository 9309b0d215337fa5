"""What the settlement rules need beyond one transaction's own events, loaded once per evaluated chunk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from hub.exceptions.lifecycle import Finding
from hub.exceptions.rules import TxEvent
from hub.exceptions.settlements import SettlementSettings, missing, reconcile, waiting_captures
from hub.store import Connection
from hub.store.settlement_links import SettlementLine, money_events, settlement_lines, settlements_of


@dataclass(slots=True)
class SettlementFacts:
    """The lines of the chunk's settlements, the events of the orders they name, which transactions some
    settlement names."""

    lines: dict[str, list[SettlementLine]] = field(default_factory=dict)
    orders: dict[str, list[TxEvent]] = field(default_factory=dict)
    settled: set[str] = field(default_factory=set)
    paid_lines: dict[str, list[SettlementLine]] = field(default_factory=dict)  # of every settlement naming an order

    def elsewhere(self, settlement_id: str) -> dict[str, dict[str, Decimal]]:
        """Per order and currency, the line amounts settlements other than this one paid for it."""
        sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for other, lines in self.paid_lines.items():
            for line in lines:
                if other != settlement_id and line.tx_id and line.amount is not None:
                    sums[line.tx_id][line.amount[1]] += line.amount[0]
        return sums

    def findings(self, tx_id: str, kind: str, events: list[TxEvent], settings: SettlementSettings,
                 tolerance: Decimal, now: datetime) -> tuple[list[Finding], datetime | None]:
        """The settlement findings of one transaction of the chunk, and when its capture's settlement falls due."""
        if kind == "settlement":
            source = next((e.source for e in events if e.type == "settlement.paid"), None)
            return reconcile(tx_id, source, events, self.lines.get(tx_id, []), self.orders, tolerance,
                             self.elsewhere(tx_id)), None
        return missing(tx_id, kind, events, tx_id in self.settled, settings, now)


async def load_settlement_facts(conn: Connection, kinds: Mapping[str, str], by_tx: Mapping[str, list[TxEvent]],
                                convert: Callable[[Any, str | None], TxEvent], source_kinds: Mapping[str, str],
                                settings: SettlementSettings,
                                named_by: Mapping[str, set[str]] | None = None) -> SettlementFacts:
    """The facts for a chunk: ``kinds`` its transactions' kinds, ``by_tx`` their events; ``convert`` makes a
    :class:`TxEvent` of a stored event row (with its source's kind) for orders outside the chunk. ``named_by``:
    for transactions whose settlements were read already, the settlements naming each (empty: none); the others'
    are read here.
    Whether a transaction is settled is read only for those with a capture that may go missing."""
    facts = SettlementFacts()
    settlement_ids = [tx_id for tx_id, kind in kinds.items() if kind == "settlement"]
    if settlement_ids:
        facts.lines = await settlement_lines(conn, settlement_ids)
    named = {line.tx_id for lines in facts.lines.values() for line in lines if line.tx_id}
    facts.orders = {tx_id: by_tx[tx_id] for tx_id in named if tx_id in by_tx}
    for row in await money_events(conn, sorted(named - set(by_tx))):
        facts.orders.setdefault(row.tx_id, []).append(convert(row, source_kinds.get(row.source)))
    if named:
        paying = set().union(*(await settlements_of(conn, sorted(named))).values())
        facts.paid_lines = await settlement_lines(conn, sorted(paying))
    waiting = [tx_id for tx_id, kind in kinds.items()
               if kind != "settlement" and waiting_captures(by_tx.get(tx_id, []), settings)]
    known = named_by or {}
    unread = [tx_id for tx_id in waiting if tx_id not in known]
    facts.settled = {tx_id for tx_id in waiting if known.get(tx_id)}
    if unread:
        facts.settled |= set(await settlements_of(conn, unread))
    return facts


__all__ = ["SettlementFacts", "load_settlement_facts"]
