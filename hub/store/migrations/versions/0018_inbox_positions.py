"""inbox positions: how far the main file has consumed the SQLite inbox log (hub/store/inbox_log.py)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 19:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | Sequence[str] | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inbox_positions',
                    sa.Column('log', sa.String(length=20), nullable=False),
                    sa.Column('position', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('log'))


def downgrade() -> None:
    op.drop_table('inbox_positions')
