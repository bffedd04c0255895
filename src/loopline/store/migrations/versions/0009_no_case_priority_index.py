"""no index on case priority

A case's priority is its expected cost, a value from anywhere in its range, so each new case
went to a random leaf of the priority index: a commit of the few hundred cases of a loaded
second dirtied a few hundred index pages, and measured on the serving benchmark that doubled the
cost of the commit (55 ms against 29 ms for 1,500 cases). No query needed the index: the queue
filters on its use case first (read through (use_case, created_at)) and sorts what it selected,
which SQLite chose to do even while the priority index existed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 17:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_cases_priority", table_name="cases")


def downgrade() -> None:
    op.create_index("ix_cases_priority", "cases", ["priority"])
