"""The dashboard's read queries, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dashboard_seed
import pytest
from dashboard_seed import INVOICE_ID, Seeded, seed
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import jobtypes
from db import queries
from db.filters import JobFilter
from db.models import Connection, PipelineJob
from integrations.links import record_url


@pytest.fixture
def data(session: Session) -> Seeded:
    return seed(session)


def day() -> tuple[dt.datetime, dt.datetime]:
    now = dashboard_seed.NOW  # set by the latest seed()
    return now - dt.timedelta(hours=24), now + dt.timedelta(minutes=1)


def test_kpis_count_the_window_and_the_queue(session: Session, data: Seeded) -> None:
    k = queries.kpis(session, (), *day())
    assert k.jobs == 39  # the cancelled job is two days old
    assert (k.completed, k.failed) == (31, 6)
    assert k.success_rate == pytest.approx(31 / 37)
    assert k.queue_depth == 1 and k.oldest_queued_age_s == pytest.approx(300, abs=60)
    assert (k.live_runners, k.busy_slots, k.total_slots) == (1, 1, 4)
    assert k.needs_attention == 4  # failed jobs that were rerun are handled
    assert k.p95_s == pytest.approx(5.0, rel=0.05)  # to bucket precision: 2 significant digits (db/rollups.py)


def test_kpis_follow_the_tenant_filter(session: Session, data: Seeded) -> None:
    k = queries.kpis(session, (data.bolt,), *day())
    assert (k.jobs, k.failed, k.queue_depth) == (5, 2, 0)


def test_chart_series_group_by_hour_status_type_and_tenant(session: Session, data: Seeded) -> None:
    series = queries.jobs_over_time(session, (), *day())
    assert sum(r["jobs"] for r in series) == 39
    assert all(r["bucket"].minute == 0 and r["bucket"].tzinfo is not None for r in series)
    pct = {r["job_type"]: r for r in queries.duration_percentiles(session, (), *day())}
    assert pct["xero-invoice-paid"]["p50"] <= pct["xero-invoice-paid"]["p95"] <= pct["xero-invoice-paid"]["p99"]
    volume = {(r["tenant"], r["status"]): r["jobs"] for r in queries.volume_by_tenant(session, (), *day())}
    assert volume[("Bolt Bikes", "FAILED")] == 2


def test_the_browser_pages_by_keyset_without_gaps_or_repeats(session: Session, data: Seeded) -> None:
    seen: list[int] = []
    times: list[dt.datetime] = []
    page = queries.browse_jobs(session, JobFilter(), page_size=7)
    while True:
        seen += [r["id"] for r in page.rows]
        times += [r["created_at"] for r in page.rows]
        if page.next_cursor is None:
            break
        page = queries.browse_jobs(session, JobFilter(), page.next_cursor, page_size=7)
    assert len(seen) == len(set(seen)) == 40
    assert times == sorted(times, reverse=True)


def test_the_browser_filters_by_status_tenant_and_text(session: Session, data: Seeded) -> None:
    failed = queries.browse_jobs(session, JobFilter(statuses=("FAILED",)))
    assert {r["id"] for r in failed.rows} == set(data.failed_ids) and failed.next_cursor is None
    bolt = queries.browse_jobs(session, JobFilter(tenant_ids=(data.bolt,), text="validation"))
    assert [r["error"] for r in bolt.rows] == ["Xero validation error"]
    assert bolt.rows[0]["tenant"] == "Bolt Bikes"
    assert queries.count_jobs(session, JobFilter(statuses=("FAILED",)), cap=100) == 6
    assert queries.count_jobs(session, JobFilter(), cap=10) == 11  # stops counting past the cap


def test_a_job_detail_has_steps_records_with_deep_links_and_lineage(session: Session, data: Seeded) -> None:
    detail = queries.job_detail(session, data.invoice_job, link=record_url)
    assert detail is not None and detail.job["tenant"] == "Acme Outdoor"
    assert [s["message"] for s in detail.steps] == ["GET invoice", "contact updated"]
    links = {r["name"] or r["record_id"]: r["link"] for r in detail.records}
    assert links["INV-0042"] == f"https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={INVOICE_ID}"
    assert links["901"] == "https://app.hubspot.com/contacts/62515/record/0-1/901"
    middle = queries.job_detail(session, data.rerun_child)
    assert middle is not None
    assert [a["id"] for a in middle.ancestors] == [data.rerun_of_failed]
    assert len(middle.reruns) == 1 and middle.reruns[0]["status"] == "COMPLETED"
    root = queries.job_detail(session, data.rerun_of_failed)
    assert root is not None and len(root.reruns) == 2
    assert queries.job_detail(session, 999_999) is None


def test_record_lookup_finds_every_job_newest_first(session: Session, data: Seeded) -> None:
    rows = queries.lookup_record(session, "inv-0042", link=record_url)  # the invoice number, any case
    assert len(rows) == 2 and rows[0]["at"] > rows[1]["at"]
    assert rows[1]["job_id"] == data.invoice_job
    assert [r["job_id"] for r in queries.lookup_record(session, INVOICE_ID.upper())] == [r["job_id"] for r in rows]
    order = queries.lookup_record(session, "1042", link=record_url)  # Shopify order name without '#'
    assert (order[0]["tenant"], order[0]["record_id"], order[0]["link"]) == ("Bolt Bikes", "#1042", None)
    assert queries.lookup_record(session, "INV-0042", tenant_ids=(data.bolt,)) == []
    assert queries.lookup_record(session, "  ") == []


def test_the_health_board_puts_the_worst_first(session: Session, data: Seeded) -> None:
    board = queries.health_board(session)
    assert (board[0]["tenant"], board[0]["system"], board[0]["status"]) == ("Bolt Bikes", "xero", "expired")
    assert len(board) == 8  # two tenants × four systems
    acme_xero = next(r for r in board if r["tenant"] == "Acme Outdoor" and r["system"] == "xero")
    assert acme_xero["consecutive_failures"] == 0 and acme_xero["last_success"] is not None
    assert acme_xero["webhook_silent"] and acme_xero["silence_h"] == pytest.approx(30, abs=0.1)
    assert acme_xero["cursor_lag_h"] == pytest.approx(2, abs=0.1)
    assert board[-1]["status"] == "not connected"


def test_the_health_board_counts_failures_since_the_last_success(session: Session, data: Seeded) -> None:
    bolt = next(r for r in queries.health_board(session, (data.bolt,)) if r["system"] == "shopify")
    assert bolt["status"] == "not connected"
    acme = queries.health_board(session, (data.acme,))
    assert all(r["tenant"] == "Acme Outdoor" for r in acme)


def test_connections_list_four_systems_with_their_dependents(session: Session, data: Seeded) -> None:
    def rows() -> dict[str, dict[str, Any]]:
        found = queries.connections(session, data.acme, workflows=jobtypes.WORKFLOW_USES, uses=jobtypes.USES)
        return {r["system"]: r for r in found}

    assert list(rows()) == ["xero", "hubspot", "shopify", "asana"]
    assert rows()["asana"]["status"] == "not connected"
    # Workflows with no settings row are on (their defaults): a dead connection stops them too,
    # and so does one to the system a workflow writes to, not only the one whose event starts it.
    assert rows()["xero"]["workflows"] == ["xero-invoice-paid", "shopify-order-to-xero"]
    assert rows()["hubspot"]["workflows"] == ["xero-invoice-paid", "hubspot-deal-won-to-asana", "asana-task-reconcile"]
    assert rows()["hubspot"]["schedules"][0].endswith("xero-contacts-to-hubspot (0 * * * *)")
    assert rows()["xero"]["schedules"][0].endswith("xero-contacts-to-hubspot (0 * * * *)")
    assert rows()["shopify"]["schedules"] == []

    session.execute(text("UPDATE workflow_settings SET enabled = false WHERE workflow = 'xero-invoice-paid'"))
    assert rows()["xero"]["workflows"] == ["xero-invoice-paid (off)", "shopify-order-to-xero"]


def test_lists_for_webhooks_schedules_admin_and_filters(session: Session, data: Seeded) -> None:
    deliveries = queries.deliveries(session)
    assert [d["delivery_id"] for d in deliveries] == ["evt-2", "evt-1"]
    assert queries.deliveries(session, source="xero")[0]["job_ids"] == [data.invoice_job]
    assert queries.deliveries(session, before_id=deliveries[0]["id"])[0]["delivery_id"] == "evt-1"
    schedule = queries.schedules(session)[0]
    assert schedule["last_status"] == "COMPLETED" and schedule["tenant"] == "Acme Outdoor"
    assert queries.job_types(session) == [
        "hubspot-deal-won-to-asana",
        "shopify-order-to-xero",
        "xero-contacts-to-hubspot",
        "xero-invoice-paid",
    ]
    assert [t["name"] for t in queries.tenants(session)] == ["Acme Outdoor", "Bolt Bikes"]
    assert [u["role"] for u in queries.users(session)] == ["ADMIN", "EDITOR", "VIEWER"]
    assert queries.workflow_settings(session, data.acme)[0]["workflow"] == "xero-invoice-paid"
    assert queries.api_tokens(session) == []
    assert queries.audit_log(session) == []


def test_the_health_board_counts_failures_after_the_newest_success_per_system(session: Session, data: Seeded) -> None:
    # Bolt's shopify-order-to-xero jobs: FAILED 90 and 130 min ago, COMPLETED 170, 210, 250 min ago.
    session.add(Connection(tenant_id=data.bolt, system="shopify", external_org_id="bolt.myshopify.com"))
    session.commit()
    newest_ok = session.scalars(
        select(PipelineJob)
        .where(PipelineJob.tenant_id == data.bolt, PipelineJob.status == "COMPLETED")
        .order_by(PipelineJob.created_at.desc())
    ).first()
    assert newest_ok is not None and newest_ok.completed_at is not None
    board = {(r["tenant"], r["system"]): r for r in queries.health_board(session)}
    shopify = board[("Bolt Bikes", "shopify")]
    assert (shopify["status"], shopify["consecutive_failures"]) == ("connected", 2)
    assert shopify["last_success"] == newest_ok.completed_at.astimezone(dt.UTC)
    assert board[("Bolt Bikes", "xero")]["consecutive_failures"] == 2  # the same job type names Xero too
    # Acme's newest xero-invoice-paid success (the rerun child, 10 min ago) is newer than every failure.
    assert board[("Acme Outdoor", "xero")]["consecutive_failures"] == 0
    assert board[("Acme Outdoor", "hubspot")]["last_success"] is None  # only a cancelled job names HubSpot
    assert [r["tenant"] for r in queries.health_board(session, (data.bolt,))] == ["Bolt Bikes"] * 4
    assert queries.health_board(session, (data.bolt,))[0]["system"] == "xero"  # expired: worst first


def _explain_among_finished_jobs(session: Session, data: Seeded, query: Any) -> list[str]:
    """The plan of ``query`` once 50,000 finished jobs lie beside the seed (analyzed, as autovacuum would)."""
    session.execute(
        text(
            "INSERT INTO pipeline_jobs (tenant_id, job_type, status, params, completed_at) "
            "SELECT :t, 'noop', 'COMPLETED', jsonb_build_object('order_id', g, 'shop', 'shop-' || g % 7), now() "
            "FROM generate_series(1, 50000) AS g"
        ),
        {"t": data.bolt},
    )
    session.execute(text("ANALYZE pipeline_jobs"))
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    session.execute(text("SET LOCAL enable_seqscan = off"))  # a test-sized table: reading it all is cheaper still
    return list(session.scalars(text("EXPLAIN " + sql)))


def test_text_search_is_answered_by_the_trigram_indexes_on_postgresql(session: Session, data: Seeded) -> None:
    # The filter's expressions must be the indexes' expressions exactly (CAST(params AS TEXT), error).
    # The params index holds finished jobs only (migration 0022): with a history of them beside
    # the few unfinished ones, the planner must still take it for the finished jobs.
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("pg_trgm indexes exist on PostgreSQL only")
    query = select(PipelineJob.id).where(JobFilter(text="Validation").where())
    plan = "\n".join(_explain_among_finished_jobs(session, data, query))
    assert "ix_pipeline_jobs_params_trgm" in plan and "ix_pipeline_jobs_error_trgm" in plan, plan
    assert list(session.scalars(query)) == [
        j.id for j in session.scalars(select(PipelineJob).where(PipelineJob.error == "Xero validation error"))
    ]
    session.rollback()


def test_a_tenants_failed_jobs_come_from_the_partial_index_on_postgresql(session: Session, data: Seeded) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    query = (
        select(PipelineJob.id)
        .where(JobFilter(tenant_ids=(data.bolt,), statuses=("FAILED",)).where())
        .order_by(PipelineJob.created_at.desc())
    )
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(session.scalars(text("EXPLAIN " + sql)))
    assert "ix_pipeline_jobs_tenant_id_unsuccessful" in plan, plan
    assert len(list(session.scalars(query))) == 2
    session.rollback()


def test_a_search_with_a_number_asks_the_trigram_index_for_the_number_only(session: Session, data: Seeded) -> None:
    # The common trigrams of "INV-" cost the index scan most (docs/benchmarks.md, "rare-string
    # text search"); the whole text is still checked on each row, so the rows are the same.
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("pg_trgm indexes exist on PostgreSQL only")
    query = select(PipelineJob.id).where(JobFilter(text="INV-00042").where())
    conds = [line for line in _explain_among_finished_jobs(session, data, query) if "~~*" in line and "Cond" in line]
    assert any("params" in c for c in conds) and any("error" in c for c in conds), conds
    assert all("00042" in c and "INV-00042" not in c for c in conds), conds
    session.rollback()


@pytest.mark.parametrize(
    ("needle", "found"),
    [("INV-00042", True), ("inv-00042", True), ("INV-00042x", False), ("INV 00042", False), ("NV-0004", True),
     ("00042", True), ("42", True), ("INV_00042", False), ("I%V-00042", False), ("shop 7", False)],
)  # fmt: skip
def test_a_search_by_its_rare_parts_finds_exactly_what_the_whole_text_does(
    session: Session, data: Seeded, needle: str, found: bool
) -> None:
    tenant = session.scalars(select(PipelineJob.tenant_id)).first()
    job = PipelineJob(tenant_id=tenant, job_type="noop", status="QUEUED", params={"invoice_number": "INV-00042"})
    session.add(job)
    session.flush()
    hits = set(session.scalars(select(PipelineJob.id).where(JobFilter(text=needle).where())))
    assert (job.id in hits) is found
    session.rollback()
