"""How long each stored text of an event may be: the ``VARCHAR(n)`` lengths PostgreSQL enforces on a write.

SQLite stores any length, PostgreSQL refuses a longer value and fails the whole write transaction, so the
hub checks these before recording (``hub.ingest.values``). Read from the tables, so a migration that widens a
column widens the check with it.
"""

from __future__ import annotations

from hub.store.tables import events, exceptions, ref_keys, refs, stock_positions


def _length(column) -> int:  # type: ignore[no-untyped-def]
    return int(column.type.length)


SOURCE = _length(events.c.source)
SOURCE_EVENT_ID = _length(events.c.source_event_id)
EVENT_TYPE = _length(events.c.type)
AMOUNT_VALUE = _length(events.c.amount_value)
CURRENCY = _length(events.c.amount_currency)
AMOUNT_KIND = _length(events.c.amount_kind)
REF_NAMESPACE = min(_length(refs.c.namespace), _length(ref_keys.c.namespace))
REF_VALUE = min(_length(refs.c.value), _length(ref_keys.c.value))
SKU = _length(stock_positions.c.sku)
LOCATION = _length(stock_positions.c.location)
STOCK_STATE = _length(stock_positions.c.state)
SUBJECT = _length(exceptions.c.subject)  # a placeholder ref's exception is about "namespace:value"
