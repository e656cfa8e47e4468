"""The schema is built by the migrations alone, and the models agree with it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from db.engine import make_engine
from db.migrate import alembic_config, upgrade
from db.models import Base

# Alembic cannot compare expression indexes (the claim index has ``priority DESC``);
# those are checked by name instead.
EXPRESSION_INDEXES = {"ix_pipeline_jobs_claimable"}


# On PostgreSQL (0018) the job tables are partitioned by id range: the partitions and the
# idempotency-key table are not models, the key moved off pipeline_jobs, and the steps' and
# related records' keys to their jobs are per partition (db/jobs/partitions.py). SQLite has
# exactly the models.
PARTITION = re.compile(r"^((pipeline_jobs|job_steps|related_records)_(p\d+|default)|job_idempotency_keys_g\d+)$")
# and since 0020 the keys' generations and the id ranges retention dropped
PG_ONLY_TABLES = {"job_idempotency_keys", "job_key_generations", "job_ranges_dropped"}
PG_MISSING = {
    "uq_pipeline_jobs_tenant_id_idempotency_key",
    "fk_pipeline_jobs_parent_job_id_pipeline_jobs",
    "fk_job_steps_job_id_pipeline_jobs",
    "fk_related_records_job_id_pipeline_jobs",
}


def _comparable(dialect: str) -> Callable[[object, str | None, str, bool, object], bool]:
    def include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        if type_ == "index" and name in EXPRESSION_INDEXES:
            return False
        if dialect != "postgresql":
            return True
        table = obj if type_ == "table" else getattr(obj, "table", None)
        table_name = getattr(table, "name", "")
        if PARTITION.match(table_name) or table_name in PG_ONLY_TABLES:
            return False
        if type_ == "foreign_key_constraint":  # PostgreSQL's clone of a key for each partition it points at
            target = obj.elements[0].target_fullname.split(".")[0]  # type: ignore[attr-defined]
            if PARTITION.match(target):
                return False
        return name not in PG_MISSING

    return include


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_object": _comparable(engine.dialect.name)}
        context = MigrationContext.configure(conn, opts=opts)
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("pipeline_jobs")}
    assert indexes >= EXPRESSION_INDEXES


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert "pipeline_jobs" in inspect(engine).get_table_names()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_the_waiting_state_migration_keeps_existing_jobs_and_their_steps(tmp_path: Path, pg_url: str) -> None:
    """0014 changes pipeline_jobs' status check; on SQLite without rebuilding the table (a rebuild
    would cascade to every job's steps), on PostgreSQL in place. Both, with jobs already there."""
    for url in (f"sqlite:///{tmp_path / 'old.db'}", pg_url):
        engine = make_engine(url)
        if url == pg_url:  # a fresh database at head: go back to before 0014 first
            with engine.begin() as conn:
                config = _config(conn)
                command.downgrade(config, "0011_connection_webhooks")
        upgrade(engine, "0011_connection_webhooks")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO tenants (name) VALUES ('Acme')"))
            conn.execute(text("INSERT INTO pipeline_jobs (tenant_id, job_type, status, params) "
                              "VALUES (1, 'noop', 'COMPLETED', '{}')"))  # fmt: skip
            conn.execute(text("INSERT INTO job_steps (job_id, kind, message) VALUES (1, 'info', 'kept')"))
        upgrade(engine)
        with engine.begin() as conn:
            assert conn.execute(text("SELECT message FROM job_steps")).scalars().all() == ["kept"]
            conn.execute(text("UPDATE pipeline_jobs SET status = 'WAITING' WHERE id = 1"))
            conn.execute(text("UPDATE pipeline_jobs SET status = 'PAUSED' WHERE id = 1"))  # 0016
        with engine.begin() as conn, pytest.raises(IntegrityError):
            conn.execute(text("UPDATE pipeline_jobs SET status = 'ON_HOLD' WHERE id = 1"))
        engine.dispose()


def _config(connection: object) -> Config:
    config = alembic_config()
    config.attributes["connection"] = connection
    return config
