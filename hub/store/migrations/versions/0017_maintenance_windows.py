"""maintenance windows: a source announced as under maintenance pauses its SLA clocks and silence alerts

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 19:40:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | Sequence[str] | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'maintenance_windows',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('starts_at', sa.DateTime(), nullable=False),
        sa.Column('ends_at', sa.DateTime(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_maintenance_windows_ends', 'maintenance_windows', ['ends_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_maintenance_windows_ends', table_name='maintenance_windows')
    op.drop_table('maintenance_windows')
