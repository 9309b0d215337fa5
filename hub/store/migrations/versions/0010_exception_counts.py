"""exception counters and queue indexes: counts without scanning, pages that walk the keyset order

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 17:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMS = ("status", "type", "system", "severity", "queue", "system_kind", "tx_kind")


def upgrade() -> None:
    op.create_table(
        'exception_counts',
        sa.Column('status', sa.String(length=14), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('system', sa.String(length=64), nullable=False),
        sa.Column('severity', sa.String(length=10), nullable=False),
        sa.Column('queue', sa.String(length=40), nullable=False),
        sa.Column('system_kind', sa.String(length=20), nullable=False),
        sa.Column('tx_kind', sa.String(length=20), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*DIMS))
    op.create_table(
        'exception_counts_hourly',
        sa.Column('dim', sa.String(length=8), nullable=False),
        sa.Column('hour', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('value', sa.String(length=64), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('dim', 'hour', 'value'))
    # The back-fill: the same statements as hub.store.exception_counts.rebuild.
    from hub.store.exception_counts import rebuild_statements
    for statement in rebuild_statements(op.get_bind().dialect.name):
        op.execute(statement)
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.drop_index('ix_exceptions_status_type')
        batch_op.create_index('ix_exceptions_status_type', ['status', 'type', 'opened_at', 'id'], unique=False)
        batch_op.create_index('ix_exceptions_status_age', ['status', 'opened_at', 'id', 'type'], unique=False)
        batch_op.create_index('ix_exceptions_status_severity', ['status', 'severity', 'opened_at', 'id'],
                              unique=False)
        batch_op.create_index('ix_exceptions_status_source', ['status', 'system', 'opened_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.drop_index('ix_exceptions_status_source')
        batch_op.drop_index('ix_exceptions_status_severity')
        batch_op.drop_index('ix_exceptions_status_age')
        batch_op.drop_index('ix_exceptions_status_type')
        batch_op.create_index('ix_exceptions_status_type', ['status', 'type', 'opened_at'], unique=False)
    op.drop_table('exception_counts_hourly')
    op.drop_table('exception_counts')
