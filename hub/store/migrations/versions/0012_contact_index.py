"""contact index: customers' emails and phones as keyed hashes per delivery, and the hub's secret that keys them

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 19:00:00

"""
import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'contact_index',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('delivery_id', sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint('digest', 'delivery_id'),
    )
    op.create_index('ix_contact_index_delivery', 'contact_index', ['delivery_id'], unique=False)
    secrets = op.create_table(
        'hub_secrets',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('value', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.bulk_insert(secrets, [{'name': 'contact_index', 'value': os.urandom(32)}])


def downgrade() -> None:
    op.drop_table('hub_secrets')
    op.drop_index('ix_contact_index_delivery', table_name='contact_index')
    op.drop_table('contact_index')
