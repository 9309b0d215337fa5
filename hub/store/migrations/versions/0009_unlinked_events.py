"""unlinked events: an event with no identity ref belongs to no transaction

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 16:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.alter_column('tx_id', existing_type=sa.String(length=40), nullable=True)
        batch_op.create_index('ix_events_unlinked', ['source', 'type', 'received_at'], unique=False,
                              sqlite_where=sa.text("tx_id IS NULL"), postgresql_where=sa.text("tx_id IS NULL"))


def downgrade() -> None:
    op.execute("DELETE FROM refs WHERE event_id IN (SELECT id FROM events WHERE tx_id IS NULL)")
    op.execute("DELETE FROM events WHERE tx_id IS NULL")
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_unlinked')
        batch_op.alter_column('tx_id', existing_type=sa.String(length=40), nullable=False)
