"""tenant row-level security (PostgreSQL)

Revision ID: 0002_rls
Revises: 0001
Create Date: 2026-11-26 16:30:00

Row-level security on every tenant table, so a tenant-scoped database role sees only its own
tenant's rows whatever SQL it runs. The application's own role owns the tables and is not
subject to the policies (ENABLE, not FORCE); superusers bypass RLS anyway. On SQLite this
migration does nothing.

Roles (cluster-wide, created here when the migrating role may, otherwise by an operator):

* ``zixly_tenant_access`` (NOLOGIN) holds the table privileges; it maps to no tenant itself.
* ``zixly_tenant`` (NOLOGIN, member of the above) is for trusted code on pooled connections:
  ``SET LOCAL ROLE zixly_tenant`` plus ``SET LOCAL zixly.tenant_id`` (see ``db/tenancy.py``).
* ``zixly_tenant_<id>`` (LOGIN, member of zixly_tenant_access only) is one tenant's own role,
  created by ``db.tenancy.create_tenant_role``. Its tenant comes from the role name, so no
  SQL it runs can change it (it cannot SET ROLE to anything that maps elsewhere).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db.tenancy import if_role_exists

revision: str = "0002_rls"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIRECT = ("pipeline_jobs", "related_records", "webhook_deliveries", "connections", "schedules",
          "sync_cursors", "workflow_settings")  # fmt: skip
ALL_TABLES = (*DIRECT, "job_steps", "tenants")
CURRENT = "zixly_current_tenant()"


def _role(name: str, options: str) -> str:
    # Roles are per cluster: another database (or a parallel migration) may have made it already.
    return f"""
DO $$ BEGIN
  CREATE ROLE {name} {options};
EXCEPTION WHEN OTHERS THEN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN
    RAISE NOTICE 'zixly: cannot create role {name} (%); an operator must', SQLERRM;
  END IF;
END $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
CREATE OR REPLACE FUNCTION {CURRENT} RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN current_user ~ '^zixly_tenant_[0-9]{{1,9}}$' THEN substr(current_user, 14)::integer
    WHEN current_user = 'zixly_tenant' THEN NULLIF(current_setting('zixly.tenant_id', true), '')::integer
  END
$$""")
    op.execute(f"COMMENT ON FUNCTION {CURRENT} IS 'The tenant a tenant-scoped role may see (NULL: none)'")
    for table in ALL_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    for table in DIRECT:
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {CURRENT}) WITH CHECK (tenant_id = {CURRENT})"
        )
    via_job = f"EXISTS (SELECT 1 FROM pipeline_jobs j WHERE j.id = job_steps.job_id AND j.tenant_id = {CURRENT})"
    op.execute(f"CREATE POLICY tenant_isolation ON job_steps USING ({via_job}) WITH CHECK ({via_job})")
    op.execute(f"CREATE POLICY tenant_isolation ON tenants USING (id = {CURRENT})")

    op.execute(_role("zixly_tenant_access", "NOLOGIN"))
    op.execute(_role("zixly_tenant", "NOLOGIN IN ROLE zixly_tenant_access"))
    writable = ", ".join((*DIRECT, "job_steps"))
    op.execute(if_role_exists("zixly_tenant_access", "GRANT USAGE ON SCHEMA public TO zixly_tenant_access"))
    op.execute(
        if_role_exists(
            "zixly_tenant_access", f"GRANT SELECT, INSERT, UPDATE, DELETE ON {writable} TO zixly_tenant_access"
        )
    )
    op.execute(if_role_exists("zixly_tenant_access", "GRANT SELECT ON tenants TO zixly_tenant_access"))
    for table in (*DIRECT, "job_steps"):
        op.execute(f"""
DO $$ DECLARE seq text := pg_get_serial_sequence('public.{table}', 'id'); BEGIN
  IF seq IS NOT NULL AND EXISTS (SELECT FROM pg_roles WHERE rolname = 'zixly_tenant_access') THEN
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO zixly_tenant_access', seq);
  END IF;
END $$""")
    # The application's role may switch to the pooled tenant role (SET LOCAL ROLE zixly_tenant).
    op.execute(if_role_exists("zixly_tenant", "GRANT zixly_tenant TO CURRENT_USER"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    writable = ", ".join((*DIRECT, "job_steps"))
    op.execute(if_role_exists("zixly_tenant_access", f"REVOKE ALL ON {writable}, tenants FROM zixly_tenant_access"))
    for table in ALL_TABLES:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(f"DROP FUNCTION IF EXISTS {CURRENT}")
    # The roles stay: they belong to the cluster, and other databases may use them.
