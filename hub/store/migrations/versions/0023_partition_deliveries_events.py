"""PostgreSQL: deliveries and events partitioned by month on their ids; dedup keys in their own tables

The table as it is becomes the first partition (``FROM (MINVALUE) TO (<next month>)``, attached without copying:
PostgreSQL only checks its rows against the bound), the next three months and the partition for ids that are not
time-shaped are created (hub/store/partitions.py). A partitioned table cannot keep the unique constraints on
``(source, dedup_key)`` and ``(source, source_event_id)``: ``delivery_keys`` and ``event_keys`` take them, filled
from the stored rows. SQLite keeps plain tables and its constraints.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 22:10:00

"""
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from alembic import op
from sqlalchemy import text

from hub.store.partitions import (
    AHEAD_MONTHS,
    PREFIXES,
    bound,
    create_month,
    create_other,
    missing_months,
    month_start,
    next_month,
)

revision: str = '0023'
down_revision: str | Sequence[str] | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS = {  # table: (its unique constraint, key table, key columns, id column in the key table)
    'deliveries': ('uq_deliveries_source_dedup', 'delivery_keys', ('source', 'dedup_key'), 'delivery_id'),
    'events': ('uq_events_source_event', 'event_keys', ('source', 'source_event_id'), 'event_id'),
}


def _index_definitions(table: str, target: str) -> list[str]:
    """``table``'s indexes other than its primary key, as statements creating them on ``target``."""
    rows = op.get_bind().execute(text(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :table "
        "AND indexname <> :pkey ORDER BY indexname"), {'table': table, 'pkey': f'{table}_pkey'}).all()
    return [re.sub(r' ON (ONLY )?(\S+\.)?\S+ USING ', f' ON {target} USING ', definition) for _, definition in rows]


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    first_month = next_month(month_start(now))
    for table, (unique, keys, columns, id_column) in _KEYS.items():
        key_columns = ', '.join(columns)
        op.execute(f'CREATE TABLE {keys} ({columns[0]} VARCHAR(64) NOT NULL, {columns[1]} VARCHAR(200) NOT NULL, '
                   f'{id_column} VARCHAR(40) NOT NULL, CONSTRAINT {keys}_pkey PRIMARY KEY ({key_columns}))')
        op.execute(f'INSERT INTO {keys} ({key_columns}, {id_column}) SELECT {key_columns}, id FROM {table}')
        op.execute(f'ALTER TABLE {table} DROP CONSTRAINT {unique}')
        initial = f'{table}_initial'
        indexes = _index_definitions(table, table)
        for name in op.get_bind().execute(text(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :table"),
                {'table': table}).scalars().all():
            op.execute(f'ALTER INDEX {name} RENAME TO {initial}_{name.removeprefix(table + "_")}')
        op.execute(f'ALTER TABLE {table} RENAME TO {initial}')
        op.execute(f'CREATE TABLE {table} (LIKE {initial} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
                   'PARTITION BY RANGE (id)')
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)')
        for statement in indexes:
            op.execute(statement)
        months = missing_months(first_month, now, AHEAD_MONTHS)
        for month in months:
            op.execute(create_month(table, month))
        # an id beyond the last month (e.g. dlv_0200) widens the partition for the rest down to it (0027 replaces it)
        op.execute(create_other(table, op.get_bind().execute(text(
            f"SELECT LEAST(min(id), :first) FROM {initial} WHERE id >= :end"),
            {'first': f'{PREFIXES[table]}_1', 'end': bound(table, next_month(months[-1]))}).scalar_one()))
        # rows beyond the first partition's bound (ids that are not time-shaped, e.g. hand-made) go where they belong
        op.execute(f"WITH moved AS (DELETE FROM {initial} WHERE id >= '{bound(table, first_month)}' RETURNING *) "
                   f"INSERT INTO {table} SELECT * FROM moved")
        op.execute(f"ALTER TABLE {table} ATTACH PARTITION {initial} "
                   f"FOR VALUES FROM (MINVALUE) TO ('{bound(table, first_month)}')")


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, (unique, keys, columns, _) in _KEYS.items():
        plain = f'{table}_plain'
        indexes = _index_definitions(table, table)
        op.execute(f'CREATE TABLE {plain} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
        op.execute(f'INSERT INTO {plain} SELECT * FROM {table}')
        op.execute(f'DROP TABLE {table}')  # and its partitions
        op.execute(f'ALTER TABLE {plain} RENAME TO {table}')
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)')
        for statement in indexes:
            op.execute(statement)
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT {unique} UNIQUE ({", ".join(columns)})')
        op.execute(f'DROP TABLE {keys}')
