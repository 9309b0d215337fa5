"""reconciliation backlog counters per day opened, beside the hourly ones (the backlog older than a week)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 01:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0028'
down_revision: str | Sequence[str] | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'backlog_counts_daily',
        sa.Column('currency', sa.Text(), nullable=False),
        sa.Column('day', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('unmatched', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('currency', 'day'))
    # The back-fill: the hourly counters summed per day (exact decimals), as hub.store.exception_counts.rebuild does.
    from hub.store.backlog_counts import daily_rows
    from hub.store.tables import backlog_counts, backlog_counts_daily
    bind = op.get_bind()
    rows = daily_rows(dict(row._mapping) for row in bind.execute(sa.select(backlog_counts)))
    if rows:
        bind.execute(sa.insert(backlog_counts_daily), rows)


def downgrade() -> None:
    op.drop_table('backlog_counts_daily')
