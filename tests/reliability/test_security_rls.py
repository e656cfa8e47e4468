"""Tenant isolation by PostgreSQL row-level security (migration 0002_rls, ``db/tenancy.py``).

A tenant's own login role (``zixly_tenant_<id>``) sees and touches only its tenant's rows in
every tenant table, whatever SQL it sends; the pooled ``tenant_session`` scopes trusted code
the same way; the application's own role (owner or superuser) is unaffected. Counted: rows of
another tenant ever seen (0) over every table and every crafted statement.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import psycopg
import pytest
from conftest import count
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from db.engine import make_engine, make_session_factory
from db.migrate import alembic_config
from db.models import (
    ClientPause,
    Connection,
    JobStep,
    JobWait,
    PipelineJob,
    RelatedRecord,
    Schedule,
    SyncCursor,
    Tenant,
    WebhookDelivery,
    WorkflowSetting,
)
from db.tenancy import create_tenant_role, tenant_role_name, tenant_session

pytestmark = pytest.mark.reliability

TENANT_TABLES = ("pipeline_jobs", "job_steps", "related_records", "webhook_deliveries", "connections", "schedules",
                 "sync_cursors", "workflow_settings", "job_waits", "client_pauses", "job_idempotency_keys",
                 "tenants")  # fmt: skip
SECRET_ERROR = "other-tenant-secret-error"


def _seed(session: Session, name: str, secret: str) -> int:
    tenant = Tenant(name=name)
    session.add(tenant)
    session.flush()
    job = PipelineJob(tenant_id=tenant.id, job_type="noop", status="FAILED", params={"who": name}, error=secret)
    session.add(job)
    session.flush()
    session.add_all([
        JobStep(job_id=job.id, kind="info", message=f"step of {name}"),
        RelatedRecord(job_id=job.id, tenant_id=tenant.id, system="xero", record_type="invoice",
                      record_id=f"INV-{name}", action="READ"),
        WebhookDelivery(source="xero", delivery_id=f"d-{name}", tenant_id=tenant.id, headers={}, body=secret.encode(),
                        signature_ok=True, outcome="accepted", job_ids=[job.id]),
        Connection(tenant_id=tenant.id, system="xero", external_org_id=f"org-{name}", token_ciphertext=secret),
        Schedule(tenant_id=tenant.id, job_type="noop", cron="0 * * * *", params={}),
        SyncCursor(tenant_id=tenant.id, system="xero", resource="contacts", value=secret),
        WorkflowSetting(tenant_id=tenant.id, workflow="noop", options={"secret": secret}),
        JobWait(job_id=job.id, tenant_id=tenant.id, seq=1, reason="approval", detail={"summary": secret},
                deadline_at=dt.datetime.now(dt.UTC)),
        ClientPause(tenant_id=tenant.id, workflow="*", reason=secret, paused_by="ed@zixly.test",
                    paused_at=dt.datetime.now(dt.UTC)),
    ])  # fmt: skip
    session.flush()
    # Since 0018 a job's idempotency key is a row of its own (the job tables are partitioned),
    # since 0020 in the current generation.
    session.execute(text("INSERT INTO job_idempotency_keys (tenant_id, idempotency_key, job_id, generation) "
                         "SELECT :t, :k, :j, max(lo) FROM job_key_generations"),
                    {"t": tenant.id, "k": f"key-{name}", "j": job.id})  # fmt: skip
    return tenant.id


@pytest.fixture
def two_tenants(pg_url: str) -> Iterator[tuple[str, int, int]]:
    engine = make_engine(pg_url)
    with make_session_factory(engine)() as session:
        a = _seed(session, "alpha", "alpha-error")
        b = _seed(session, "bravo", SECRET_ERROR)
        session.add(WebhookDelivery(source="xero", delivery_id="d-unmatched", tenant_id=None, headers={},
                                    body=b"unmatched", signature_ok=True, outcome="unmatched", job_ids=[]))  # fmt: skip
        session.commit()
        with engine.begin() as conn:
            create_tenant_role(conn, a)
            create_tenant_role(conn, b)
    engine.dispose()
    yield pg_url, a, b


def _as(url: str, role: str) -> psycopg.Connection[tuple[object, ...]]:
    libpq = make_url(url).set(drivername="postgresql", username=role).render_as_string(hide_password=False)
    return psycopg.connect(libpq, autocommit=True)


def _tenant_ids(conn: psycopg.Connection[tuple[object, ...]], table: str) -> list[int]:
    if table == "job_steps":  # steps belong to a tenant through their job
        sql = "SELECT j.tenant_id FROM job_steps s JOIN pipeline_jobs j ON j.id = s.job_id"
    else:
        sql = f"SELECT {'id' if table == 'tenants' else 'tenant_id'} FROM {table}"
    return [int(r[0]) for r in conn.execute(sql).fetchall()]  # type: ignore[call-overload]


def test_a_tenant_role_sees_only_its_own_rows_in_every_tenant_table(two_tenants: tuple[str, int, int]) -> None:
    url, a, b = two_tenants
    tally = count("rls")
    for mine in (a, b):
        with _as(url, tenant_role_name(mine)) as conn:
            for table in TENANT_TABLES:
                seen = _tenant_ids(conn, table)
                tally["tables_checked"] += 1
                tally["foreign_rows_seen"] += sum(1 for t in seen if t != mine)
                assert seen and set(seen) == {mine}, (table, seen)
            # job_steps straight, without trusting the join above
            steps = conn.execute("SELECT message FROM job_steps").fetchall()
            assert [s[0] for s in steps] == [f"step of {'alpha' if mine == a else 'bravo'}"]
    assert tally["foreign_rows_seen"] == 0


CRAFTED = [
    "SELECT error FROM pipeline_jobs WHERE tenant_id = {b} OR 1=1",
    "SELECT error FROM pipeline_jobs WHERE error = '{secret}'",
    "SELECT convert_from(body, 'UTF8') FROM webhook_deliveries",
    "SELECT token_ciphertext FROM connections UNION ALL SELECT value FROM sync_cursors",
    "SET zixly.tenant_id = '{b}'; SELECT error FROM pipeline_jobs",
    "SELECT set_config('zixly.tenant_id', '{b}', false); SELECT error FROM pipeline_jobs",
    "SET ROLE zixly_tenant; SET zixly.tenant_id = '{b}'; SELECT error FROM pipeline_jobs",
    "SET ROLE zixly_tenant_{b}; SELECT error FROM pipeline_jobs",
    "SET ROLE postgres; SELECT error FROM pipeline_jobs",
    "SET SESSION AUTHORIZATION postgres; SELECT error FROM pipeline_jobs",
    "SET ROLE zixly_tenant_access; SELECT error FROM pipeline_jobs",
    "SET row_security = off; SELECT error FROM pipeline_jobs",
    "ALTER TABLE pipeline_jobs DISABLE ROW LEVEL SECURITY; SELECT error FROM pipeline_jobs",
    "DROP POLICY tenant_isolation ON pipeline_jobs; SELECT error FROM pipeline_jobs",
    "CREATE POLICY open ON pipeline_jobs USING (true); SELECT error FROM pipeline_jobs",
    "CREATE OR REPLACE FUNCTION zixly_current_tenant() RETURNS integer LANGUAGE sql AS 'SELECT {b}'",
    "SELECT error FROM pipeline_jobs WHERE id IN (SELECT job_id FROM related_records WHERE tenant_id = {b})",
    "SELECT p.error FROM pipeline_jobs p JOIN job_steps s ON s.job_id = p.id",
    "SELECT message FROM job_steps WHERE job_id IN (SELECT generate_series(1, 1000))",
    "COPY (SELECT error FROM pipeline_jobs) TO STDOUT",
    "SELECT * FROM users",
    "SELECT * FROM api_tokens",
    "SELECT * FROM audit_log",
    "SELECT * FROM oauth_states",
    "UPDATE pipeline_jobs SET tenant_id = {a} WHERE tenant_id = {b} RETURNING error",
    "DELETE FROM pipeline_jobs WHERE tenant_id = {b} RETURNING error",
    "INSERT INTO pipeline_jobs (tenant_id, job_type, params) VALUES ({b}, 'x', '{{}}') RETURNING id",
    "UPDATE pipeline_jobs SET tenant_id = {b} RETURNING error",
    "INSERT INTO job_steps (job_id, kind, message) SELECT id, 'x', 'x' FROM pipeline_jobs RETURNING id",
    "SELECT pg_read_file('pg_hba.conf')",
    "SELECT count(*) FROM dblink('dbname=postgres', 'SELECT 1') AS t(x int)",
]


def test_crafted_sql_cannot_read_or_write_another_tenants_rows(two_tenants: tuple[str, int, int]) -> None:
    url, a, b = two_tenants
    tally = count("rls")
    leaks = []
    for template in CRAFTED:
        sql = template.format(a=a, b=b, secret=SECRET_ERROR)
        with _as(url, tenant_role_name(a)) as conn:
            tally["crafted_statements"] += 1
            try:
                out: list[object] = []
                with conn.cursor() as cur:
                    if sql.startswith("COPY"):
                        with cur.copy(sql) as copy:
                            out += [bytes(block) for block in copy]
                    else:
                        cur.execute(sql)
                        while True:  # every result set of a multi-statement string
                            if cur.description is not None:
                                out += cur.fetchall()
                            if not cur.nextset():
                                break
                # Whatever ran, alpha's role still sees exactly alpha's rows afterwards.
                after = conn.execute("SELECT DISTINCT tenant_id FROM pipeline_jobs").fetchall()
            except psycopg.Error:
                tally["crafted_refused"] += 1
                continue
            text_out = repr(out)
            tally["crafted_ran"] += 1
            if SECRET_ERROR in text_out or "bravo" in text_out or any(r[0] != a for r in after):
                leaks.append((sql, text_out[:200]))
    tally["leaks"] += len(leaks)
    assert leaks == []
    # Nothing of bravo's was changed either.
    with _as(url, "postgres") as conn:
        assert conn.execute("SELECT count(*) FROM pipeline_jobs WHERE tenant_id = %s", (b,)).fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM pipeline_jobs WHERE tenant_id = %s", (a,)).fetchone() == (1,)


def test_a_leaky_function_and_the_planner_statistics_reveal_nothing(two_tenants: tuple[str, int, int]) -> None:
    url, a, _b = two_tenants
    with _as(url, "postgres") as admin:
        admin.execute("ANALYZE")
    with _as(url, tenant_role_name(a)) as conn:
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(str(d.message_primary)))
        conn.execute(
            "CREATE FUNCTION pg_temp.leak(t text) RETURNS boolean LANGUAGE plpgsql COST 0.000001 AS "
            "$$ BEGIN RAISE NOTICE 'saw %', t; RETURN true; END $$"
        )
        conn.execute("SELECT * FROM pipeline_jobs WHERE pg_temp.leak(error)").fetchall()
        stats = conn.execute(
            "SELECT tablename, attname, most_common_vals::text FROM pg_stats WHERE tablename = ANY(%s) "
            "OR tablename ~ '^(pipeline_jobs|job_steps|related_records)_(p[0-9]+|default)$'",  # 0018's partitions
            (list(TENANT_TABLES),),
        ).fetchall()
    assert not any(SECRET_ERROR in n for n in notices), notices
    assert stats == []  # pg_stats hides tables whose row security applies to the reader


def test_a_tenant_role_cannot_read_a_partition_of_the_job_tables_directly(two_tenants: tuple[str, int, int]) -> None:
    """The policies live on the partitioned parents (0018); a partition is reachable only through them."""
    url, a, _b = two_tenants
    with _as(url, tenant_role_name(a)) as conn:
        for table in ("pipeline_jobs_p0", "job_steps_p0", "related_records_p0", "pipeline_jobs_default"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {table}")  # type: ignore[misc]


def test_a_tenant_role_writes_its_own_finished_jobs_but_never_reads_the_rollups(
    two_tenants: tuple[str, int, int],
) -> None:
    """The rollup triggers (0019) mark hours as the owner: a tenant's own writes still go through,
    and the dashboard's all-tenant counts are no tenant role's to read."""
    url, a, _b = two_tenants
    with _as(url, tenant_role_name(a)) as conn:
        row = conn.execute(
            f"INSERT INTO pipeline_jobs (tenant_id, job_type, params, status, created_at, completed_at) "
            f"VALUES ({a}, 'noop', '{{}}', 'COMPLETED', '2026-01-02 03:04:05+00', '2026-01-02 03:04:06+00')"
            " RETURNING id"
        ).fetchone()
        assert row is not None
        conn.execute(f"UPDATE pipeline_jobs SET status = 'CANCELLED' WHERE id = {row[0]}")  # type: ignore[misc]
        for table in ("job_hour_counts", "job_hour_durations", "job_last_success", "job_rollup_dirty"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {table}")  # type: ignore[misc]
    with _as(url, "postgres") as admin:
        marked = admin.execute("SELECT count(*) FROM job_rollup_dirty WHERE hour = '2026-01-02 03:00:00+00'").fetchone()
        assert marked is not None and marked[0] >= 1


def test_a_pooled_tenant_session_is_scoped_and_the_app_role_is_not(two_tenants: tuple[str, int, int]) -> None:
    url, a, b = two_tenants
    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        with tenant_session(factory, a) as scoped:
            assert set(scoped.scalars(select(PipelineJob.tenant_id))) == {a}
            assert set(scoped.scalars(select(Tenant.id))) == {a}
            scoped.commit()  # a new transaction is scoped again
            assert set(scoped.scalars(select(RelatedRecord.tenant_id))) == {a}
            assert scoped.execute(text("SELECT current_user")).scalar_one() == "zixly_tenant"
        with factory() as app_session:  # the same pool, the app's role: everything
            assert set(app_session.scalars(select(PipelineJob.tenant_id))) == {a, b}
            assert app_session.execute(text("SELECT current_user")).scalar_one() == "postgres"
    finally:
        engine.dispose()


def test_the_table_owner_role_is_unaffected(two_tenants: tuple[str, int, int]) -> None:
    """In production the app connects as the (non-superuser) owner of the tables: no policy applies."""
    url = two_tenants[0]
    owner = "zixly_rel_owner"
    with _as(url, "postgres") as admin:
        with contextlib.suppress(psycopg.errors.DuplicateObject):
            admin.execute(f"CREATE ROLE {owner} LOGIN")
        for table in TENANT_TABLES:
            admin.execute(f"ALTER TABLE {table} OWNER TO {owner}")
    with _as(url, owner) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
        for table in TENANT_TABLES:
            column = "id" if table == "tenants" else ("job_id" if table == "job_steps" else "tenant_id")
            assert len(conn.execute(f"SELECT {column} FROM {table}").fetchall()) >= 2, table  # type: ignore[misc]
        assert conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone() == (3,)
    with _as(url, "postgres") as admin:  # hand the tables back before the database is dropped
        for table in TENANT_TABLES:
            admin.execute(f"ALTER TABLE {table} OWNER TO postgres")


def test_the_migration_goes_down_and_up_and_is_a_no_op_on_sqlite(pg_url: str, tmp_path: object) -> None:
    from alembic import command

    for url in (pg_url, f"sqlite:///{tmp_path}/rls.db"):
        engine = create_engine(url) if url.startswith("sqlite") else make_engine(url)
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            command.downgrade(config, "0001")
            command.upgrade(config, "head")
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                rls = conn.execute(text("SELECT count(*) FROM pg_class WHERE relrowsecurity")).scalar_one()
                policies = conn.execute(text("SELECT count(*) FROM pg_policies")).scalar_one()
                assert (rls, policies) == (len(TENANT_TABLES), len(TENANT_TABLES))
        engine.dispose()
