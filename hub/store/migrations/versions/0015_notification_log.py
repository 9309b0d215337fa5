"""notification log: every delivery attempt, and per endpoint its failures in a row and whether it is disabled

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 19:20:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | Sequence[str] | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'notification_attempts',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('message_id', sa.String(length=40), nullable=False),
        sa.Column('target', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_notification_attempts_message', 'notification_attempts', ['message_id', 'id'])
    op.create_index('ix_notification_attempts_target', 'notification_attempts', ['target', 'id'])
    op.create_table(
        'notification_endpoints',
        sa.Column('target', sa.String(length=64), nullable=False),
        sa.Column('consecutive_failures', sa.Integer(), server_default='0', nullable=False),
        sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('last_success_at', sa.DateTime(), nullable=True),
        sa.Column('disabled_at', sa.DateTime(), nullable=True),
        sa.Column('disabled_reason', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('target'),
    )


def downgrade() -> None:
    op.drop_table('notification_endpoints')
    op.drop_index('ix_notification_attempts_target', table_name='notification_attempts')
    op.drop_index('ix_notification_attempts_message', table_name='notification_attempts')
    op.drop_table('notification_attempts')
