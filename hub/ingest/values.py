"""Hostile values, refused at one boundary: every parsed event passes :func:`check_events` before it is recorded.

A correctly signed delivery can still carry values no store or rule can take: a lone UTF-16 surrogate
(``"\\ud800"``: it encodes in no UTF-8, so SQLite's and PostgreSQL's drivers both refuse it) or a NUL
(PostgreSQL text cannot hold U+0000), a quantity or amount that is NaN or infinite (a ``Decimal`` NaN
raises when compared) or absurdly large, a time outside any business (date arithmetic overflows near
year 9999), a text longer than its column (PostgreSQL refuses it, SQLite would not). Each such value
fails the whole write transaction, so it must never get that far: :class:`RefusedValue` names the
field (``event[0].refs[1].value: lone surrogate U+D800 at 0``) and the normalizer dead-letters the
delivery. The normalizer calls this right after the adapter's ``parse``, so it covers every adapter,
``/ingest`` and replay alike.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.model import ROLES, Event, as_utc
from hub.stock.ledger import SNAPSHOTS
from hub.store import limits

EARLIEST = datetime(1970, 1, 1)
LATEST = datetime(2200, 1, 1)  # exclusive: "outside 1970–2200"
MAX_QTY = Decimal(10) ** 12  # units; stock positions are floats, exact far beyond this
MAX_AMOUNT = Decimal(10) ** 15  # in the currency's major unit: beyond any order, payout or GDP
STATUSES = ("ok", "failed")
# Where a line's own state becomes a stock position's state (hub.stock.ledger), so its column length applies.
STATE_SETTING_TYPES = frozenset({*SNAPSHOTS, "inventory.adjusted"})
MAX_REASON = 2000

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# W3C Trace Context §3.2 (https://www.w3.org/TR/trace-context/#traceparent-header): version-traceid-parentid-flags,
# lowercase hex; version ff, an all-zero trace id or parent id are invalid, and an invalid traceparent MUST be
# ignored (a new trace starts), so it is dropped rather than refusing the event it came with.
_TRACEPARENT = re.compile(r"(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")


class RefusedValue(ValueError):
    """A value the hub will not store; the message is ``<field>: <why>``."""


def check_events(events: list[Event]) -> list[Event]:
    """The events, each checked by :func:`check_event` (fields prefixed ``event[i].``); raises on the first bad one."""
    for index, event in enumerate(events):
        check_event(event, f"event[{index}].")
    return events


def check_event(event: Event, prefix: str = "") -> None:
    """Raise :class:`RefusedValue` naming the first unstorable field; drop an invalid traceparent."""
    _text(event.source, prefix + "source", limits.SOURCE, required=True)
    _text(event.source_event_id, prefix + "source_event_id", limits.SOURCE_EVENT_ID, required=True)
    _text(event.type, prefix + "type", limits.EVENT_TYPE, required=True)
    if event.status not in STATUSES:
        raise RefusedValue(f"{prefix}status: {event.status!r} is not one of {', '.join(STATUSES)}")
    _text(event.error, prefix + "error")
    _time(event.occurred_at, prefix + "occurred_at")
    for index, ref in enumerate(event.refs):
        where = f"{prefix}refs[{index}]"
        _text(ref.namespace, where + ".namespace", limits.REF_NAMESPACE, required=True, empty=True)
        _text(ref.value, where + ".value", limits.REF_VALUE, required=True, empty=True)  # empty: junk, dropped
        if ref.role not in ROLES:
            raise RefusedValue(f"{where}.role: {ref.role!r} is not one of {', '.join(ROLES)}")
        if len(ref.namespace) + 1 + len(ref.value) > limits.SUBJECT:  # a placeholder's exception names both
            raise RefusedValue(f"{where}: namespace:value is {len(ref.namespace) + 1 + len(ref.value)} characters, "
                               f"more than {limits.SUBJECT}")
    for index, line in enumerate(event.lines):
        where = f"{prefix}lines[{index}]"
        _text(line.sku, where + ".sku", limits.SKU, required=True)
        _text(line.location, where + ".location", limits.LOCATION)
        _text(line.state, where + ".state", limits.STOCK_STATE if event.type in STATE_SETTING_TYPES else None)
        _number(line.qty, where + ".qty", MAX_QTY)
    if event.amount is not None:
        where = prefix + "amount"
        value = _number(event.amount.value, where + ".value", MAX_AMOUNT)
        if len(str(value)) > limits.AMOUNT_VALUE:
            raise RefusedValue(f"{where}.value: {len(str(value))} characters, more than {limits.AMOUNT_VALUE}")
        _text(event.amount.currency, where + ".currency", limits.CURRENCY, required=True)
        _text(event.amount.kind, where + ".kind", limits.AMOUNT_KIND, required=True)
    if event.traceparent is not None and not (isinstance(event.traceparent, str)
                                              and _TRACEPARENT.fullmatch(event.traceparent)):
        event.traceparent = None


def safe_text(text: str, limit: int = MAX_REASON) -> str:
    """``text`` made storable (NUL and lone surrogates shown as escapes), at most ``limit`` characters:
    for texts the hub writes about a delivery (a dead letter's reason), which must never fail that write."""
    cleaned = _UNSTORABLE.sub(lambda match: match.group().encode("unicode_escape", "backslashreplace").decode(),
                              text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit - 1] + "…"


def json_text(value: Any, **options: Any) -> str:
    """``json.dumps`` with non-ASCII kept readable (``ensure_ascii=False``) but a lone surrogate written as its
    ``\\udxxx`` escape: the text still encodes as UTF-8 (for a page, a response, a stored body) and parses back
    to the same value. (A surrogate can only sit inside a JSON string, where the escape is valid.)"""
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", json.dumps(value, ensure_ascii=False,
                                                                                     **options))


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored as text (``lone surrogate U+D800 at 3``, ``NUL at 0``), or None."""
    match = _UNSTORABLE.search(text)
    if match is None:
        return None
    char = match.group()
    return f"NUL at {match.start()}" if char == "\x00" else f"lone surrogate U+{ord(char):04X} at {match.start()}"


def _text(value: Any, where: str, limit: int | None = None, *, required: bool = False, empty: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise RefusedValue(f"{where}: must be a string, got {type(value).__name__}")
    if required and not empty and not value:
        raise RefusedValue(f"{where}: must not be empty")
    why = unstorable(value)
    if why is not None:
        raise RefusedValue(f"{where}: {why}")
    if limit is not None and len(value) > limit:
        raise RefusedValue(f"{where}: {len(value)} characters, more than {limit}")


def _number(value: Any, where: str, bound: Decimal) -> Decimal:
    number = None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            pass
    if number is None:
        raise RefusedValue(f"{where}: not a number ({type(value).__name__})")
    if not number.is_finite():
        raise RefusedValue(f"{where}: not finite ({number})")
    if abs(number) >= bound:
        raise RefusedValue(f"{where}: {number} is beyond ±{bound:.0E}")
    return number


def _time(value: datetime | None, where: str) -> None:
    if value is None:
        return
    try:
        moment = as_utc(value)
    except OverflowError:  # an offset pushing it past year 1 or 9999
        raise RefusedValue(f"{where}: {value.isoformat(sep=' ')} outside 1970–2200") from None
    if not EARLIEST <= moment < LATEST:
        raise RefusedValue(f"{where}: {moment.isoformat(sep=' ')} outside 1970–2200")
