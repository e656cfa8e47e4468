"""connection_webhooks: the webhook Zixly keeps at the vendor for each connection

Revision ID: 0011_connection_webhooks
Revises: 0009_one_org_one_tenant
Create Date: 2026-12-06 16:00:00

Zixly creates Asana's webhook itself (one per connection, on the tenant's onboarding project)
and keeps it alive; this row says how that stands (creating, active, re-creating, failed with
the reason), which webhook and resource it is, and — while a creation is in flight — the
SHA-256 of the single-use token in its target URL, the only handshake the listener accepts.
No tenant_id: the connection says whose it is, and tenant roles are not granted this table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision: str = "0011_connection_webhooks"
down_revision: str | None = "0009_one_org_one_tenant"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connection_webhooks",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("resource_gid", sa.String(64), nullable=False),
        sa.Column("webhook_gid", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("handshake_sha256", sa.String(64), nullable=True),
        sa.Column("handshake_expires_at", UTCDateTime(), nullable=True),
        sa.Column("checked_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "state IN ('creating', 'active', 'recreating', 'failed')", name=op.f("ck_connection_webhooks_state")
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_connection_webhooks_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_connection_webhooks")),
    )


def downgrade() -> None:
    op.drop_table("connection_webhooks")
