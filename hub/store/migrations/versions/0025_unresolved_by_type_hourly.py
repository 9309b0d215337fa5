"""hourly counters of unresolved exceptions by type: the dashboard's age tiles sum hours, not the last week's rows

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 22:00:00

"""
from collections.abc import Sequence

from alembic import op

revision: str = '0025'
down_revision: str | Sequence[str] | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The back-fill: the statement hub.store.exception_counts.rebuild runs for this dimension.
    from hub.store.exception_counts import UNRESOLVED_BY_TYPE, unresolved_by_type_statement
    op.execute(f"DELETE FROM exception_counts_hourly WHERE dim = '{UNRESOLVED_BY_TYPE}'")
    op.execute(unresolved_by_type_statement(op.get_bind().dialect.name))


def downgrade() -> None:
    op.execute("DELETE FROM exception_counts_hourly WHERE dim = 'unres'")
