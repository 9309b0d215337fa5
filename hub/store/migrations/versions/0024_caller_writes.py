"""caller_writes: when each caller last wrote, so every process sends its reads to the primary for a while after

UNLOGGED on PostgreSQL, as cost_budgets: a crash empties it, which only sends the next reads of the callers who
wrote in the last ``fresh_seconds`` to the replica (a read of a ref the replica lacks still falls back to the
primary); replicas never read it.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 22:10:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0024'
down_revision: str | Sequence[str] | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'caller_writes',
        sa.Column('caller', sa.Text(), nullable=False),
        sa.Column('wrote_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('caller'))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE caller_writes SET UNLOGGED')


def downgrade() -> None:
    op.drop_table('caller_writes')
