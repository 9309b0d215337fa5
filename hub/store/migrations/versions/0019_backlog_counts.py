"""reconciliation backlog counters: unresolved amount mismatches per currency and hour opened, with their sum

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 19:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | Sequence[str] | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'backlog_counts',
        sa.Column('currency', sa.Text(), nullable=False),
        sa.Column('hour', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('unmatched', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('currency', 'hour'))
    # The back-fill: what hub.store.exception_counts.rebuild counts.
    from hub.store.backlog_counts import UNRESOLVED_MISMATCHES, rebuild_rows
    from hub.store.exception_counts import hour_of
    from hub.store.tables import backlog_counts
    bind = op.get_bind()
    rows = rebuild_rows(bind.execute(UNRESOLVED_MISMATCHES), hour_of)
    if rows:
        bind.execute(sa.insert(backlog_counts), rows)


def downgrade() -> None:
    op.drop_table('backlog_counts')
