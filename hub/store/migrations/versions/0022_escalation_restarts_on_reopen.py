"""escalating_since: when an exception's escalation clock started (opened, or last reopened)

A reopened exception escalates afresh from its reopening, not from when it was first opened; the partial index of
exceptions still escalating is keyed on it. Existing rows start from their ``opened_at``.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 22:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0022'
down_revision: str | Sequence[str] | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PREDICATE = "status != 'resolved' AND escalation < 3"


def upgrade() -> None:
    op.add_column('exceptions', sa.Column('escalating_since', sa.DateTime(), nullable=True))
    op.execute('UPDATE exceptions SET escalating_since = opened_at')
    op.drop_index('ix_exceptions_escalating', table_name='exceptions')
    op.create_index('ix_exceptions_escalating', 'exceptions', ['type', 'escalating_since', 'id'], unique=False,
                    sqlite_where=sa.text(_PREDICATE), postgresql_where=sa.text(_PREDICATE))


def downgrade() -> None:
    op.drop_index('ix_exceptions_escalating', table_name='exceptions')
    op.create_index('ix_exceptions_escalating', 'exceptions', ['type', 'opened_at', 'id'], unique=False,
                    sqlite_where=sa.text(_PREDICATE), postgresql_where=sa.text(_PREDICATE))
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.drop_column('escalating_since')
