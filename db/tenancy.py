"""Tenant-scoped database access on PostgreSQL (row-level security, migration 0002_rls).

Two ways to be one tenant, for two threat models:

* :func:`tenant_session` — trusted code on the app's pooled connections. Every transaction of
  the session starts with ``SET LOCAL ROLE zixly_tenant`` and ``zixly.tenant_id``, so a query
  that forgets its ``WHERE tenant_id = …`` still sees one tenant only. It guards against
  bugs, not against SQL injection: the session user is still the app's, so injected SQL could
  ``RESET ROLE``.
* :func:`create_tenant_role` + a login as ``zixly_tenant_<id>`` — for SQL you do not trust
  (a client's BI tool, ad-hoc reports). The tenant comes from the role name; the role cannot
  switch to anything that maps to another tenant, and RLS filters every row it reads or writes.

On SQLite there is no row-level security: :func:`tenant_session` is a plain session there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.orm import Session, sessionmaker

POOLED_ROLE = "zixly_tenant"
ACCESS_ROLE = "zixly_tenant_access"
TENANT_SETTING = "zixly.tenant_id"
MAX_TENANT_ID = 999_999_999  # the policy's role-name pattern takes at most 9 digits


def if_role_exists(role: str, statement: str) -> str:
    """SQL (for a migration) running ``statement``, a grant to or of ``role``, where that role exists.

    Migration 0002 makes the roles only where the migrating user may create roles; where it may
    not grant either, the grant is skipped with a notice rather than failing the migration.
    """
    quoted = statement.replace("'", "''")
    return f"""
DO $$ BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
    EXECUTE '{quoted}';
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'zixly: not allowed to run: %', '{quoted}';
END $$"""


def if_access_role(statement: str) -> str:
    """``if_role_exists`` for ``ACCESS_ROLE``, the role the tenant roles' grants go through."""
    return if_role_exists(ACCESS_ROLE, statement)


def tenant_role_name(tenant_id: int) -> str:
    if not isinstance(tenant_id, int) or isinstance(tenant_id, bool) or not 1 <= tenant_id <= MAX_TENANT_ID:
        raise ValueError(f"not a tenant id: {tenant_id!r}")
    return f"zixly_tenant_{tenant_id}"


def scope_transaction(connection: Connection, tenant_id: int) -> None:
    """Make the current transaction see only ``tenant_id``'s rows (PostgreSQL; else nothing)."""
    if connection.dialect.name != "postgresql":
        return
    tenant_role_name(tenant_id)  # validates the id
    connection.exec_driver_sql(f"SET LOCAL ROLE {POOLED_ROLE}")
    setting = {"name": TENANT_SETTING, "value": str(tenant_id)}
    connection.execute(text("SELECT set_config(:name, :value, true)"), setting)


@contextmanager
def tenant_session(session_factory: sessionmaker[Session], tenant_id: int) -> Iterator[Session]:
    """A session whose every transaction is scoped to ``tenant_id`` (see the module notes)."""
    tenant_role_name(tenant_id)
    session = session_factory()

    def _scope(_session: Session, _transaction: Any, connection: Connection) -> None:
        scope_transaction(connection, tenant_id)

    event.listen(session, "after_begin", _scope)
    try:
        yield session
    finally:
        session.close()


def create_tenant_role(connection: Connection, tenant_id: int, password: str | None = None) -> str:
    """Create (or update) the login role of one tenant; returns its name. Needs CREATEROLE.

    With ``password`` None the role can log in only where pg_hba trusts it (tests, sockets).
    """
    name = tenant_role_name(tenant_id)
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
    if exists is None:
        connection.exec_driver_sql(f"CREATE ROLE {name} LOGIN IN ROLE {ACCESS_ROLE}")
    if password is not None:
        literal = connection.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar_one()
        connection.exec_driver_sql(f"ALTER ROLE {name} PASSWORD {literal}")
    return name
