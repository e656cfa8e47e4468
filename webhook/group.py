"""Group commit: the deliveries that arrive together are written in one transaction.

Written one by one, a delivery cost the listener and PostgreSQL a transaction of its own: the
rate-limit counter, the debounce lock and look-up, the jobs insert, the delivery insert and a
durable commit, each a round trip and a statement to run (docs/benchmarks.md, "Webhook
listener"). Here a request thread that has verified and parsed its delivery hands it to the
worker's **committer** thread and waits; the committer takes every delivery waiting at that
moment, counts them against their tenants' rate limits in one upsert committed on its own (a
counter's row lock held through the batch kept the other worker's batches waiting), and writes
them all in one transaction — one lock and one look-up for all their debounced records, one
jobs insert, one delivery insert — commits, and only then answers each thread with what its
delivery left behind. While it
writes, the next deliveries gather: under load the batches grow by themselves, at a trickle a
delivery waits for nobody.

Every outcome is the one-delivery path's (``webhook.accept``): a delivery that already exists,
or is a second copy within the batch, is a duplicate with the original's job ids; events about
one record join one job, the later ones in arrival order. Anything else — a tenant over its
rate limit, any database error, rows a concurrent writer kept conflicting on, the listener
shutting down — rolls the batch back, gives its rate-limit hits back, and answers every
delivery in it "write yourself": each
thread then runs the one-delivery path in its own transaction, so one bad delivery cannot fail
the others and the 429, 503 and stale-connection answers stay exactly as they were.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db import intake, intake_batch
from db.committer import Committer
from db.engine import hot_statement_engine, make_session_factory
from db.jobs import JobSpec
from db.jobs.debounce import enqueue_events
from integrations.events import VendorEvent
from webhook import debounce
from webhook.rows import job_label, job_specs, single_event_body
from webhook.storable import cleaned
from webhook.wakeup import RunnerWakeup

log = logging.getLogger("webhook.intake")

# The most deliveries one transaction takes (its statements bind arrays of this length).
MAX_BATCH = 64


@dataclass(frozen=True)
class Stored:
    """What a committed delivery left behind, for its answer and the metrics."""

    new_ids: list[int]  # jobs its events made or joined
    dup_ids: list[int]  # the jobs of its events that were duplicates
    duplicates: int  # how many of its events were
    queued: list[tuple[str, bool]]  # (job type, joined a queued job) of each job it made or joined


@dataclass(frozen=True)
class Pending:
    """One verified delivery of known tenants, waiting for its batch."""

    source: str
    events: Sequence[VendorEvent]
    owners: Sequence[intake.OrgTenant]
    keys: Sequence[str]  # each event's dedup key
    headers: dict[str, str]
    raw_body: bytes


class _Fallback(Exception):
    """The batch cannot be written as one (a tenant over its limit, conflicts that kept coming)."""


class GroupCommit(Committer[Pending, "Stored | None"]):
    """A worker's committer (``db.committer``): ``submit`` blocks until the delivery is committed
    (its ``Stored``) or handed back (None: write it alone)."""

    def __init__(
        self,
        engine: Engine,
        windows: debounce.WindowCache,
        rate_limit_per_minute: int,
        wakeup: RunnerWakeup | None = None,
    ) -> None:
        super().__init__(self.run, refused=None, name="intake-committer", max_batch=MAX_BATCH)
        # Connections of its own, where every statement is planned once (``hot_statement_engine``):
        # on the shared pool the debounce look-up was planned afresh for every batch, 0.6 ms of
        # PostgreSQL's CPU per batch, most of its cost per delivery at a few deliveries a batch.
        # A stale one fails its batch, which the deliveries then write alone on the shared pool.
        self._engine = hot_statement_engine(engine, durable=True, connections=2, connect_timeout=3)
        self._session_factory: sessionmaker[Session] = make_session_factory(self._engine)
        # The tenants' counters are counted outside the batch's transaction (``db.intake_batch``).
        self._autocommit: Engine = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        self._windows = windows
        self._limit = rate_limit_per_minute
        self._wakeup = wakeup

    def close(self, timeout_s: float = 5.0) -> None:
        super().close(timeout_s)
        self._engine.dispose()

    def run(self, batch: Sequence[Pending]) -> list[Stored | None]:
        """Write ``batch`` in one transaction in this thread; each delivery's ``Stored``, or all None."""
        from webhook.metrics import GROUP_COMMIT_SIZE  # not at import: see webhook.asgi

        hits = Counter(t for p in batch for t in {o.tenant_id for o in p.owners})
        counted: intake_batch.TenantHits | None = None
        try:
            with self._autocommit.connect() as conn:
                counted = intake_batch.hit_tenants(conn, dict(hits))
            if any(count > self._limit for count in counted.counts.values()):
                raise _Fallback  # the one-delivery path refuses exactly those over the limit
            with self._session_factory() as session:
                stored = self._write(session, batch)
        except Exception as exc:
            if not isinstance(exc, _Fallback):  # each delivery then meets the error (or not) on its own
                log.warning("group commit of %d deliveries failed (%s); writing them one by one", len(batch), exc)
            if counted is not None:
                self._return_hits(counted)
            return [None] * len(batch)
        GROUP_COMMIT_SIZE.observe(len(batch))
        if self._wakeup is not None and any(not joined for s in stored for _, joined in s.queued):
            self._wakeup.poke()
        return list(stored)

    def _return_hits(self, counted: intake_batch.TenantHits) -> None:
        """Give back an uncommitted batch's hits (its deliveries are counted again, alone)."""
        try:
            with self._autocommit.connect() as conn:
                intake_batch.return_hits(conn, counted)
        except Exception as exc:  # the counts stay high for the rest of the minute: stricter, not looser
            log.warning("could not give back %d rate-limit hits (%s)", sum(counted.by_key.values()), exc)

    def _write(self, session: Session, batch: Sequence[Pending]) -> list[Stored]:
        skip: set[tuple[str, str]] = set()  # deliveries found stored already: duplicates
        for _attempt in range(3):
            first, ids = self._store(session, batch, skip)
            if not (conflicts := first.keys() - ids.keys()):
                break
            session.rollback()  # a concurrent or earlier copy won: again without it
            skip |= conflicts
        else:  # pragma: no cover - three rounds of fresh conflicts in one batch
            raise _Fallback
        originals: dict[tuple[str, str], list[int]] = {}
        for source in sorted({s for s, _ in skip}):
            found = intake.original_job_ids(session, source, sorted(k for s, k in skip if s == source))
            originals.update({(source, k): v for k, v in found.items()})
        session.commit()
        return [_answer(n, p, first, ids, skip, originals) for n, p in enumerate(batch)]

    def _store(
        self, session: Session, batch: Sequence[Pending], skip: set[tuple[str, str]]
    ) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[tuple[str, str], list[tuple[int, str, bool]]]]:
        """One attempt: every new event's jobs, then every new delivery row.

        Returns where each stored key came from (its first copy in the batch: delivery and event
        index) and the jobs of each key whose row went in (job id, type, joined a queued job).
        """
        first: dict[tuple[str, str], tuple[int, int]] = {}
        for n, pending in enumerate(batch):
            for e, dedup in enumerate(pending.keys):
                if (pending.source, dedup) not in skip:
                    first.setdefault((pending.source, dedup), (n, e))
        specs: list[JobSpec] = []
        labels: list[str] = []
        owner_of: list[tuple[str, str]] = []
        for key, (n, e) in first.items():
            pending = batch[n]
            made = job_specs(pending.source, pending.events[e], pending.owners[e], key[1])
            specs += made
            labels += [job_label(pending.source, pending.events[e], key[1])] * len(made)
            owner_of += [key] * len(made)
        results = enqueue_events(session, debounce.events(session, self._windows, specs, labels), notify=False)
        jobs: dict[tuple[str, str], list[tuple[int, str, bool]]] = {key: [] for key in first}
        for key, spec, result in zip(owner_of, specs, results, strict=True):
            jobs[key].append((result.id, spec.job_type, result.joined))
        rows = []
        for key, (n, e) in first.items():
            pending, event = batch[n], batch[n].events[e]
            rows.append(
                intake.NewDelivery(
                    source=pending.source,
                    delivery_id=key[1],
                    tenant_id=pending.owners[e].tenant_id,
                    event_type=cleaned(event.event_type),
                    external_org_id=cleaned(event.org_id),
                    headers=pending.headers,
                    body=pending.raw_body if len(pending.events) == 1 else single_event_body(pending.source, event),
                    outcome="accepted",
                    job_ids=list(dict.fromkeys(job_id for job_id, _, _ in jobs[key])),
                )
            )
        inserted = intake_batch.claim_deliveries(session, rows) if rows else set()
        return first, {key: v for key, v in jobs.items() if key in inserted}


def _answer(
    n: int,
    pending: Pending,
    first: dict[tuple[str, str], tuple[int, int]],
    ids: dict[tuple[str, str], list[tuple[int, str, bool]]],
    skip: set[tuple[str, str]],
    originals: dict[tuple[str, str], list[int]],
) -> Stored:
    """Delivery ``n``'s share of the committed batch."""
    new_ids: list[int] = []
    dup_ids: set[int] = set()
    duplicates = 0
    queued: list[tuple[str, bool]] = []
    for e, key in enumerate(pending.keys):
        where = (pending.source, key)
        if where in skip:
            duplicates += 1
            dup_ids.update(originals.get(where, []))
        elif first[where] != (n, e):  # a second copy within the batch: the first one's jobs
            duplicates += 1
            dup_ids.update(job_id for job_id, _, _ in ids[where])
        else:
            new_ids += [job_id for job_id, _, _ in ids[where]]
            queued += [(job_type, joined) for _, job_type, joined in ids[where]]
    return Stored(list(dict.fromkeys(new_ids)), sorted(dup_ids), duplicates, queued)
