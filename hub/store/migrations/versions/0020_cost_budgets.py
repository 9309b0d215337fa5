"""cost budgets: each GraphQL caller's leaky bucket in the store, shared by every hub process on PostgreSQL

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 20:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | Sequence[str] | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'cost_budgets',
        sa.Column('caller', sa.Text(), nullable=False),
        sa.Column('tokens', sa.Float(), nullable=False),
        sa.Column('refilled_at', sa.Float(), nullable=False),
        sa.Column('granted', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('caller'))


def downgrade() -> None:
    op.drop_table('cost_budgets')
