"""business attributes: per event as the source stated them, per transaction for filtering and grouping

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 19:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attributes', sa.JSON(), nullable=True))
    op.create_table(
        'transaction_attributes',
        sa.Column('tx_id', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('value', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('tx_id', 'name'),
    )
    op.create_index('ix_transaction_attributes_value', 'transaction_attributes', ['name', 'value', 'tx_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_transaction_attributes_value', table_name='transaction_attributes')
    op.drop_table('transaction_attributes')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('attributes')
