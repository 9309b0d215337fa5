"""Stock positions from events: snapshots set a state, movements adjust it (one ledger per source).

Promise: :func:`apply_stock` runs inside the normalizer's write transaction, right after
``record_events``; it is idempotent (an event whose effects are already in ``stock_history`` — a repeat
delivery or a replay — is skipped) and independent of arrival order:

- a **snapshot** (``inventory.snapshot``, default state ``on_hand``; ``inventory.published``, a channel's
  published figure, default state ``available``) sets the line's state as of its ``occurred_at``; movements
  that occurred *after* it and arrived earlier are added back on top; a snapshot older than the one the
  position rests on changes nothing (it is kept in the history);
- a **movement** adjusts a state unless it occurred at or before the snapshot the position rests on (the
  snapshot already counted it). Quantities are per line, at the line's location (``""`` when none):

  | event (q = abs(line qty))          | effect                                                      |
  |------------------------------------|-------------------------------------------------------------|
  | inventory.adjusted                 | line state (default on_hand) += signed qty                  |
  | inventory.reserved / released      | reserved += q / -= q                                        |
  | order.placed from a ``pos`` source | on_hand -= q (a store sale)                                 |
  | shipment.shipped                   | on_hand -= q, and the reservation it consumes (≤ reserved)  |
  | transfer.shipped                   | on_hand -= q at the shipping location                       |
  | transfer.received, receipt.received| on_hand += q at the receiving location                      |
  | return.received                    | returned += q                                               |
  | return.inspected (state damaged)   | returned -= q (≥ 0), damaged += q: it never becomes sellable |
  | return.restocked                   | returned -= q (≥ 0), on_hand += q                           |

``available`` is what a source reports it to be, when it reports it (then movements of on_hand and
reserved move it too); otherwise it is derived as on_hand − reserved (see :mod:`hub.stock.queries`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.config import Config
from hub.exceptions.lifecycle import Changes
from hub.model import as_utc
from hub.stock.divergence import evaluate_keys
from hub.store import Connection
from hub.store import stock as store

SNAPSHOTS = {"inventory.snapshot": "on_hand", "inventory.published": "available"}
MOVEMENTS = frozenset({"inventory.adjusted", "inventory.reserved", "inventory.released", "order.placed",
                       "shipment.shipped", "transfer.shipped", "transfer.received", "receipt.received",
                       "return.received", "return.inspected", "return.restocked"})
Key = tuple[str, str, str, str]  # sku, location, source, state


@dataclass(slots=True)
class _Position:
    qty: float
    as_of: datetime
    base_at: datetime | None
    event_id: str
    dirty: bool = False


@dataclass(slots=True)
class _Fact:
    event_id: str
    source: str
    type: str
    at: datetime
    lines: list[Any]


class StockLedger:
    """Applies the stock effects of freshly recorded events; built once per normalizer from the config."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._kinds = {name: source.kind for name, source in config.sources.items()}

    async def apply(self, conn: Connection, items: Iterable[Any], now: datetime, changes: Changes) -> int:
        """Apply the stock effects of these ``Incoming`` items; returns how many events moved stock."""
        wanted = {(i.event.source, i.event.source_event_id): i for i in items if self._relevant(i.event)}
        if not wanted:
            return 0
        facts = await _facts(conn, wanted)
        if not facts:
            return 0
        touched = await _apply_facts(conn, facts, self._kinds, now)
        await evaluate_keys(conn, touched, self._config, now, changes)
        return len(facts)

    def _relevant(self, event: Any) -> bool:
        if not event.lines or event.status != "ok":
            return False
        if event.type == "order.placed":
            return self._kinds.get(event.source) == "pos"
        return event.type in SNAPSHOTS or event.type in MOVEMENTS


async def _facts(conn: Connection, wanted: dict[tuple[str, str], Any]) -> list[_Fact]:
    """The stored events behind the items (ids and times), minus those whose effects are already recorded."""
    rows = await store.events_by_source_id(conn, wanted)
    seen = await store.events_in_history(conn, [r.id for r in rows])
    facts = [_Fact(r.id, r.source, r.type, as_utc(r.occurred_at), wanted[(r.source, r.source_event_id)].event.lines)
             for r in rows if r.id not in seen]
    return sorted(facts, key=lambda f: (f.at, f.event_id))


async def _apply_facts(conn: Connection, facts: list[_Fact], kinds: dict[str, str],
                       now: datetime) -> set[tuple[str, str]]:
    triples = {(ln.sku, ln.location or "", f.source) for f in facts for ln in f.lines if ln.sku}
    positions = await _load(conn, triples)
    history: list[dict[str, Any]] = []
    for fact in facts:
        for line in fact.lines:
            if not line.sku:
                continue
            sku, location = line.sku, line.location or ""
            qty = float(line.qty)
            if fact.type in SNAPSHOTS:
                state = line.state or SNAPSHOTS[fact.type]
                await _snapshot(conn, positions, history, (sku, location, fact.source, state), qty, fact)
                continue

            def current(state: str, sku: str = sku, location: str = location, source: str = fact.source) -> float:
                held = positions.get((sku, location, source, state))
                return held.qty if held is not None else 0.0

            deltas = _deltas(fact.type, line.state, qty, current)
            available = positions.get((sku, location, fact.source, "available"))
            if "available" not in deltas and available is not None and available.base_at is not None \
                    and ("on_hand" in deltas or "reserved" in deltas):
                deltas["available"] = deltas.get("on_hand", 0.0) - deltas.get("reserved", 0.0)
            for state, delta in deltas.items():
                _move(positions, history, (sku, location, fact.source, state), delta, fact)
    await _save(conn, positions, history, now)
    return {(key[0], key[1]) for key, pos in positions.items() if pos.dirty}


def _deltas(event_type: str, line_state: str | None, qty: float, current: Any) -> dict[str, float]:
    """The per-state changes one line of a movement makes (the table in the module docstring)."""
    q = abs(qty)
    if event_type == "inventory.adjusted":
        return {line_state or "on_hand": qty}
    if event_type == "inventory.reserved":
        return {"reserved": q}
    if event_type == "inventory.released":
        return {"reserved": -q}
    if event_type in ("order.placed", "transfer.shipped"):
        return {"on_hand": -q}
    if event_type == "shipment.shipped":
        consumed = min(q, max(current("reserved"), 0.0))
        return {"on_hand": -q, **({"reserved": -consumed} if consumed else {})}
    if event_type in ("transfer.received", "receipt.received"):
        return {"on_hand": q}
    if event_type == "return.received":
        return {"returned": q}
    out_of_returned = -min(q, max(current("returned"), 0.0))
    if event_type == "return.inspected":
        if line_state != "damaged":
            return {}  # passed inspection: it waits in `returned` for its restock
        return {"returned": out_of_returned, "damaged": q}
    if event_type == "return.restocked":
        return {"returned": out_of_returned, "on_hand": q}
    return {}


def _move(positions: dict[Key, _Position], history: list[dict[str, Any]], key: Key, delta: float,
          fact: _Fact) -> None:
    held = positions.get(key)
    applied = held is None or held.base_at is None or fact.at > held.base_at
    if held is None:
        positions[key] = _Position(delta, fact.at, None, fact.event_id, dirty=True)
    elif applied:
        held.qty = round(held.qty + delta, 6)
        if fact.at >= held.as_of:
            held.as_of, held.event_id = fact.at, fact.event_id
        held.dirty = True
    history.append(_history_row(key, fact, delta, delta, applied))


async def _snapshot(conn: Connection, positions: dict[Key, _Position], history: list[dict[str, Any]],
                    key: Key, qty: float, fact: _Fact) -> None:
    held = positions.get(key)
    applied = held is None or held.base_at is None or fact.at > held.base_at
    if applied:
        later = 0.0
        if held is not None and held.as_of > fact.at:  # movements after this snapshot arrived before it
            later = await _later_deltas(conn, key, fact.at, history)
        if held is None:
            positions[key] = _Position(qty, fact.at, fact.at, fact.event_id, dirty=True)
        else:
            held.qty, held.base_at, held.dirty = round(qty + later, 6), fact.at, True
            if fact.at >= held.as_of:
                held.as_of, held.event_id = fact.at, fact.event_id
    history.append(_history_row(key, fact, None, qty, applied))


async def _later_deltas(conn: Connection, key: Key, after: datetime, pending: list[dict[str, Any]]) -> float:
    stored = await store.stored_deltas_after(conn, key, after)
    in_batch = sum(r["delta"] for r in pending if r["delta"] is not None and r["at"] > after
                   and (r["sku"], r["location"], r["source"], r["state"]) == key)
    return float(stored) + in_batch


def _history_row(key: Key, fact: _Fact, delta: float | None, qty: float, applied: bool) -> dict[str, Any]:
    return {"sku": key[0], "location": key[1], "source": key[2], "state": key[3], "at": fact.at,
            "event_id": fact.event_id, "event_type": fact.type, "delta": delta, "qty": qty, "applied": applied}


async def _load(conn: Connection, triples: set[tuple[str, str, str]]) -> dict[Key, _Position]:
    return {(r.sku, r.location, r.source, r.state): _Position(r.qty, r.as_of, r.base_at, r.event_id)
            for r in await store.positions_of(conn, triples)}


async def _save(conn: Connection, positions: dict[Key, _Position], history: list[dict[str, Any]],
                now: datetime) -> None:
    rows = [{"sku": sku, "location": location, "source": source, "state": state, "qty": pos.qty, "as_of": pos.as_of,
             "base_at": pos.base_at, "event_id": pos.event_id, "updated_at": now}
            for (sku, location, source, state), pos in positions.items() if pos.dirty]
    await store.save_positions(conn, rows, history)
