"""related records carry the name people know them by (invoice number, order name, email)

Revision ID: 0013_record_labels
Revises: 0012_dashboard_sessions
Create Date: 2026-12-06 16:10:00

A job's related records stored only the vendor's id: a Xero invoice's UUID, so record lookup
could not find the live jobs that processed INV-0050. ``record_label`` holds what staff
know the record by (Xero's invoice number, a Shopify order's name, a contact's email, a
deal's name), written by the workflow as it runs; lookup matches it case-insensitively
through an index on ``lower(record_label)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_record_labels"
down_revision: str | None = "0012_dashboard_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("related_records") as batch:
        batch.add_column(sa.Column("record_label", sa.String(255), nullable=True))
    op.create_index("ix_related_records_record_label", "related_records", [sa.text("lower(record_label)")])


def downgrade() -> None:
    op.drop_index("ix_related_records_record_label", table_name="related_records")
    with op.batch_alter_table("related_records") as batch:
        batch.drop_column("record_label")
