"""cases by status and due time

The SLA sweep looks for undecided cases past their due time. With an index on ``status`` alone
(almost every case is ``open``) SQLite walked every open case, for half a second at 600k cases,
holding the write lock that serving's case writes wait for. One index on (status, due_at)
answers the sweep with a range per status and still serves every lookup by status.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 11:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_status_due_at", "cases", ["status", "due_at"])
    op.drop_index("ix_cases_status", table_name="cases")


def downgrade() -> None:
    op.create_index("ix_cases_status", "cases", ["status"])
    op.drop_index("ix_cases_status_due_at", table_name="cases")
