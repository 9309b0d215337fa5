"""``get_trace(ref) -> Trace``: one transaction end to end, read in one store call.

The one place a trace is assembled: the GraphQL ``Transaction`` (through its per-request loader) and the web
page ``/t/{id}`` both render this object. One read connection, and per batch of transactions a fixed number of
statements whatever their size (DESIGN §6: every await costs 0.15–0.25 ms here, so a trace is one JOIN):
1. the transaction with its events, their refs and whether each identity ref was demoted (one JOIN);
2. the transactions linked to it by a related ref, in either direction (one UNION, joined to their rows);
3. its exceptions, then (4.) their history, only when it has any.
Resolving the ref the user gave (``queries.resolving``) adds one or two index seeks before these. Resolving and
statements 1–2 run on the driver (:mod:`hub.store.driver`): on SQLite all of them in one thread hop, on PostgreSQL
as asyncpg prepared statements; 3–4 go through SQLAlchemy (callers render their rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model import IDENTITY, RELATED
from hub.store import driver
from hub.store import exception_queries as xq
from hub.store.driver import Codec, Plan, Sql
from hub.store.queries import EventRecord, RefLookup, identity_roles, resolving

if TYPE_CHECKING:
    from hub.store import Store

__all__ = ["AmbiguousRef", "Trace", "TraceRef", "TransactionRecord", "get_trace", "get_traces"]


@dataclass(slots=True)
class TransactionRecord:
    """A transaction row as read back (the columns of ``transactions``)."""

    id: str
    kind: str
    first_at: datetime
    last_at: datetime
    updated_at: datetime
    events: int
    systems: list[str]
    open_exceptions: int


@dataclass(frozen=True, slots=True)
class TraceRef:
    """A ref of the trace, once: identity when any event states it as identity, with the sources that stated it."""

    namespace: str
    value: str
    role: str
    systems: tuple[str, ...]
    demoted: bool  # an identity ref demoted as a placeholder: it shows as related and links nothing


@dataclass(slots=True)
class Trace:
    """One transaction, its events in timeline order (refs, lines, amounts), related transactions, exceptions."""

    transaction: TransactionRecord
    events: list[EventRecord] = field(default_factory=list)
    demoted: set[tuple[str, str]] = field(default_factory=set)  # identity refs of its events that were demoted
    related: list[TransactionRecord] = field(default_factory=list)
    exceptions: list[Any] = field(default_factory=list)  # rows of ``exceptions``, oldest first
    history: dict[str, list[Any]] = field(default_factory=dict)  # exception id → its history rows

    def event_refs(self, record: EventRecord) -> list[tuple[str, str, str]]:
        """The event's refs as (namespace, value, role), demoted placeholders shown as ``related``."""
        return identity_roles(record, self.demoted)

    @property
    def refs(self) -> list[TraceRef]:
        """Every ref any event stated, once, sorted by (namespace, value); identity wins over related."""
        seen: dict[tuple[str, str], tuple[str, set[str]]] = {}
        for record in self.events:
            for ns, value, role in self.event_refs(record):
                role_seen, systems = seen.setdefault((ns, value), (role, set()))
                systems.add(record.source)
                if role == IDENTITY and role_seen != IDENTITY:
                    seen[(ns, value)] = (IDENTITY, systems)
        return [TraceRef(ns, value, role, tuple(sorted(systems)), (ns, value) in self.demoted)
                for (ns, value), (role, systems) in sorted(seen.items())]


class AmbiguousRef(LookupError):
    """The ref names several transactions: ask again with ``namespace:value``."""

    def __init__(self, ref: str, tx_ids: list[str]) -> None:
        super().__init__(f"{ref!r} names {len(tx_ids)} transactions")
        self.tx_ids = tx_ids


async def get_trace(conn: AsyncConnection, ref: str, *, linked: bool = True) -> Trace | None:
    """The trace of the one transaction ``ref`` names (any ref, transaction id or merged-away id); None when
    nothing matches; ``AmbiguousRef`` when several do. ``trace.transaction.id`` is the surviving id.
    ``linked=False``: without its related transactions and exceptions (statements 2–4), for a caller that shows
    neither."""
    lookup, traces = await driver.run(conn, lambda codec: _looking_up(ref, linked, codec))
    if lookup.ambiguous:
        raise AmbiguousRef(ref, lookup.tx_ids)
    if linked and traces:
        await _add_exceptions(conn, traces)
    return traces.get(lookup.tx_ids[0]) if lookup.tx_ids else None


async def get_traces(conn: AsyncConnection, tx_ids: Sequence[str], *, linked: bool = True) -> dict[str, Trace]:
    """The traces of these transaction ids (those that exist), in the same fixed number of statements
    (``linked=False``: statement 1 only, related and exceptions left empty)."""
    ids = list(dict.fromkeys(tx_ids))
    if not ids:
        return {}
    traces = await driver.run(conn, lambda codec: _reading(ids, linked, codec))
    if linked and traces:
        await _add_exceptions(conn, traces)
    return traces


def _looking_up(ref: str, linked: bool, codec: Codec) -> Plan[tuple[RefLookup, dict[str, Trace]]]:
    """Resolving the ref and reading the trace it names, as one plan (one thread hop on SQLite)."""
    lookup = yield from resolving(ref)
    if lookup.ambiguous or not lookup.tx_ids:
        return lookup, {}
    return lookup, (yield from _reading(lookup.tx_ids, linked, codec))


def _reading(ids: list[str], linked: bool, codec: Codec) -> Plan[dict[str, Trace]]:
    """Statement 1, then (``linked``) statement 2 for the transactions found."""
    traces = _traces((yield _WITH_EVENTS, (ids,)), codec)
    if linked and traces:
        for row in (yield _RELATED, (list(traces),)):
            traces[row[0]].related.append(_transaction(row, 1, codec))
    return traces


async def _add_exceptions(conn: AsyncConnection, traces: dict[str, Trace]) -> None:
    """Statements 3 and 4 (through SQLAlchemy: their rows are the ``exceptions`` rows callers render)."""
    exception_rows = await xq.exceptions_by_transaction(conn, list(traces))
    history = await xq.history_of(conn, [x.id for rows in exception_rows.values() for x in rows]) \
        if exception_rows else {}
    for tx, rows in exception_rows.items():
        traces[tx].exceptions = list(rows)
        traces[tx].history = {x.id: list(history.get(x.id, [])) for x in rows}


# JSON columns are read as their text and decoded once per transaction or event (asyncpg's codec would decode them
# on every row of the join: the transaction's on each of its events' refs)
_TX_COLUMNS = ("t.id, t.kind, t.first_at, t.last_at, t.updated_at, t.events, CAST(t.systems AS TEXT), "
               "t.open_exceptions")


def _transaction(row: Any, at: int, codec: Codec) -> TransactionRecord:
    """The transaction whose ``_TX_COLUMNS`` start at column ``at`` of ``row``."""
    time = codec.time
    return TransactionRecord(
        id=row[at], kind=row[at + 1], first_at=time(row[at + 2]), last_at=time(row[at + 3]),
        updated_at=time(row[at + 4]), events=row[at + 5], systems=list(codec.json(row[at + 6]) or []),
        open_exceptions=row[at + 7])


# Statement 1: transactions LEFT JOIN events LEFT JOIN refs LEFT JOIN ref_keys (for ``demoted``), in timeline order.
_WITH_EVENTS = Sql(
    f"SELECT {_TX_COLUMNS}, e.id, e.tx_id, e.source, e.source_event_id, e.type, e.occurred_at, e.received_at, "
    "e.status, e.error, e.delivery_id, e.traceparent, CAST(e.lines AS TEXT), e.amount_value, e.amount_currency, "
    "e.amount_kind, e.unknown_type, e.out_of_order, e.duplicates, CAST(e.amount_parts AS TEXT), r.namespace, r.value, "
    "r.role, k.demoted "
    "FROM transactions t LEFT JOIN events e ON e.tx_id = t.id LEFT JOIN refs r ON r.event_id = e.id "
    f"LEFT JOIN ref_keys k ON r.role = '{IDENTITY}' AND k.namespace = r.namespace AND k.value = r.value "
    "WHERE t.id = ANY($1::text[]) "
    "ORDER BY t.id, e.occurred_at, e.received_at, e.id, r.namespace, r.value")


def _traces(rows: list[Any], codec: Codec) -> dict[str, Trace]:
    """Statement 1's rows as traces: one row per ref of each event (one with no ref, none with no event)."""
    time, json = codec.time, codec.json
    traces: dict[str, Trace] = {}
    tx_id = event_id = None
    for row in rows:
        if row[0] != tx_id:
            tx_id, event_id = row[0], None
            trace = traces[tx_id] = Trace(_transaction(row, 0, codec))
        if row[8] is None:  # a transaction with no events left (all erased)
            continue
        if row[8] != event_id:
            event_id = row[8]
            current = EventRecord(
                id=row[8], tx_id=row[9], source=row[10], source_event_id=row[11], type=row[12],
                occurred_at=time(row[13]), received_at=time(row[14]), status=row[15], error=row[16],
                delivery_id=row[17], traceparent=row[18], lines=json(row[19]) or [], amount_value=row[20],
                amount_currency=row[21], amount_kind=row[22], unknown_type=bool(row[23]),
                out_of_order=bool(row[24]), duplicates=row[25], amount_parts=json(row[26]) or [])
            trace.events.append(current)
        if row[27] is not None:
            current.refs.append((row[27], row[28], row[29]))
            if row[30]:
                trace.demoted.add((row[27], row[28]))
    return traces


# Statement 2: transactions linked by a related ref, either direction (a payout ↔ the orders it covers).
_RELATED = Sql(
    f"SELECT l.tx, {_TX_COLUMNS} FROM ("
    "SELECT e.tx_id AS tx, k.tx_id AS other FROM events e JOIN refs r ON r.event_id = e.id "
    "JOIN ref_keys k ON k.namespace = r.namespace AND k.value = r.value "
    f"WHERE e.tx_id = ANY($1::text[]) AND r.role = '{RELATED}' AND k.tx_id IS NOT NULL AND k.tx_id != e.tx_id "
    "UNION "
    "SELECT k.tx_id AS tx, e.tx_id AS other FROM ref_keys k JOIN refs r ON r.namespace = k.namespace "
    "AND r.value = k.value JOIN events e ON e.id = r.event_id "
    f"WHERE k.tx_id = ANY($1::text[]) AND r.role = '{RELATED}' AND e.tx_id != k.tx_id"
    ") AS l JOIN transactions t ON t.id = l.other ORDER BY l.tx, t.id")


async def find_trace(store: Store, ref: str, *, linked: bool = True) -> Trace | None:
    """:func:`get_trace` for a caller: a ref the replica does not know yet is asked of the primary, and the
    caller reads the primary for a while after (:mod:`hub.store.replica`). ``AmbiguousRef`` as get_trace."""
    replica = await store.on_replica()
    async with store.read() as conn:
        trace = await get_trace(conn, ref, linked=linked)
    if trace is None and replica:
        store.freshness.wrote()
        async with store.read(primary=True) as conn:
            trace = await get_trace(conn, ref, linked=linked)
    return trace
