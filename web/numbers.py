"""Business numbers for pages: each listed transaction's order / transfer / return / payout number
(``hub.correlation.numbers``), as ref triples so personal namespaces stay masked like every ref."""

from __future__ import annotations

from typing import Any

from hub.correlation.numbers import business_number
from hub.model import IDENTITY
from hub.store import queries as q

_REFS_READ = 40  # identity refs read per transaction to choose from (an order has a handful)


async def numbers_of(conn: Any, kinds: dict[str, str]) -> dict[str, tuple[str, str, str]]:
    """``{tx_id: (namespace, value, "identity")}`` for the transactions given as ``{tx_id: kind}``."""
    refs = await q.identity_refs(conn, list(kinds), per_tx=_REFS_READ) if kinds else {}
    found = {tx_id: business_number(kind, [(ns, value) for ns, value, _ in refs.get(tx_id, [])])
             for tx_id, kind in kinds.items()}
    return {tx_id: (number[0], number[1], IDENTITY) for tx_id, number in found.items() if number}
