"""fewer case indexes

Serving opens a review case for every escalated row, hundreds per request under load, and each
index is one more B-tree insert per case. Four single-column indexes served no query well:
``request_id`` none at all; ``due_at`` only what (status, due_at) already serves; ``use_case``
(a handful of distinct values) and ``created_at`` are read together, by the review report (a use
case's cases since a time) and by the queue's filter on use case, which one index on
(use_case, created_at) serves. Eight index entries per case become five.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 14:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_DROPPED = {
    "ix_cases_request_id": ["request_id"],
    "ix_cases_due_at": ["due_at"],
    "ix_cases_use_case": ["use_case"],
    "ix_cases_created_at": ["created_at"],
}


def upgrade() -> None:
    op.create_index("ix_cases_use_case_created_at", "cases", ["use_case", "created_at"])
    for name in _DROPPED:
        op.drop_index(name, table_name="cases")


def downgrade() -> None:
    for name, columns in _DROPPED.items():
        op.create_index(name, "cases", columns)
    op.drop_index("ix_cases_use_case_created_at", table_name="cases")
