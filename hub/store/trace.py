"""``get_trace(ref) -> Trace``: one transaction end to end, read in one store call.

The one place a trace is assembled: the GraphQL ``Transaction`` (through its per-request loader) and the web
page ``/t/{id}`` both render this object. One read connection, and per batch of transactions a fixed number of
statements whatever their size (DESIGN §6: every await costs 0.15–0.25 ms here, so a trace is one JOIN):
1. the transaction with its events, their refs and whether each identity ref was demoted (one JOIN);
2. the transactions linked to it by a related ref, in either direction (one UNION, joined to their rows);
3. its exceptions, then (4.) their history, only when it has any.
Resolving the ref the user gave (``queries.resolve_ref``) adds one or two index seeks before these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model import IDENTITY, RELATED
from hub.store import exception_queries as xq
from hub.store.queries import EventRecord, event_record, identity_roles, resolve_ref
from hub.store.tables import events, ref_keys, refs, transactions

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
    lookup = await resolve_ref(conn, ref)
    if lookup.ambiguous:
        raise AmbiguousRef(ref, lookup.tx_ids)
    if not lookup.tx_ids:
        return None
    return (await get_traces(conn, lookup.tx_ids, linked=linked)).get(lookup.tx_ids[0])


async def get_traces(conn: AsyncConnection, tx_ids: Sequence[str], *, linked: bool = True) -> dict[str, Trace]:
    """The traces of these transaction ids (those that exist), in the same fixed number of statements
    (``linked=False``: statement 1 only, related and exceptions left empty)."""
    ids = list(dict.fromkeys(tx_ids))
    if not ids:
        return {}
    traces = await _transactions_with_events(conn, ids)
    if not traces or not linked:
        return traces
    found = list(traces)
    for tx, record in await _related(conn, found):
        traces[tx].related.append(record)
    exception_rows = await xq.exceptions_by_transaction(conn, found)
    history = await xq.history_of(conn, [x.id for rows in exception_rows.values() for x in rows]) \
        if exception_rows else {}
    for tx, rows in exception_rows.items():
        traces[tx].exceptions = list(rows)
        traces[tx].history = {x.id: list(history.get(x.id, [])) for x in rows}
    return traces


_TX_COLUMNS = [c.label(f"trace_{c.name}") for c in transactions.c]


def _transaction(row: Any, prefix: str = "") -> TransactionRecord:
    m = row._mapping
    return TransactionRecord(
        id=m[f"{prefix}id"], kind=m[f"{prefix}kind"], first_at=m[f"{prefix}first_at"], last_at=m[f"{prefix}last_at"],
        updated_at=m[f"{prefix}updated_at"], events=m[f"{prefix}events"], systems=list(m[f"{prefix}systems"] or []),
        open_exceptions=m[f"{prefix}open_exceptions"])


# Statement 1, built once (building it per call cost a fifth of a small trace's read).
_WITH_EVENTS = (
    select(*_TX_COLUMNS, *events.c, refs.c.namespace, refs.c.value, refs.c.role,
           ref_keys.c.demoted.label("ref_demoted"))
    .select_from(transactions.outerjoin(events, events.c.tx_id == transactions.c.id)
                 .outerjoin(refs, refs.c.event_id == events.c.id)
                 .outerjoin(ref_keys, and_(refs.c.role == IDENTITY, ref_keys.c.namespace == refs.c.namespace,
                                           ref_keys.c.value == refs.c.value)))
    .where(transactions.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(transactions.c.id, events.c.occurred_at, events.c.received_at, events.c.id, refs.c.namespace,
              refs.c.value))


async def _transactions_with_events(conn: AsyncConnection, ids: list[str]) -> dict[str, Trace]:
    """Statement 1: transactions LEFT JOIN events LEFT JOIN refs LEFT JOIN ref_keys (for ``demoted``)."""
    rows = (await conn.execute(_WITH_EVENTS, {"ids": ids})).all()
    traces: dict[str, Trace] = {}
    trace: Trace | None = None
    current: EventRecord | None = None
    for row in rows:
        if trace is None or trace.transaction.id != row.trace_id:
            trace = traces[row.trace_id] = Trace(_transaction(row, "trace_"))
            current = None
        if row.id is None:  # a transaction with no events left (all erased)
            continue
        if current is None or current.id != row.id:
            current = event_record(row)
            trace.events.append(current)
        if row.namespace is not None:
            current.refs.append((row.namespace, row.value, row.role))
            if row.ref_demoted:
                trace.demoted.add((row.namespace, row.value))
    return traces


async def _related(conn: AsyncConnection, ids: list[str]) -> list[tuple[str, TransactionRecord]]:
    """Statement 2: transactions linked by a related ref, either direction (a payout ↔ the orders it covers)."""
    outgoing = (select(events.c.tx_id.label("tx"), ref_keys.c.tx_id.label("other"))
                .select_from(events.join(refs, refs.c.event_id == events.c.id)
                             .join(ref_keys, and_(ref_keys.c.namespace == refs.c.namespace,
                                                  ref_keys.c.value == refs.c.value)))
                .where(events.c.tx_id.in_(ids), refs.c.role == RELATED, ref_keys.c.tx_id.is_not(None),
                       ref_keys.c.tx_id != events.c.tx_id))
    incoming = (select(ref_keys.c.tx_id.label("tx"), events.c.tx_id.label("other"))
                .select_from(ref_keys.join(refs, and_(refs.c.namespace == ref_keys.c.namespace,
                                                      refs.c.value == ref_keys.c.value))
                             .join(events, events.c.id == refs.c.event_id))
                .where(ref_keys.c.tx_id.in_(ids), refs.c.role == RELATED, events.c.tx_id != ref_keys.c.tx_id))
    links = union(outgoing, incoming).subquery()
    rows = (await conn.execute(
        select(links.c.tx, *transactions.c).select_from(links.join(transactions, transactions.c.id == links.c.other))
        .order_by(links.c.tx, transactions.c.id))).all()
    return [(row.tx, _transaction(row)) for row in rows]



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
