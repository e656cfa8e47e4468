"""api_tokens.tenant_id: a token limited to one tenant's jobs

Revision ID: 0008_tenant_tokens
Revises: 0007_attempt_started
Create Date: 2026-12-06 11:50:00

NULL keeps today's meaning (a staff token over every tenant). Deleting a tenant deletes its
tokens with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_tenant_tokens"
down_revision: str | None = "0007_attempt_started"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("tenant_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_api_tokens_tenant_id_tenants"), "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint(op.f("fk_api_tokens_tenant_id_tenants"), type_="foreignkey")
        batch.drop_column("tenant_id")
