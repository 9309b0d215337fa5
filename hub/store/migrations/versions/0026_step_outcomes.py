"""step outcomes: per transaction and flow step with an SLA, done on time, late, or when it falls due

Kept by the evaluator; SLA attainment counts them in one grouped statement. Empty at first: the KPI counts a
transaction without rows from its events until the evaluator sees it again.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 22:40:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
down_revision: str | Sequence[str] | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'step_outcomes',
        sa.Column('tx_id', sa.String(length=40), nullable=False),
        sa.Column('step', sa.String(length=60), nullable=False),
        sa.Column('flow', sa.String(length=16), nullable=False),
        sa.Column('channel', sa.String(length=64), nullable=True),
        sa.Column('outcome', sa.String(length=8), nullable=False),
        sa.Column('due_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('tx_id', 'step'),
    )


def downgrade() -> None:
    op.drop_table('step_outcomes')
