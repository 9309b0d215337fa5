"""Stock divergence: each source's position against the authoritative one, per SKU and location.

For every state both sides know (a state counts once a snapshot set it; ``available`` is derived as
on_hand − reserved for a source that does not report it), the difference is the source's quantity minus
the authoritative one, less the units **in flight**: stock movements of transfers, receipts and returns
(``IN_FLIGHT``) that one side has booked and the other has not yet (same transaction, same event type,
and newer than the other side's snapshot). A sale the POS saw and the ERP has not is *not* in flight:
the settle window covers that.

A pair whose largest difference exceeds the tolerance becomes a ``stock_divergences`` row, pending until
its settle window ends (``due_at``); :func:`tick_divergences` reads only rows that fell due and raises
the ``stock.divergence`` exception if the difference is still there. When the positions agree again the
row goes and the exception resolves itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from hub.config import Config
from hub.exceptions.lifecycle import Changes, Finding, auto_resolve, open_new, raise_exception
from hub.store import Connection
from hub.store import divergences as store

RULE = "stock.divergence"
IN_FLIGHT = ("transfer.shipped", "transfer.received", "receipt.received", "return.received", "return.restocked")
_CHUNK = 300
Pair = tuple[str, str]  # sku, location


def subject(sku: str, location: str, source: str) -> str:
    """The exception subject for one source's divergence at one SKU and location."""
    return f"{sku}@{location}/{source}"


def source_view(rows: Iterable[Any], authoritative: bool = False) -> dict[str, tuple[float, bool]]:
    """One source's comparable quantities by state → (qty, derived) from its position rows at one key.

    ``available`` is derived (on_hand − reserved) only for a source that knows reservations: one that
    reported any, or the authoritative source (none reported means none). A POS that counts shelves
    has no view of what the web shop reserved, so its on_hand is compared, not an availability.
    """
    rows = list(rows)
    based = {r.state: float(r.qty) for r in rows if r.base_at is not None}
    all_rows = {r.state: float(r.qty) for r in rows}
    view = {state: (qty, False) for state, qty in based.items()}
    if "available" not in view and "on_hand" in based and ("reserved" in all_rows or authoritative):
        view["available"] = (round(based["on_hand"] - all_rows.get("reserved", 0.0), 6), True)
    return view


async def evaluate_keys(conn: Connection, keys: Iterable[Pair], config: Config, now: datetime,
                        changes: Changes) -> int:
    """Re-evaluate these SKU × location pairs; returns how many sources diverge among them."""
    ordered = sorted(set(keys))
    divergent = 0
    for start in range(0, len(ordered), _CHUNK):
        divergent += await _evaluate_chunk(conn, ordered[start:start + _CHUNK], config, now, changes)
    return divergent


async def due_pairs(conn: Connection, now: datetime, limit: int = 2000) -> tuple[list[Pair], int]:
    """The SKU × location pairs whose settle window ended by ``now`` (first due first), and how many rows fell due."""
    due = await store.due_pairs(conn, now, limit)
    return list(dict.fromkeys(due)), len(due)


async def tick_divergences(conn: Connection, config: Config, now: datetime, changes: Changes,
                           limit: int = 2000) -> int:
    """Evaluate the pairs whose settle window ended by ``now``; returns how many rows fell due."""
    pairs, due = await due_pairs(conn, now, limit)
    if pairs:
        await evaluate_keys(conn, pairs, config, now, changes)
    return due


async def postpone(conn: Connection, pair: Pair, until: datetime) -> None:
    """Look at this pair again at ``until`` (its evaluation failed: the tick goes on without it)."""
    await store.postpone(conn, pair, until)


async def evaluate_all(conn: Connection, config: Config, now: datetime, changes: Changes,
                       batch: int = 3000) -> tuple[int, int]:
    """Sweep every SKU × location with a position (keyset over the positions); returns (pairs, divergent)."""
    last: Pair | None = None
    pairs = divergent = 0
    while True:
        keys = await store.position_pairs_after(conn, last, batch)
        if not keys:
            return pairs, divergent
        pairs += len(keys)
        divergent += await evaluate_keys(conn, keys, config, now, changes)
        last = keys[-1]


async def _evaluate_chunk(conn: Connection, keys: list[Pair], config: Config, now: datetime,
                          changes: Changes) -> int:
    by_key: dict[Pair, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for row in await store.positions_at(conn, keys):
        by_key[(row.sku, row.location)][row.source].append(row)
    existing = {(r.sku, r.location, r.source): r for r in await store.divergences_at(conn, keys)}
    flights = await _movements_in_flight(conn, keys)
    settings = config.stock
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for key in keys:
        sources = by_key.get(key)
        if not sources:
            continue
        sku, location = key
        authority = settings.authoritative_for(location, sku)
        if authority is None or authority not in sources:
            continue
        reference = source_view(sources[authority], authoritative=True)
        tolerance = settings.tolerance_for(sku, location)
        for source, rows in sources.items():
            if source == authority:
                continue
            result = _compare(source_view(rows), reference, flights.get(key, {}), source, authority,
                              _bases(rows), _bases(sources[authority]))
            if result is not None and result["units"] > tolerance:
                found[(sku, location, source)] = {**result, "authoritative": authority}
    await _reconcile(conn, keys, found, existing, config, now, changes)
    return len(found)


def _bases(rows: list[Any]) -> dict[str, datetime]:
    return {r.state: r.base_at for r in rows if r.base_at is not None}


def _compare(view: dict[str, tuple[float, bool]], reference: dict[str, tuple[float, bool]],
             flights: dict[str, list[Any]], source: str, authority: str, own_bases: dict[str, datetime],
             ref_bases: dict[str, datetime]) -> dict[str, Any] | None:
    # both availabilities derived: on_hand and reserved are compared on their own, nothing to add
    common = sorted(s for s in set(view) & set(reference) if not (view[s][1] and reference[s][1]))
    if not common:
        return None
    explained = _in_flight(flights.get(source, []), flights.get(authority, []), own_bases, ref_bases)
    states: dict[str, dict[str, float]] = {}
    for state in common:
        flight = explained.get("on_hand" if state == "available" else state, 0.0)
        difference = round(view[state][0] - reference[state][0] - flight, 6)
        states[state] = {"source": view[state][0], "authoritative": reference[state][0], "in_flight": flight,
                         "difference": difference}
    units = max(abs(s["difference"]) for s in states.values())
    return {"units": units, "states": states}


def _in_flight(own: list[Any], other: list[Any], own_bases: dict[str, datetime],
               other_bases: dict[str, datetime]) -> dict[str, float]:
    """Units the source has moved that the authority has not booked yet, minus the reverse, by state."""
    result: dict[str, float] = defaultdict(float)
    for rows, others, sign, bases in ((own, other, 1.0, other_bases), (other, own, -1.0, own_bases)):
        booked = {(r.tx_id, r.event_type, r.state) for r in others}
        for r in rows:
            base = bases.get(r.state)
            if (r.tx_id, r.event_type, r.state) not in booked and (base is None or r.at > base):
                result[r.state] += sign * float(r.delta)
    return result


async def _movements_in_flight(conn: Connection, keys: list[Pair]) -> dict[Pair, dict[str, list[Any]]]:
    result: dict[Pair, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for row in await store.movements_at(conn, keys, IN_FLIGHT):
        result[(row.sku, row.location)][row.source].append(row)
    return result


async def _reconcile(conn: Connection, keys: list[Pair], found: dict[tuple[str, str, str], dict[str, Any]],
                     existing: dict[tuple[str, str, str], Any], config: Config, now: datetime,
                     changes: Changes) -> None:
    gone = [k for k in existing if k not in found]
    if gone:
        open_keys = [f"{RULE}|{subject(*k)}" for k in gone if existing[k].status == "open"]
        if open_keys:
            for row in await store.exceptions_by_open_key(conn, open_keys):
                await auto_resolve(conn, row, "the positions agree again", changes=changes, now=now)
        await store.delete_divergences(conn, gone)
    raising = {key for key, result in found.items()
               if _must_raise(existing.get(key), result, now, now + config.stock.settle_for(key[0], key[1]))}
    last = await _last_movements(conn, [(k[0], k[1], side) for k in sorted(raising)
                                        for side in (k[2], found[k]["authoritative"])])
    raised = await _raise(conn, sorted(raising), found, existing, config, now, changes, last)
    inserts, updates = [], []
    for key, result in found.items():
        sku, location, source = key
        row = existing.get(key)
        unit_value = config.stock.value_for(sku, location)
        value = round(result["units"] * unit_value, 2) if unit_value is not None else None
        values = {"authoritative": result["authoritative"], "units": result["units"], "value": value,
                  "states": result["states"], "updated_at": now}
        status, due_at, exception_id = ((row.status, row.due_at, row.exception_id) if row is not None
                                        else ("pending", now + config.stock.settle_for(sku, location), None))
        if key in raised:
            exception_id, status, due_at = raised[key], "open", None
        if row is None:
            inserts.append({"sku": sku, "location": location, "source": source, "since": now, "status": status,
                            "due_at": due_at, "exception_id": exception_id, **values})
        elif (row.units, row.value, row.states, row.status, row.due_at) != (result["units"], value, result["states"],
                                                                            status, due_at):
            updates.append({"sku": sku, "location": location, "source": source, "status": status, "due_at": due_at,
                            "exception_id": exception_id, **values})
    await store.save_divergences(conn, inserts, updates)


def _must_raise(row: Any, result: dict[str, Any], now: datetime, due_if_new: datetime) -> bool:
    """A divergence whose settle window ended (a new one only with no window), or an open one whose numbers
    moved."""
    if row is None:
        return due_if_new <= now
    if row.status == "open":
        return (row.units, row.states) != (result["units"], result["states"])
    return row.due_at is not None and row.due_at <= now


async def _raise(conn: Connection, keys: list[tuple[str, str, str]],
                 found: dict[tuple[str, str, str], dict[str, Any]], rows: dict[tuple[str, str, str], Any],
                 config: Config, now: datetime, changes: Changes,
                 last: dict[tuple[str, str, str], list[dict[str, Any]]]) -> dict[tuple[str, str, str], str]:
    """Open or refresh the exception of each key; returns key → exception id. Keys that never had one are
    opened together (two statements); the others one by one (refresh or reopen)."""
    latest = await store.latest_exceptions(conn, [f"{RULE}|{subject(*k)}" for k in keys])
    findings = {k: _finding(k, found[k], rows[k].since if k in rows else now, config, last) for k in keys}
    fresh = [k for k in keys if findings[k].key not in latest]
    result = dict(zip(fresh, await open_new(conn, [findings[k] for k in fresh], routing=config.routing,
                                            changes=changes, now=now), strict=True))
    for k in keys:
        if k not in result:
            result[k] = await raise_exception(conn, findings[k], routing=config.routing, changes=changes,
                                              existing=latest[findings[k].key], now=now)
    return result


def _finding(key: tuple[str, str, str], result: dict[str, Any], since: datetime, config: Config,
             last_movements: dict[tuple[str, str, str], list[dict[str, Any]]]) -> Finding:
    sku, location, source = key
    authority = result["authoritative"]
    worst = max(result["states"], key=lambda s: abs(result["states"][s]["difference"]))
    numbers = result["states"][worst]
    last = {side: last_movements.get((sku, location, side), []) for side in (source, authority)}
    kinds = {name: s.kind for name, s in config.sources.items()}
    finding = Finding(
        rule=RULE, type="stock_divergence", severity="warning", subject=subject(sku, location, source),
        system=source, system_kind=kinds.get(source),
        message=(f"{sku} at {location}: {source} says {worst} {numbers['source']:g}, {authority} (authoritative) "
                 f"says {numbers['authoritative']:g}: {result['units']:g} units apart since "
                 f"{since.isoformat(timespec='seconds')}"),
        evidence={"sku": sku, "location": location, "source": source, "authoritative": authority,
                  "units": result["units"], "states": result["states"], "since": since.isoformat(),
                  "unit_value": config.stock.value_for(sku, location),
                  "tolerance": config.stock.tolerance_for(sku, location),
                  "last_movements": last})
    return finding


async def _last_movements(conn: Connection, sides: list[tuple[str, str, str]],
                          per_side: int = 3) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """The newest ``per_side`` history rows of each (sku, location, source), as the exception's evidence."""
    rows = await store.last_movements(conn, sides, per_side)
    return {side: [{"at": r.at.isoformat(), "type": r.event_type, "state": r.state, "delta": r.delta, "qty": r.qty,
                    "event": r.event_id} for r in history] for side, history in rows.items()}
