"""exception escalation: how many steps (1x, 2x, 4x its SLA) an unresolved exception has been escalated

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 19:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | Sequence[str] | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PREDICATE = "status != 'resolved' AND escalation < 3"


def upgrade() -> None:
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation', sa.Integer(), server_default='0', nullable=False))
    op.create_index('ix_exceptions_escalating', 'exceptions', ['type', 'opened_at', 'id'], unique=False,
                    sqlite_where=sa.text(_PREDICATE), postgresql_where=sa.text(_PREDICATE))


def downgrade() -> None:
    op.drop_index('ix_exceptions_escalating', table_name='exceptions')
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.drop_column('escalation')
