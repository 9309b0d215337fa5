"""cluster: delivery claims (a worker takes pending deliveries, never shares them) and leases (one owner per duty)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 19:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('claim_until', sa.DateTime(), nullable=True))
    op.create_table(
        'leases',
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('holder', sa.String(length=100), nullable=False),
        sa.Column('until', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('leases')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('claim_until')
        batch_op.drop_column('claimed_by')
