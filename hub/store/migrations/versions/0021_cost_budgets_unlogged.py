"""cost budgets unlogged on PostgreSQL: no WAL for a row rewritten on every GraphQL request

A crash empties an unlogged table, which gives every caller a full bucket (what restarting a process did to its
in-memory buckets); replicas never read it.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 20:25:00

"""
from collections.abc import Sequence

from alembic import op

revision: str = '0021'
down_revision: str | Sequence[str] | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE cost_budgets SET UNLOGGED')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE cost_budgets SET LOGGED')
