"""stock positions, history and divergences

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:58:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('stock_positions',
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('location', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('qty', sa.Float(), nullable=False),
    sa.Column('as_of', sa.DateTime(), nullable=False),
    sa.Column('base_at', sa.DateTime(), nullable=True),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sku', 'location', 'source', 'state')
    )
    op.create_table('stock_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('location', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('delta', sa.Float(), nullable=True),
    sa.Column('qty', sa.Float(), nullable=False),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stock_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_history_event_id'), ['event_id'], unique=False)
        batch_op.create_index('ix_stock_history_key', ['sku', 'location', 'source', 'state', 'at'], unique=False)
        batch_op.create_index('ix_stock_history_loc_time', ['sku', 'location', 'at'], unique=False)

    op.create_table('stock_divergences',
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('location', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('authoritative', sa.String(length=64), nullable=False),
    sa.Column('units', sa.Float(), nullable=False),
    sa.Column('states', sa.JSON(), nullable=False),
    sa.Column('since', sa.DateTime(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('exception_id', sa.String(length=40), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sku', 'location', 'source')
    )
    with op.batch_alter_table('stock_divergences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_divergences_due_at'), ['due_at'], unique=False)
        batch_op.create_index('ix_stock_divergences_loc_source', ['location', 'source', 'status'], unique=False)
        batch_op.create_index('ix_stock_divergences_units', ['units', 'sku', 'location', 'source'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('stock_divergences')
    op.drop_table('stock_history')
    op.drop_table('stock_positions')
