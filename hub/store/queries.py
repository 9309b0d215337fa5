"""Read functions over the store: what GraphQL, the web UI and the CLI ask. One JOIN per trace, keyset pages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model import IDENTITY, RELATED
from hub.store import driver, pairs_in
from hub.store.driver import Plan, Sql
from hub.store.paging import TRANSACTION_ORDER, KeysetPage, PageRequest, keyset_page
from hub.store.tables import deliveries, events, ref_keys, refs, transaction_attributes, transactions

MAX_PAGE = 100


@dataclass(slots=True)
class EventRecord:
    """An event as read back, with its refs (one JOIN fetches both)."""

    id: str
    tx_id: str | None  # None: unlinked (no identity ref)
    source: str
    source_event_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    status: str
    error: str | None
    delivery_id: str
    traceparent: str | None
    lines: list[dict[str, Any]]
    amount_value: str | None
    amount_currency: str | None
    amount_kind: str | None
    unknown_type: bool
    out_of_order: bool
    duplicates: int
    refs: list[tuple[str, str, str]] = field(default_factory=list)  # (namespace, value, role)
    amount_parts: list[dict[str, Any]] = field(default_factory=list)  # [{value, currency, kind}]


class RefLookup:
    """How a ref string resolved: zero, one or several transactions (several: ask with ``namespace:value``)."""

    def __init__(self, tx_ids: list[str], related_only: bool = False) -> None:
        self.tx_ids = tx_ids
        self.related_only = related_only  # found only through refs that identify nothing (related, demoted)

    @property
    def ambiguous(self) -> bool:
        return len(self.tx_ids) > 1


def split_ref(text: str) -> tuple[str | None, str]:
    """``shop:order:5012`` → (``shop:order``, ``5012``); a value without two colons has no namespace."""
    parts = text.split(":", 2)
    if len(parts) == 3 and parts[0] and parts[1]:
        return f"{parts[0]}:{parts[1]}", parts[2]
    return None, text


MIN_PREFIX = 5  # a unique prefix this long finds its transaction (shorter ones match too much to mean one)


def ref_variants(text: str) -> list[str]:
    """The forms a typed or pasted ref may be stored in: as given, URL-decoded (a value copied from a link), without
    or with a leading ``#`` (``1008`` and ``#1008``), upper and lower case (``so-40001``); each once, in that order."""
    decoded = unquote(text).strip() if "%" in text else text
    forms = []
    for base in dict.fromkeys((text, decoded)):
        bare = base.lstrip("#").strip()
        for form in (base, bare, f"#{bare}"):
            forms += [form, form.upper(), form.lower()]
    return [form for form in dict.fromkeys(forms) if form and form != "#"]


# resolve_ref's statements, read on the driver (hub.store.driver): one thread hop or prepared statements
_TX_OF_KEYS = "SELECT DISTINCT tx_id FROM ref_keys WHERE tx_id IS NOT NULL AND "
_TX_BY_ID = Sql("SELECT id FROM transactions WHERE id = $1")
_TX_BY_ALIAS = Sql("SELECT tx_id FROM tx_aliases WHERE alias = $1")
_TX_BY_PAIR = Sql(_TX_OF_KEYS + "namespace = $1 AND value = $2")
_TX_BY_VALUE = Sql(_TX_OF_KEYS + "value = $1")
_TX_BY_VALUES = Sql(_TX_OF_KEYS + "value = ANY($1::text[])")
# a prefix: the range the value index serves, then LIKE (autoescaped) keeps the exact prefix
_TX_BY_PREFIX = Sql(_TX_OF_KEYS + "value >= $1 AND value < $2 AND value LIKE $3 ESCAPE '/' LIMIT 100")
_TX_STATING = "SELECT DISTINCT events.tx_id FROM events JOIN refs ON refs.event_id = events.id WHERE refs.value = $1 " \
    "AND events.tx_id IS NOT NULL"
_TX_STATING_VALUE = Sql(_TX_STATING + " LIMIT 100")
_TX_STATING_PAIR = Sql(_TX_STATING + " AND refs.namespace = $2 LIMIT 100")


async def resolve_ref(conn: AsyncConnection, text: str) -> RefLookup:
    """Transactions a user-given string names: a transaction id, a merged-away id, or any identity ref — as
    typed or in any of its :func:`ref_variants`, else by a prefix of at least :data:`MIN_PREFIX` characters."""
    return await driver.run(conn, lambda _codec: resolving(text))


def resolving(text: str) -> Plan[RefLookup]:
    """:func:`resolve_ref` as a plan of statements (hub.store.driver), for a read that goes on from it."""
    text = text.strip()
    if "%" in text:
        text = unquote(text).strip()
    if "\x00" in text:  # no stored ref holds a NUL (PostgreSQL text cannot): nothing to look up
        return RefLookup([])
    if text.startswith("tx_"):
        found = yield _TX_BY_ID, (text,)
        if not found:
            found = yield _TX_BY_ALIAS, (text,)
        if found:
            return RefLookup([found[0][0]])
    namespace, value = split_ref(text)
    if namespace is not None:
        found = yield _TX_BY_PAIR, (namespace, value)
        if found:
            return RefLookup(sorted(row[0] for row in found))
    ids = [row[0] for row in (yield _TX_BY_VALUE, (text,))]
    if not ids:
        ids = [row[0] for row in (yield _TX_BY_VALUES, (ref_variants(text),))]
    if not ids and len(text.lstrip("#")) >= MIN_PREFIX:
        ids = yield from _by_prefix(text.lstrip("#"))
    if not ids:  # a value only ever stated by one event with no identity ref of its own, or demoted
        found = yield ((_TX_STATING_PAIR, (value, namespace)) if namespace else (_TX_STATING_VALUE, (text,)))
        return RefLookup(sorted(row[0] for row in found), related_only=True)
    return RefLookup(sorted(ids))


def _by_prefix(prefix: str) -> Plan[list[str]]:
    """Transactions holding an identity ref that starts with ``prefix`` (as typed, upper or lower case): a range
    on the value index, never a scan; at most :data:`MAX_PAGE`."""
    found: set[str] = set()
    for form in dict.fromkeys((prefix, prefix.upper(), prefix.lower(), f"#{prefix}")):
        like = form.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
        found.update(row[0] for row in (yield _TX_BY_PREFIX, (form, form + "\U0010ffff", like)))
    return sorted(found)[:MAX_PAGE]


async def transaction_citing(conn: AsyncConnection, values: Sequence[str]) -> tuple[str, str] | None:
    """(id, kind) of the transaction that most of these values are identity refs of (ties: the newest); None when
    they name none. What a dead letter's raw body cites finds its order this way."""
    if not values:
        return None
    rows = (await conn.execute(select(ref_keys.c.tx_id, ref_keys.c.value).where(
        ref_keys.c.value.in_(list(values)), ref_keys.c.tx_id.is_not(None), ref_keys.c.demoted.is_(False)))).all()
    cited: dict[str, set[str]] = defaultdict(set)
    for tx_id, value in rows:
        cited[tx_id].add(value)
    if not cited:
        return None
    tx_id = max(cited, key=lambda t: (len(cited[t]), t))
    kind = (await conn.execute(select(transactions.c.kind).where(transactions.c.id == tx_id))).scalar()
    return (tx_id, kind) if kind is not None else None


async def identity_refs(conn: AsyncConnection, tx_ids: Sequence[str],
                        per_tx: int = 4) -> dict[str, list[tuple[str, str, str]]]:
    """Each transaction's identity refs (namespace, value, role), a few each, sorted: what tells choice list rows
    apart (as ref triples, so hub.access.privacy masks a personal namespace's value)."""
    found: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    if tx_ids:
        rows = await conn.execute(select(ref_keys.c.tx_id, ref_keys.c.namespace, ref_keys.c.value)
                                  .where(ref_keys.c.tx_id.in_(list(tx_ids)), ref_keys.c.demoted.is_(False))
                                  .order_by(ref_keys.c.tx_id, ref_keys.c.namespace, ref_keys.c.value))
        for tx_id, namespace, value in rows:
            if len(found[tx_id]) < per_tx:
                found[tx_id].append((namespace, value, IDENTITY))
    return dict(found)


async def transactions_by_id(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, Any]:
    rows = (await conn.execute(select(transactions).where(transactions.c.id.in_(list(ids))))).all()
    return {row.id: row for row in rows}


async def events_by_transaction(conn: AsyncConnection, tx_ids: Sequence[str]) -> dict[str, list[EventRecord]]:
    """Each transaction's events in timeline order (occurred_at, then received_at), refs included."""
    return await _events(conn, events.c.tx_id.in_(list(tx_ids)), events.c.tx_id)


async def events_by_id(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, EventRecord]:
    """These events (linked or not), refs included."""
    return {event_id: found[0] for event_id, found in
            (await _events(conn, events.c.id.in_(list(ids)), events.c.id)).items()}


async def _events(conn: AsyncConnection, condition: Any, key: Any) -> dict[str, list[EventRecord]]:
    """The events matching ``condition`` grouped by ``key`` (a column), each group in timeline order."""
    rows = (await conn.execute(
        select(events, refs.c.namespace, refs.c.value, refs.c.role)
        .select_from(events.outerjoin(refs, refs.c.event_id == events.c.id))
        .where(condition)
        .order_by(key, events.c.occurred_at, events.c.received_at, events.c.id, refs.c.namespace,
                  refs.c.value))).all()
    result: dict[str, list[EventRecord]] = defaultdict(list)
    current: EventRecord | None = None
    for row in rows:
        if current is None or current.id != row.id:
            current = event_record(row)
            result[row._mapping[key]].append(current)
        if row.namespace is not None:
            current.refs.append((row.namespace, row.value, row.role))
    return result


def event_record(row: Any) -> EventRecord:
    """An ``EventRecord`` (refs still empty) from a row holding the columns of ``events``."""
    return EventRecord(
        id=row.id, tx_id=row.tx_id, source=row.source, source_event_id=row.source_event_id, type=row.type,
        occurred_at=row.occurred_at, received_at=row.received_at, status=row.status, error=row.error,
        delivery_id=row.delivery_id, traceparent=row.traceparent, lines=row.lines or [],
        amount_value=row.amount_value, amount_currency=row.amount_currency, amount_kind=row.amount_kind,
        unknown_type=bool(row.unknown_type), out_of_order=bool(row.out_of_order), duplicates=row.duplicates,
        amount_parts=row.amount_parts or [])


async def demoted_keys(conn: AsyncConnection, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these identity refs were demoted as placeholders (they show as ``related``)."""
    if not keys:
        return set()
    rows = await conn.execute(select(ref_keys.c.namespace, ref_keys.c.value).where(
        ref_keys.c.demoted.is_(True), pairs_in(ref_keys.c.namespace, ref_keys.c.value, list(keys),
                                                  conn.dialect.name)))
    return {(r.namespace, r.value) for r in rows}


async def related_transactions(conn: AsyncConnection, tx_ids: Sequence[str]) -> dict[str, list[str]]:
    """Transactions linked by a related ref in either direction (a payout ↔ the orders it covers)."""
    ids = list(tx_ids)
    outgoing = (await conn.execute(
        select(events.c.tx_id.label("tx"), ref_keys.c.tx_id.label("other"))
        .select_from(events.join(refs, refs.c.event_id == events.c.id)
                     .join(ref_keys, and_(ref_keys.c.namespace == refs.c.namespace, ref_keys.c.value == refs.c.value)))
        .where(events.c.tx_id.in_(ids), refs.c.role == RELATED, ref_keys.c.tx_id.is_not(None),
               ref_keys.c.tx_id != events.c.tx_id).distinct())).all()
    incoming = (await conn.execute(
        select(ref_keys.c.tx_id.label("tx"), events.c.tx_id.label("other"))
        .select_from(ref_keys.join(refs, and_(refs.c.namespace == ref_keys.c.namespace,
                                              refs.c.value == ref_keys.c.value))
                     .join(events, events.c.id == refs.c.event_id))
        .where(ref_keys.c.tx_id.in_(ids), refs.c.role == RELATED, events.c.tx_id != ref_keys.c.tx_id).distinct())).all()
    result: dict[str, set[str]] = defaultdict(set)
    for row in [*outgoing, *incoming]:
        result[row.tx].add(row.other)
    return {tx: sorted(others) for tx, others in result.items()}


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    kind: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    has_exceptions: bool | None = None
    attributes: tuple[tuple[str, str], ...] = ()  # (name, value): each must hold


async def list_transactions(conn: AsyncConnection, flt: TransactionFilter, first: int,
                            after: str | None) -> KeysetPage:
    """Newest first by id (time-sortable and immutable, unlike first_at, which a late early event moves):
    a keyset cursor on it never repeats or skips a row while events keep arriving."""
    return await keyset_page(conn, transaction_query(flt), TRANSACTION_ORDER, PageRequest(first=first, after=after))


def transaction_query(flt: TransactionFilter) -> Any:
    """The filtered ``select`` of transactions (no order, no limit) that lists and counts share."""
    query = select(transactions)
    if flt.kind:
        query = query.where(transactions.c.kind == flt.kind)
    if flt.source:
        query = query.where(exists().where(events.c.tx_id == transactions.c.id, events.c.source == flt.source))
    if flt.since:
        query = query.where(transactions.c.last_at >= flt.since)
    if flt.until:
        query = query.where(transactions.c.first_at < flt.until)
    if flt.has_exceptions is not None:
        query = query.where(transactions.c.open_exceptions > 0 if flt.has_exceptions
                            else transactions.c.open_exceptions == 0)
    for name, value in flt.attributes:
        query = query.where(exists().where(transaction_attributes.c.tx_id == transactions.c.id,
                                           transaction_attributes.c.name == name,
                                           transaction_attributes.c.value == value))
    return query


async def attributes_by_transaction(conn: AsyncConnection, tx_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """Each transaction's business attributes, ``{tx_id: {name: value}}`` (absent: none)."""
    result: dict[str, dict[str, str]] = defaultdict(dict)
    if tx_ids:
        rows = await conn.execute(select(transaction_attributes).where(transaction_attributes.c.tx_id.in_(
            list(tx_ids))).order_by(transaction_attributes.c.tx_id, transaction_attributes.c.name))
        for row in rows:
            result[row.tx_id][row.name] = row.value
    return dict(result)


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    source: str | None = None
    state: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def delivery_query(flt: DeliveryFilter) -> Any:
    """The filtered ``select`` of deliveries (body left out, its size in ``size``) that lists and counts share."""
    query = select(*[c for c in deliveries.c if c.name != "body"], func.length(deliveries.c.body).label("size"))
    if flt.source:
        query = query.where(deliveries.c.source == flt.source)
    if flt.state:
        query = query.where(deliveries.c.state == flt.state)
    if flt.since:
        query = query.where(deliveries.c.received_at >= flt.since)
    if flt.until:
        query = query.where(deliveries.c.received_at < flt.until)
    return query


async def get_delivery(conn: AsyncConnection, delivery_id: str) -> Any:
    return (await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id))).first()


async def oldest_pending(conn: AsyncConnection) -> datetime | None:
    """When the head of the inbox queue (the first pending delivery, in the order the normalizer takes them)
    was queued: received, or put back by a replay. One seek on ``ix_deliveries_state``; None when none waits."""
    return (await conn.execute(
        select(func.coalesce(deliveries.c.processed_at, deliveries.c.received_at))
        .where(deliveries.c.state == "pending").order_by(deliveries.c.id).limit(1))).scalar_one_or_none()


async def pending_count(conn: AsyncConnection) -> int:
    """How many deliveries wait for the normalizer."""
    return int((await conn.execute(select(func.count()).select_from(deliveries)
                                   .where(deliveries.c.state == "pending"))).scalar_one())


async def delivery_states(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, str]:
    """Delivery id → state (pending, done, dead) for those of ``ids`` that exist."""
    if not ids:
        return {}
    return dict((await conn.execute(select(deliveries.c.id, deliveries.c.state)
                                    .where(deliveries.c.id.in_(list(ids))))).all())


async def events_by_delivery(conn: AsyncConnection, delivery_ids: Sequence[str]) -> dict[str, list[str]]:
    rows = await conn.execute(select(events.c.delivery_id, events.c.id).where(
        events.c.delivery_id.in_(list(delivery_ids))).order_by(events.c.id))
    result: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        result[row.delivery_id].append(row.id)
    return result


def identity_roles(record: EventRecord, demoted: set[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """The event's refs with demoted placeholders shown as ``related`` (they link but no longer merge)."""
    return [(ns, value, RELATED if role == IDENTITY and (ns, value) in demoted else role)
            for ns, value, role in record.refs]
