"""one vendor organisation, one tenant: a unique index over live connections

Revision ID: 0009_one_org_one_tenant
Revises: 0008_tenant_tokens
Create Date: 2026-12-06 12:10:00

Two tenants connected to one Xero organisation (HubSpot portal, Shopify shop, Asana workspace)
left it to chance which tenant a webhook belonged to. A partial unique index over the
connections that claim an org (any status but ``disconnected``) makes a second claim
impossible. Existing duplicates, which the index would refuse, keep the oldest connection;
the later ones are marked disconnected with the reason, for staff to sort out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_one_org_one_tenant"
down_revision: str | None = "0008_tenant_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "external_org_id IS NOT NULL AND status <> 'disconnected'"


def upgrade() -> None:
    op.execute(
        f"""
        UPDATE connections SET status = 'disconnected',
            last_error = 'Another tenant had already connected this organisation; disconnected by the upgrade'
        WHERE {LIVE} AND EXISTS (
            SELECT 1 FROM connections AS older
            WHERE older.system = connections.system AND older.external_org_id = connections.external_org_id
              AND older.status <> 'disconnected' AND older.id < connections.id)
        """
    )
    op.create_index(
        "uq_connections_live_org",
        "connections",
        ["system", "external_org_id"],
        unique=True,
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_connections_live_org", table_name="connections")
