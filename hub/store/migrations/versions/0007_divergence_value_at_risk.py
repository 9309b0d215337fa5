"""divergence value at risk

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 19:45:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('stock_divergences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('value', sa.Float(), nullable=True))
        batch_op.create_index('ix_stock_divergences_value', ['value', 'sku', 'location', 'source'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('stock_divergences', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_divergences_value')
        batch_op.drop_column('value')
