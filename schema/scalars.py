"""``DateTime`` inputs as strawberry parses them (ISO 8601), then as the store keeps times: naive UTC; outputs in
UTC with their zone (``2026-11-02T09:30:00Z``, RFC 3339 §5.6), so no client reads them as its local time.

An offset is applied (``12:00+02:00`` is 10:00 UTC) instead of handed on: PostgreSQL refused an aware time against
its naive columns (an internal error) and SQLite compared it as text. A time outside what UTC can hold
(``0001-01-01T00:00:00+05:00`` is before year 1) is a clear input error rather than an ``OverflowError``."""

from __future__ import annotations

from datetime import UTC, datetime

import dateutil.parser
from strawberry.schema.types.base_scalars import DateTimeDefinition, wrap_parser
from strawberry.types.scalar import ScalarDefinition


def _parse(value: str) -> datetime:
    moment = dateutil.parser.isoparse(value)
    if moment.tzinfo is None:
        return moment  # naive times are UTC already (hub.model.as_utc)
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        raise ValueError("It is outside the years 1 to 9999 in UTC.") from None


def _serialize(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


DATETIME = ScalarDefinition(
    name=DateTimeDefinition.name, description=DateTimeDefinition.description, specified_by_url=None,
    serialize=_serialize, parse_value=wrap_parser(_parse, "DateTime", (ValueError, OverflowError)),
    parse_literal=None, origin=datetime)
SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {datetime: DATETIME}
