"""Keyset pagination for every list: ``first``/``after`` forward, ``last``/``before`` backward, a capped count.

A page is ordered by a list of keys (columns with a direction) whose last key is unique (an id), so a cursor is the
tuple of the row's key values and the next page starts strictly after it: rows inserted meanwhile land before or
after the cursor, never shift it, so paging never skips or repeats a row (unlike OFFSET).

Counts stop at :data:`TOTAL_COUNT_CAP` (GitHub's search and Shopify's count do the same): a count at the cap
means "at least that many".
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, make_dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import and_, func, or_, select

from hub.store.exception_queries import SEVERITY_RANK
from hub.store.tables import api_keys, audit_log, deliveries, exceptions, transactions

MAX_PAGE = 100
DEFAULT_PAGE = 20  # the cost estimate's page size for a list field given neither first nor last
TOTAL_COUNT_CAP = 10_000


def encode_cursor(*parts: Any) -> str:
    text = "|".join(p.isoformat() if isinstance(p, datetime) else str(p) for p in parts)
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_cursor(cursor: str, count: int) -> list[str]:
    """The parts of a cursor; ``ValueError`` if it is not one of ours."""
    try:
        parts = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except Exception:  # noqa: BLE001 - any garbage is the caller's bad cursor
        raise ValueError("invalid cursor") from None
    if len(parts) != count:
        raise ValueError("invalid cursor")
    return parts


@dataclass(frozen=True, slots=True)
class Key:
    """One ordering key: a column (or expression), its direction, and how a cursor part turns back into a value."""

    column: Any
    descending: bool = False
    parse: Callable[[str], Any] = str
    name: str | None = None  # the row attribute holding the value (default: the column's name)


def as_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Exactly one of ``first`` (with an optional ``after``) or ``last`` (with an optional ``before``)."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def check(self) -> None:
        """``ValueError`` unless exactly one of first/last is given, within 1..:data:`MAX_PAGE`."""
        if (self.first is None) == (self.last is None):
            raise ValueError("give `first` (with `after`) or `last` (with `before`), not both and not neither")
        size = self.first if self.first is not None else self.last
        if size is None or not 1 <= size <= MAX_PAGE:
            raise ValueError(f"`first`/`last` must be between 1 and {MAX_PAGE}")
        if self.first is not None and self.before is not None:
            raise ValueError("`before` goes with `last`")
        if self.last is not None and self.after is not None:
            raise ValueError("`after` goes with `first`")

    @property
    def size(self) -> int:
        size = self.first if self.first is not None else self.last
        assert size is not None
        return size


@dataclass(slots=True)
class KeysetPage:
    rows: list[Any]  # plain records (:func:`plain`), in the list's order
    has_next: bool
    has_previous: bool
    start_cursor: str | None
    end_cursor: str | None


def cursor_for(row: Any, keys: Sequence[Key], tag: str | None = None) -> str:
    """The cursor of ``row`` in ``keys`` order; ``tag`` (e.g. which of a list's orders) leads it when given."""
    values = [getattr(row, k.name or k.column.name) for k in keys]
    return encode_cursor(*([tag] if tag is not None else []), *values)


def _beyond(keys: Sequence[Key], values: list[Any], forward: bool) -> Any:
    """Rows strictly past ``values`` in the walking direction: (k1 > v1) or (k1 = v1 and k2 > v2) or …

    Led by the redundant k1 >= v1, a range an index seeks to: without it a page deep in a long list would walk
    every entry before the cursor to test the OR on each.
    """
    clauses = []
    for i, key in enumerate(keys):
        ascending = key.descending != forward  # walking forward on a descending key means going down
        step = key.column > values[i] if ascending else key.column < values[i]
        clauses.append(and_(*(keys[j].column == values[j] for j in range(i)), step))
    first_ascending = keys[0].descending != forward
    return and_(keys[0].column >= values[0] if first_ascending else keys[0].column <= values[0], or_(*clauses))


def _values(cursor: str, keys: Sequence[Key], tag: str | None = None) -> list[Any]:
    if tag is not None:
        found, *parts = decode_cursor(cursor, len(keys) + 1)
        if found != tag:
            raise ValueError("invalid cursor: it belongs to another order")
    else:
        parts = decode_cursor(cursor, len(keys))
    try:
        return [key.parse(part) for key, part in zip(keys, parts, strict=True)]
    except ValueError:
        raise ValueError("invalid cursor") from None


async def keyset_page(conn: Any, query: Any, keys: Sequence[Key], request: PageRequest,
                      tag: str | None = None) -> KeysetPage:
    """One page of ``query`` (a filtered ``select`` without ORDER BY/LIMIT) in ``keys`` order, always returned in
    that order; ``ValueError`` for a bad request or a cursor that is not ours. ``tag``: a list paged in several
    orders names the order in its cursors, and refuses a cursor of another one."""
    request.check()
    forward = request.first is not None
    cursor = request.after if forward else request.before
    rows = await keyset_rows(conn, query, keys, forward, _values(cursor, keys, tag) if cursor else None,
                             request.size)
    return page_from(rows, keys, request, tag)


async def keyset_rows(conn: Any, query: Any, keys: Sequence[Key], forward: bool, values: list[Any] | None,
                      size: int) -> list[Any]:
    """Up to ``size + 1`` rows of ``query`` past the cursor ``values`` (None: from the start), walking order."""
    return list((await conn.execute(keyset_query(query, keys, forward, values, size))).all())


def keyset_query(query: Any, keys: Sequence[Key], forward: bool, values: list[Any] | None, size: int) -> Any:
    """The statement :func:`keyset_rows` runs: ``query`` past the cursor, in walking order, ``size + 1`` rows."""
    if values is not None:
        query = query.where(_beyond(keys, values, forward))
    order = [(k.column.desc() if k.descending == forward else k.column.asc()) for k in keys]
    return query.order_by(*order).limit(size + 1)


def cursor_values(cursor: str, keys: Sequence[Key]) -> list[Any]:
    """The key values a cursor holds; ``ValueError`` for one that is not ours."""
    return _values(cursor, keys)


@cache
def _record_type(fields: tuple[str, ...]) -> type:
    return make_dataclass("Record", fields, frozen=True, slots=True)


def plain(row: Any) -> Any:
    """A result row as a plain frozen dataclass with the same attribute names: no SQLAlchemy row leaves the store."""
    mapping = row._mapping
    return _record_type(tuple(mapping.keys()))(*mapping.values())


def page_from(rows: list[Any], keys: Sequence[Key], request: PageRequest, tag: str | None = None) -> KeysetPage:
    """The page of up to ``size + 1`` rows fetched in walking order (the extra one says there is more), its rows
    plain objects (:func:`plain`)."""
    forward = request.first is not None
    size = request.size
    cursor = request.after if forward else request.before
    more = len(rows) > size
    rows = [plain(row) for row in rows[:size]]
    if not forward:
        rows.reverse()
    start = cursor_for(rows[0], keys, tag) if rows else None
    end = cursor_for(rows[-1], keys, tag) if rows else None
    if forward:
        return KeysetPage(rows, has_next=more, has_previous=cursor is not None, start_cursor=start, end_cursor=end)
    return KeysetPage(rows, has_next=cursor is not None, has_previous=more, start_cursor=start, end_cursor=end)


async def capped_count(conn: Any, query: Any) -> int:
    """How many rows ``query`` matches, counted up to :data:`TOTAL_COUNT_CAP`."""
    inner = query.with_only_columns(query.selected_columns[0]).limit(TOTAL_COUNT_CAP).subquery()
    return (await conn.execute(select(func.count()).select_from(inner))).scalar_one()


# The orders lists are paged in (each ends in the unique id; cursors match the older first/after-only ones).
TRANSACTION_ORDER = [Key(transactions.c.id, descending=True)]  # newest first; ids are time-ordered and immutable
DELIVERY_ORDER = [Key(deliveries.c.id, descending=True)]
KEY_ORDER = [Key(api_keys.c.created_at, parse=as_datetime), Key(api_keys.c.prefix)]  # oldest first
AUDIT_ORDER = [Key(audit_log.c.id, descending=True, parse=int)]  # newest first; ids only grow
EXCEPTION_ORDER = {
    "age": [Key(exceptions.c.opened_at, parse=as_datetime), Key(exceptions.c.id)],
    "severity": [Key(SEVERITY_RANK, descending=True, parse=int, name="rank"),
                 Key(exceptions.c.opened_at, parse=as_datetime), Key(exceptions.c.id)],
}
