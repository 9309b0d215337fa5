"""PostgreSQL: a DEFAULT partition for deliveries and events instead of ``<table>_other``

0023 left ids between the last month created and ``<prefix>_1`` without a partition: a hand-made id such as
``dlv_0200`` or an id minted after the last month (the retention duty did not run for three months, the clock
jumped) was refused ("no partition of relation found for row"), a webhook with it a 5xx. ``<table>_default`` takes
every id no other partition does; its rows (``<table>_other``'s) are moved into it. The duty moves a month's rows
out of it before attaching the month (hub/store/partitions.py ``add_month``). SQLite keeps plain tables.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 23:20:00

"""
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from hub.store.partitions import PREFIXES, create_default, create_other, default_name

revision: str = '0027'
down_revision: str | Sequence[str] | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in PREFIXES:
        other = f'{table}_other'
        op.execute(f'LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE')
        op.execute(f'ALTER TABLE {table} DETACH PARTITION "{other}"')
        op.execute(create_default(table))
        op.execute(f'INSERT INTO {table} SELECT * FROM "{other}"')  # ids no month takes: into the default
        op.execute(f'DROP TABLE "{other}"')


def downgrade() -> None:
    """``<table>_other`` back, from ``<prefix>_1`` or from the default's smallest id if that is lower (an id beyond
    the last month: 0023's layout has no other home for it), with the default's rows."""
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, prefix in PREFIXES.items():
        default = default_name(table)
        op.execute(f'LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE')
        op.execute(f'ALTER TABLE {table} DETACH PARTITION "{default}"')
        lowest = op.get_bind().execute(text(f'SELECT LEAST(min(id), :first) FROM "{default}"'),
                                       {'first': f'{prefix}_1'}).scalar_one()  # in the column's collation
        op.execute(create_other(table, lowest))
        op.execute(f'INSERT INTO {table} SELECT * FROM "{default}"')
        op.execute(f'DROP TABLE "{default}"')
