"""Recording canonical events: dedup, correlation into transactions, aliases and summaries.

Correlation itself is decided in :mod:`hub.correlation.plan` (a pure plan); this module reads the store's view of the
keys a batch touches, and applies the plan.

Promise: :func:`record_events` runs inside the caller's write transaction and is idempotent — an event
already stored under ``(source, source_event_id)`` is counted as a duplicate, never stored twice; an
event re-derived from the *same* delivery (``replay``) replaces its earlier version under the same id.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, literal, select, text, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.correlation.plan import (
    CorrelationSettings,
    Key,
    KeyState,
    Plan,
    View,
    clean_refs,
    out_of_order,
    placeholders,
    plan,
    spread_floor,
    to_repartition,
)
from hub.exceptions.lifecycle import Changes, Finding, raise_exception
from hub.ids import new_id
from hub.model import EVENT_TYPES, IDENTITY, Event, Ref, as_utc, needs_identity, transaction_kind, utcnow
from hub.store import Store, dedup_keys, pair_params, pairs_in
from hub.store.bulk import add_to, insert_rows
from hub.store.correlation_locks import TransactionLocks, lock_keys
from hub.store.dedup_keys import events_by_key
from hub.store.lookups import chunks, one_of, select_in
from hub.store.tables import (
    deliveries,
    events,
    exceptions,
    ref_keys,
    refs,
    transaction_attributes,
    transactions,
    tx_aliases,
)


@dataclass(slots=True)
class Incoming:
    """An event as parsed from a delivery, waiting to be recorded."""

    event: Event
    delivery_id: str
    received_at: datetime


@dataclass(slots=True)
class Recorded:
    stored: int = 0
    duplicates: int = 0
    transactions: set[str] = field(default_factory=set)
    demoted: list[Key] = field(default_factory=list)
    changes: Changes = field(default_factory=Changes)
    unlinked: set[tuple[str, str]] = field(default_factory=set)  # (source, type) whose unlinked count may change
    held: dict[str, Held] = field(default_factory=dict)  # each of ``transactions`` as recording left it


@dataclass(slots=True)
class Member:
    """One event of a recorded transaction: what its summary and its evaluation read (``events`` columns)."""

    id: str
    source: str
    type: str
    occurred_at: datetime
    received_at: datetime
    out_of_order: bool
    attributes: dict[str, str] | None
    status: str
    error: str | None
    duplicates: int
    lines: list[dict] | None
    amount_value: str | None
    amount_currency: str | None
    amount_kind: str | None


@dataclass(slots=True)
class Held:
    """A transaction as the recording transaction left it (locked until it commits): its kind (None: no event is
    left and it was deleted) and its events in stored order, so evaluating it right after reads nothing again."""

    kind: str | None
    events: list[Member]


async def record_events(store: Store, conn: AsyncConnection, items: list[Incoming],
                        settings: CorrelationSettings, whole: Iterable[str] = ()) -> Recorded:
    """Store new events, count duplicates, and (re)compute the transactions they touch.

    ``whole``: deliveries whose every event is in ``items`` (the normalizer derives a delivery at once); an
    event stored earlier from one of them under a key not derived now is outdated and removed (a replay after
    an adapter renamed its events, e.g. Amazon's type-qualified ids, replaces rather than adds).
    """
    result = Recorded()
    cleaned = [clean_refs(item.event.refs, settings) for item in items]  # once per event: for the locks and rows
    # PostgreSQL: hubs recording the same keys take turns (hub/store/correlation_locks.py); before any read
    await lock_keys(conn, {(r.namespace, r.value) for item_refs in cleaned for r in item_refs if r.role == IDENTITY},
                    {(item.event.source, item.event.source_event_id) for item in items})
    refs_of: dict[Key, list[Ref]] = {}  # each event key's refs as its first item states them (the one recorded)
    for item, item_refs in zip(items, cleaned, strict=True):
        refs_of.setdefault((item.event.source, item.event.source_event_id), item_refs)
    locks = TransactionLocks(conn)
    fresh, batch_repeats = _first_of_each(items)
    by_key = {(i.event.source, i.event.source_event_id): i for i in fresh}
    derived_whole = set(whole)
    known, outdated = await _stored(conn, items, by_key, derived_whole)
    # The transactions of the stored events this batch counts again or replaces are locked before those events'
    # rows are written, and the events read again until every one is locked: a merge rewrites its loser's events,
    # so writing them first would wait on a merge that waits on this batch (a deadlock), and a transaction merged
    # away meanwhile would be re-partitioned in place of its winner.
    while await locks.take({row.tx_id for row in known if row.tx_id is not None}
                           | {tx for tx, _ in outdated.values() if tx is not None}):
        known, outdated = await _stored(conn, items, by_key, derived_whole)
    reuse_ids: dict[Key, str] = {}
    recompute: set[str] = set()
    repeats: Counter[str] = Counter()
    for row in known:
        key = (row.source, row.source_event_id)
        incoming = by_key[key]
        if row.delivery_id == incoming.delivery_id:  # re-derived by a replay: replace it, keep its id
            reuse_ids[key] = row.id
            if row.tx_id is None:
                result.unlinked.add((row.source, row.type))  # it may be linked now (a fixed mapping)
            else:
                recompute.add(row.tx_id)
        else:
            repeats[row.id] += 1 + batch_repeats.pop(key, 0)
            if row.tx_id is not None:
                result.transactions.add(row.tx_id)  # its duplicate count changed: rules look again
            del by_key[key]
    result.duplicates = sum(repeats.values()) + sum(batch_repeats.values())
    await _count_repeats(conn, repeats)
    recompute.update(tx for tx, _ in outdated.values() if tx is not None)
    result.unlinked.update(kind for tx, kind in outdated.values() if tx is None)
    await _forget(conn, [*reuse_ids.values(), *outdated])

    resent = await _resent(conn, {item.delivery_id for item in by_key.values()})
    rows, ref_rows, keys_of = _rows(list(by_key.values()), reuse_ids, batch_repeats, resent, refs_of)
    result.stored = len(rows)
    if rows or recompute:
        # An event that names nothing it is about joins no transaction (it would be an orphan nobody finds):
        # it is stored unlinked and counted per source and type by an `unlinked` exception (hub.correlation.unlinked).
        batch = {row["id"]: frozenset(keys_of[row["id"]]) for row in rows
                 if keys_of[row["id"]] or not needs_identity(row["type"])}
        view = await _read_view(conn, batch, recompute, settings.placeholder_threshold, locks)
        decided = plan(batch, view, settings.placeholder_threshold)
        await _apply(conn, decided, settings.placeholder_threshold, result.changes)
        for row in rows:
            row["tx_id"] = decided.tx_of.get(row["id"])
        result.unlinked.update((row["source"], row["type"]) for row in rows if row["tx_id"] is None)
        result.demoted = [d.key for d in decided.demotions]
        result.transactions.update(decided.touched)
    # Every stored transaction summarised below is locked already: a duplicate's or a replayed event's when the event
    # was read, a key's or a re-partitioned one's by _read_view; the plan's others are new (no row to lock yet).
    # Summarised before the batch is stored: it reads only stored events.
    result.held = await _summarise(conn, result.transactions, rows, bool(reuse_ids or outdated))
    if conn.dialect.name == "postgresql":  # events is partitioned there: the keys decide "stored once"
        await dedup_keys.add_events(conn, rows)
    await insert_rows(conn, events, rows)
    await insert_rows(conn, refs, ref_rows)
    return result


async def _stored(conn: AsyncConnection, items: list[Incoming], by_key: dict[Key, Incoming], whole: set[str]
                  ) -> tuple[list[Any], dict[str, tuple[str | None, tuple[str, str]]]]:
    """The stored events under the batch's keys, and the outdated ones of the ``whole`` deliveries."""
    stored, key_columns = events_by_key(conn.dialect.name, *_STORED_COLUMNS)
    if conn.dialect.name != "postgresql" or not whole or not by_key:
        return await select_in(conn, stored, key_columns, by_key), await _outdated(conn, items, whole)
    # PostgreSQL: both reads in one statement (one round trip), told apart by a column
    rows = (await conn.execute(union_all(
        stored.add_columns(literal(True).label("by_key")).where(pairs_in(*key_columns, list(by_key), "postgresql")),
        select(*_STORED_COLUMNS, literal(False)).where(one_of(conn, events.c.delivery_id, sorted(whole)))))).all()
    return [row for row in rows if row.by_key], _outdated_of(items, whole, [row for row in rows if not row.by_key])


_STORED_COLUMNS = (events.c.id, events.c.source, events.c.source_event_id, events.c.delivery_id, events.c.tx_id,
                   events.c.type)


def _first_of_each(items: list[Incoming]) -> tuple[list[Incoming], Counter[Key]]:
    seen: set[Key] = set()
    fresh: list[Incoming] = []
    repeats: Counter[Key] = Counter()
    for item in items:
        key = (item.event.source, item.event.source_event_id)
        if key in seen:
            repeats[key] += 1
        else:
            seen.add(key)
            fresh.append(item)
    return fresh, repeats


async def _outdated(conn: AsyncConnection, items: list[Incoming],
                    whole: set[str]) -> dict[str, tuple[str | None, tuple[str, str]]]:
    """Events stored earlier from the ``whole`` deliveries under a key their derivation no longer yields:
    event id → (transaction, or None when unlinked; (source, type)). Only a replayed delivery has any (one query
    by the delivery index otherwise)."""
    if not whole:
        return {}
    return _outdated_of(items, whole, await select_in(conn, select(*_STORED_COLUMNS), events.c.delivery_id,
                                                       sorted(whole)))


def _outdated_of(items: list[Incoming], whole: set[str],
                 stored: list[Any]) -> dict[str, tuple[str | None, tuple[str, str]]]:
    """Of the events stored from the ``whole`` deliveries, those under a key the items no longer derive."""
    derived: dict[str, set[Key]] = {delivery: set() for delivery in whole}
    for item in items:
        if item.delivery_id in derived:
            derived[item.delivery_id].add((item.event.source, item.event.source_event_id))
    return {row.id: (row.tx_id, (row.source, row.type)) for row in stored
            if (row.source, row.source_event_id) not in derived[row.delivery_id]}


async def _resent(conn: AsyncConnection, delivery_ids: set[str]) -> dict[str, int]:
    """How often each delivery was sent again before its events existed (the inbox counts it on the delivery).

    Read inside the writer's transaction, so a repeat the inbox records later finds the events and counts there.
    """
    rows = await select_in(conn, select(deliveries.c.id, deliveries.c.repeats).where(deliveries.c.repeats > 0),
                            deliveries.c.id, delivery_ids)
    return {row.id: row.repeats for row in rows}


async def _count_repeats(conn: AsyncConnection, repeats: Counter[str]) -> None:
    if repeats:
        await conn.execute(
            update(events).where(events.c.id == bindparam("b_id")).values(duplicates=events.c.duplicates
                                                                           + bindparam("b_n")),
            [{"b_id": event_id, "b_n": n} for event_id, n in sorted(repeats.items())])  # rows locked in id order


async def _forget(conn: AsyncConnection, event_ids: list[str]) -> None:
    """Remove earlier versions of re-derived events (their identity refs stop counting)."""
    if not event_ids:
        return
    old = await select_in(conn, select(refs.c.namespace, refs.c.value).where(refs.c.role == IDENTITY),
                           refs.c.event_id, event_ids)
    await _add_key_counts(conn, Counter((r.namespace, r.value) for r in old), sign=-1)
    for chunk in chunks(event_ids):
        await conn.execute(delete(refs).where(refs.c.event_id.in_(chunk)))
        if conn.dialect.name == "postgresql":
            await dedup_keys.forget_events(conn, chunk)
        await conn.execute(delete(events).where(events.c.id.in_(chunk)))


def _rows(items: list[Incoming], reuse_ids: dict[Key, str], batch_repeats: Counter[Key], resent: dict[str, int],
          refs_of: dict[Key, list[Ref]]) -> tuple[list[dict], list[dict], dict[str, set[Key]]]:
    rows: list[dict] = []
    ref_rows: list[dict] = []
    keys_of: dict[str, set[Key]] = {}
    for item in items:
        event = item.event
        key = (event.source, event.source_event_id)
        event_id = reuse_ids.get(key) or new_id("evt")
        cleaned = refs_of[key]
        keys_of[event_id] = {(r.namespace, r.value) for r in cleaned if r.role == IDENTITY}
        ref_rows.extend({"event_id": event_id, "namespace": r.namespace, "value": r.value, "role": r.role}
                        for r in cleaned)
        rows.append({
            "id": event_id, "source": event.source, "source_event_id": event.source_event_id, "type": event.type,
            "occurred_at": as_utc(event.occurred_at or item.received_at), "received_at": item.received_at,
            "delivery_id": item.delivery_id, "status": event.status, "error": event.error,
            "traceparent": event.traceparent,
            "lines": [{"sku": ln.sku, "qty": str(ln.qty), "location": ln.location, "state": ln.state}
                      for ln in event.lines] or None,
            "amount_value": str(event.amount.value) if event.amount else None,
            "amount_currency": event.amount.currency if event.amount else None,
            "amount_kind": event.amount.kind if event.amount else None,
            "amount_parts": [{"value": str(p.value), "currency": p.currency, "kind": p.kind}
                             for p in event.amount_parts] or None,
            "unknown_type": event.type not in EVENT_TYPES, "out_of_order": False, "tx_id": None,
            "duplicates": batch_repeats.get(key, 0) + resent.get(item.delivery_id, 0),
            "attributes": dict(event.attributes) or None,
        })
    return rows, ref_rows, keys_of


async def _load_keys(conn: AsyncConnection, keys: Iterable[Key]) -> dict[Key, Any]:
    rows = await select_in(conn, select(ref_keys), (ref_keys.c.namespace, ref_keys.c.value), list(keys))
    return {(r.namespace, r.value): r for r in rows}


async def _add_key_counts(conn: AsyncConnection, counts: Counter[Key], sign: int = 1) -> None:
    await add_to(conn, ref_keys, "events", ("namespace", "value"), {key: sign * n for key, n in counts.items()})


async def _read_view(conn: AsyncConnection, batch: dict[str, frozenset[Key]], resplit: set[str],
                     threshold: int, locks: TransactionLocks) -> View:
    """What the plan needs to know of the store: the batch's keys, the spread of those stored, and the members
    of the transactions to re-partition (read only when a demotion or a re-derived event asks for it).

    The transactions the keys belong to (and those to re-partition) are locked first, and the keys read again
    until every one they name is locked: a concurrent merge may have moved them while this waited."""
    view = View(resplit=set(resplit))
    wanted = {k for keys in batch.values() for k in keys}
    loaded = await _load_keys(conn, wanted)
    while await locks.take({row.tx_id for row in loaded.values() if row.tx_id is not None} | resplit):
        loaded = await _load_keys(conn, wanted)
    for key, row in loaded.items():
        view.keys[key] = KeyState(row.tx_id, row.events, bool(row.demoted))
    candidates = [key for key, state in view.keys.items() if not state.demoted]
    if candidates:
        view.spread = await _spreads(conn, candidates, spread_floor(batch, threshold))
    split = to_repartition(view, placeholders(batch, view, threshold))
    if split:
        await _read_members(conn, view, split)
    return view


async def _spreads(conn: AsyncConnection, keys: list[Key], floor: int) -> dict[Key, set[Key]]:
    """For each key holding more than ``floor`` values of another namespace on its stored events, the distinct
    identity keys of other namespaces on them. The counts come first, so the common case (no key near the
    threshold) returns no rows; the values are read only for the keys near it."""
    r1, r2 = refs.alias("r1"), refs.alias("r2")
    pairs = (select().select_from(r1.join(r2, r2.c.event_id == r1.c.event_id))
             .where(r1.c.role == IDENTITY, r2.c.role == IDENTITY, r2.c.namespace != r1.c.namespace))
    if floor > 0 and conn.dialect.name == "postgresql":
        firsts, seconds = pair_params(keys)
        near = set(map(tuple, await conn.execute(_NEAR_PG, {"firsts": firsts, "seconds": seconds, "floor": floor})))
        keys = [key for key in keys if key in near]
    elif floor > 0:
        near = {(row.ns, row.value) for row in await select_in(
            conn, pairs.add_columns(r1.c.namespace.label("ns"), r1.c.value.label("value"))
            .group_by(r1.c.namespace, r1.c.value, r2.c.namespace).having(func.count(func.distinct(r2.c.value)) > floor),
            (r1.c.namespace, r1.c.value), keys)}
        keys = [key for key in keys if key in near]
    spread: dict[Key, set[Key]] = defaultdict(set)
    if keys:
        query = pairs.add_columns(r1.c.namespace.label("ns"), r1.c.value.label("value"),
                                  r2.c.namespace.label("other_ns"), r2.c.value.label("other_value")).distinct()
        for row in await select_in(conn, query, (r1.c.namespace, r1.c.value), keys):
            spread[(row.ns, row.value)].add((row.other_ns, row.other_value))
    return spread


# PostgreSQL: the keys near the threshold, each probed by itself (the subquery per wanted key, through the refs'
# (namespace, value) index). The same test as a join of refs against the wanted pairs was planned, on a young table
# whose statistics say it is nearly empty, as a scan of every stored identity ref, each compared with every pair.
_NEAR_PG = text(
    "SELECT k.ns, k.value FROM unnest(CAST(:firsts AS text[]), CAST(:seconds AS text[])) AS k(ns, value) "
    "WHERE EXISTS (SELECT FROM refs r1 JOIN refs r2 ON r2.event_id = r1.event_id "
    f"WHERE r1.namespace = k.ns AND r1.value = k.value AND r1.role = '{IDENTITY}' AND r2.role = '{IDENTITY}' "
    "AND r2.namespace <> r1.namespace GROUP BY r2.namespace HAVING count(DISTINCT r2.value) > :floor)")


async def _read_members(conn: AsyncConnection, view: View, tx_ids: set[str]) -> None:
    """Each transaction's events with their identity keys, and those keys' state, in one statement."""
    rows = await select_in(
        conn, select(events.c.tx_id, events.c.id, refs.c.namespace, refs.c.value, ref_keys.c.tx_id.label("key_tx"),
                     ref_keys.c.events.label("key_events"), ref_keys.c.demoted)
        .select_from(events.outerjoin(refs, and_(refs.c.event_id == events.c.id, refs.c.role == IDENTITY))
                     .outerjoin(ref_keys, and_(ref_keys.c.namespace == refs.c.namespace,
                                               ref_keys.c.value == refs.c.value))),
        events.c.tx_id, sorted(tx_ids))
    members: dict[str, dict[str, set[Key]]] = {tx_id: {} for tx_id in tx_ids}
    for row in rows:
        keys = members[row.tx_id].setdefault(row.id, set())
        if row.namespace is not None:
            keys.add((row.namespace, row.value))
            if row.key_events is not None:
                view.keys.setdefault((row.namespace, row.value),
                                     KeyState(row.key_tx, row.key_events, bool(row.demoted)))
    view.members = {tx_id: {event: frozenset(keys) for event, keys in found.items()}
                    for tx_id, found in members.items()}


async def _apply(conn: AsyncConnection, decided: Plan, threshold: int, changes: Changes) -> None:
    """Write the plan: new keys, event counts, demotions (each with its exception), moves and merges."""
    await insert_rows(conn, ref_keys, [{"namespace": k.key[0], "value": k.key[1], "tx_id": k.tx_id,
                                        "events": k.events, "demoted": k.demoted} for k in decided.new_keys])
    await _add_key_counts(conn, Counter(decided.counts))
    stored_demotions = [{"b_ns": d.key[0], "b_value": d.key[1]} for d in decided.demotions
                        if d.key not in {k.key for k in decided.new_keys}]
    if stored_demotions:
        await conn.execute(update(ref_keys).where(ref_keys.c.namespace == bindparam("b_ns"),
                                                  ref_keys.c.value == bindparam("b_value"))
                           .values(demoted=True, tx_id=None), stored_demotions)
    if decided.moves:
        await conn.execute(update(events).where(events.c.id == bindparam("b_event")).values(tx_id=bindparam("b_tx")),
                           [{"b_event": e, "b_tx": tx} for e, tx in decided.moves.items()])
    if decided.key_moves:
        await conn.execute(update(ref_keys).where(ref_keys.c.namespace == bindparam("b_ns"),
                                                  ref_keys.c.value == bindparam("b_value"))
                           .values(tx_id=bindparam("b_tx")),
                           [{"b_ns": k[0], "b_value": k[1], "b_tx": tx} for k, tx in decided.key_moves.items()])
    if decided.merges:
        await _merge(conn, [{"b_loser": loser, "b_survivor": survivor} for loser, survivor in decided.merges.items()])
    for demotion in decided.demotions:
        key, spread = demotion.key, demotion.spread
        widest = max(spread, key=lambda ns: spread[ns])
        await raise_exception(conn, Finding(
            rule="correlation.placeholder", type="correlation", severity="warning", subject=f"{key[0]}:{key[1]}",
            message=(f"{key[0]} value {key[1]!r} appears on events of {spread[widest]} different {widest} "
                     "values: treated as a placeholder, it no longer merges transactions"),
            evidence={"namespace": key[0], "value": key[1], "events": demotion.events, "spread": spread,
                      "threshold": threshold}), changes=changes)


async def _merge(conn: AsyncConnection, merges: list[dict[str, str]]) -> None:
    """Fold each loser transaction into its survivor; the loser id stays resolvable as an alias."""
    for table, column in ((events, events.c.tx_id), (ref_keys, ref_keys.c.tx_id),
                          (tx_aliases, tx_aliases.c.tx_id), (exceptions, exceptions.c.tx_id)):
        await conn.execute(update(table).where(column == bindparam("b_loser")).values({column.name: bindparam(
            "b_survivor")}), merges)
    await conn.execute(tx_aliases.insert(), [{"alias": m["b_loser"], "tx_id": m["b_survivor"]} for m in merges])
    losers = [{"b_loser": m["b_loser"]} for m in merges]
    await conn.execute(delete(transactions).where(transactions.c.id == bindparam("b_loser")), losers)
    await conn.execute(delete(transaction_attributes).where(transaction_attributes.c.tx_id == bindparam("b_loser")),
                       losers)  # the survivor's attributes are recomputed from all its events


_MEMBER_FIELDS = tuple(column.name for column in fields(Member))
# A touched transaction's stored events, each with its transaction's open exceptions and whether it has attribute
# rows: one statement (those two were two more round trips per batch).
_MEMBERS = select(
    events.c.tx_id, *(events.c[name] for name in _MEMBER_FIELDS),
    select(func.count()).where(exceptions.c.tx_id == events.c.tx_id, exceptions.c.status != "resolved")
    .scalar_subquery().label("open"),
    exists().where(transaction_attributes.c.tx_id == events.c.tx_id).label("stating"))


async def _summarise(conn: AsyncConnection, tx_ids: set[str], new_rows: list[dict[str, Any]],
                     forgot: bool) -> dict[str, Held]:
    """Refresh each touched transaction's summary row and its events' out-of-order flags, from its stored events
    and the batch's ``new_rows`` (not stored yet: their flags are set in the rows). ``forgot``: the batch removed
    stored events (a replay). Returns each as it is left."""
    if not tx_ids:
        return {}
    stored = await select_in(conn, _MEMBERS, events.c.tx_id, sorted(tx_ids))
    # A transaction whose stored events this batch replaced or removed is not seen through its events: then its
    # open exceptions and attribute rows are read by transaction, as they are for the others otherwise.
    open_counts = await _open_counts(conn, tx_ids) if forgot else {row.tx_id: row.open for row in stored}
    by_tx: dict[str, list[Member]] = defaultdict(list)
    for row in stored:
        by_tx[row.tx_id].append(Member(*row[1:-2]))
    batch: dict[str, dict[str, Any]] = {}
    for new in new_rows:
        if new["tx_id"] in tx_ids:
            batch[new["id"]] = new
            by_tx[new["tx_id"]].append(Member(*(new[name] for name in _MEMBER_FIELDS)))
    now = utcnow()
    summaries = []
    flag_changes = []
    held = {tx_id: Held(None, []) for tx_id in tx_ids}
    for tx_id, members in by_tx.items():
        flagged = out_of_order([(m.id, m.type, m.occurred_at) for m in members])
        for member in members:
            if member.id in batch:
                batch[member.id]["out_of_order"] = member.id in flagged
            elif member.out_of_order != (member.id in flagged):
                flag_changes.append({"b_id": member.id, "b_flag": member.id in flagged})
            member.out_of_order = member.id in flagged
        kind = transaction_kind({m.type for m in members})
        # stored order, as a read by the transaction's index gives it: by time, then as inserted
        held[tx_id] = Held(kind, sorted(members, key=lambda m: (m.occurred_at, m.received_at)))
        summaries.append({
            "id": tx_id, "kind": kind,
            "first_at": min(m.occurred_at for m in members), "last_at": max(m.occurred_at for m in members),
            "updated_at": now, "events": len(members), "systems": sorted({m.source for m in members}),
            "open_exceptions": open_counts.get(tx_id, 0),
        })
    if flag_changes:
        await conn.execute(update(events).where(events.c.id == bindparam("b_id"))
                           .values(out_of_order=bindparam("b_flag")), flag_changes)
    empty = tx_ids - set(by_tx)
    for chunk in chunks(sorted(empty)):
        await conn.execute(delete(transactions).where(transactions.c.id.in_(chunk)))
    await _keep_attributes(conn, tx_ids, by_tx, None if forgot or empty else any(row.stating for row in stored))
    await insert_rows(conn, transactions, summaries, conflict=["id"],
                      update=["kind", "first_at", "last_at", "updated_at", "events", "systems", "open_exceptions"])
    return held


async def _open_counts(conn: AsyncConnection, tx_ids: set[str]) -> dict[str, int]:
    return dict(await select_in(conn, select(exceptions.c.tx_id, func.count()).where(exceptions.c.status != "resolved")
                                .group_by(exceptions.c.tx_id), exceptions.c.tx_id, sorted(tx_ids)))


def attributes_of(members: list[Any]) -> dict[str, str]:
    """A transaction's business attributes from its events': the latest statement of each name wins (timeline
    order), so a corrected channel or value band replaces the first one."""
    found: dict[str, str] = {}
    for member in sorted(members, key=lambda m: (m.occurred_at, m.id)):
        found.update(member.attributes or {})
    return found


async def _keep_attributes(conn: AsyncConnection, tx_ids: set[str], by_tx: dict[str, list[Any]],
                           stored: bool | None = None) -> None:
    """Rewrite the touched transactions' attribute rows (a merged-away or emptied one loses its rows). ``stored``:
    whether any of them has rows, when the caller knows (None: read)."""
    wanted = [{"tx_id": tx_id, "name": name, "value": value} for tx_id, members in by_tx.items()
              for name, value in attributes_of(members).items()]
    if not wanted and stored is None:
        stored = bool(await select_in(conn, select(transaction_attributes.c.tx_id), transaction_attributes.c.tx_id,
                                      sorted(tx_ids)))
    if not wanted and not stored:
        return  # the common case without attributes: no writes
    for chunk in chunks(sorted(tx_ids)):
        await conn.execute(delete(transaction_attributes).where(transaction_attributes.c.tx_id.in_(chunk)))
    if wanted:
        await conn.execute(transaction_attributes.insert(), wanted)


async def refresh_attributes(conn: AsyncConnection, tx_ids: set[str]) -> None:
    """Recompute these transactions' attribute rows from their stored events (after erasure or a purge rewrote or
    deleted some): values only gone events stated go with them."""
    if not tx_ids:
        return
    by_tx: dict[str, list[Any]] = defaultdict(list)
    for row in await select_in(conn, select(events.c.tx_id, events.c.id, events.c.occurred_at, events.c.attributes),
                                events.c.tx_id, sorted(tx_ids)):
        by_tx[row.tx_id].append(row)
    await _keep_attributes(conn, tx_ids, by_tx)
