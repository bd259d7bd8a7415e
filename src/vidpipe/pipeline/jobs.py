"""Jobs in the catalog: dependencies, leases, retries, cancellation.

The jobs table is the truth (a queue message only says "look at job X"). A job's life:

- :meth:`JobStore.create` validates the kind (a stage of :mod:`vidpipe.pipeline.registry`),
  the params (the stage's ``Options``: a bad job is refused with the model's message and
  never stored), the input and the ``depends_on`` ids (unknown ids are refused). It is
  stored ``waiting`` and at once ``queued`` when every dependency has succeeded (or it
  has none). The same ``idempotency_key`` gives back the same job.
- :meth:`JobStore.claim` (one job) and :meth:`JobStore.claim_next` (the oldest queued
  job; PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED``) take a queued job with one
  conditional ``UPDATE``: of several workers exactly one wins. The winner holds a lease
  (``owner`` from :func:`~vidpipe.library.catalog.owner_id`, ``lease_until``), counts an
  attempt, and renews the lease (:meth:`JobStore.heartbeat`, :meth:`JobStore.progress`).
- :meth:`JobStore.succeed` stores the result and artifacts (paths relative to the storage
  root) and promotes the waiting dependents whose dependencies have all succeeded.
  :meth:`JobStore.fail` puts the job back in the queue while ``attempts < max_attempts``
  (when the error is worth retrying), else marks it ``failed``; a failed or canceled job
  fails its waiting dependents with ``dependency <id> failed: <reason>``.
- :meth:`JobStore.cancel`: a waiting or queued job is canceled at once; a running one is
  flagged and its runner stops at its next progress report or heartbeat
  (:class:`JobCanceled`; a stage that finishes before that succeeds).
  :meth:`JobStore.retry` queues a failed or canceled job again (and re-waits the
  dependents that failed because of it).
- :meth:`JobStore.reap` finds running jobs whose lease expired (a killed worker) and
  re-queues them, up to ``max_attempts``; the queue's reaper calls it, with
  :meth:`JobStore.promote`.
- A job of a ``vidpipe submit`` chain (its input names a ``source_id``) brings that
  source row in line with the chain whenever it ends, fails or is retried
  (:func:`vidpipe.pipeline.chains.settle_source`).

Every method commits before it returns. Times are UTC; leases in seconds.

Example::

    store = JobStore(Catalog())
    speak = store.create("speak", {}, input={"text": "Hello there."})
    card = store.create("images", {"width": 320, "height": 180}, depends_on=[speak.id])
    video = store.create("render", {"width": 320, "height": 180}, depends_on=[speak.id, card.id])
    run_job(store, speak.id)  # vidpipe.pipeline.execute
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from vidpipe.config import storage_root
from vidpipe.errors import BusyError, ConflictError, NotFoundError, UsageError
from vidpipe.library.catalog import LEASE_SECONDS, Catalog, owner_gone
from vidpipe.library.models import (
    JOB_FINAL,
    JOB_STATUSES,
    JobCallbackRow,
    JobDepRow,
    JobRow,
    Source,
    WorkerRow,
    utcnow,
)
from vidpipe.library.urls import redact_data, redact_secrets
from vidpipe.pipeline.chains import DEPENDENCY_FAILED, settle_source
from vidpipe.pipeline.registry import get_stage, item_kinds
from vidpipe.pipeline.stages import DependencyOutput, StageInput, options_error
from vidpipe.types import Job, JobError

_log = logging.getLogger("vidpipe.jobs")

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEPENDENCY_FAILED",
    "JobCanceled",
    "JobLost",
    "JobPage",
    "JobStore",
    "WorkerSeen",
    "redacted",
    "storage_root",
]

DEFAULT_MAX_ATTEMPTS = 3
#: shortest id prefix :meth:`JobStore.resolve` accepts (git-like short ids)
MIN_ID_PREFIX = 4
#: ``error_class`` of a job canceled by :meth:`JobStore.cancel`
CANCELED = "Canceled"
#: ``error_class`` recorded when a worker's lease expired (:meth:`JobStore.reap`)
LEASE_EXPIRED = "LeaseExpired"


class JobCanceled(Exception):
    """The running job was canceled (:meth:`JobStore.cancel`): stop working on it."""


class JobLost(Exception):
    """The caller no longer holds the job (its lease expired and it was taken over, or it
    was re-queued by the reaper): stop and write nothing."""


@dataclass
class JobPage:
    """One page of :meth:`JobStore.list`: ``jobs`` newest first and the ``cursor`` of the
    next page (``None`` on the last one)."""

    jobs: list[Job]
    cursor: str | None


@dataclass
class WorkerSeen:
    """A queue worker as last recorded (:meth:`JobStore.worker_seen`); times UTC."""

    id: str
    host: str
    pid: int
    concurrency: int
    running: int
    started_at: datetime
    seen_at: datetime


def redacted(job: Job) -> Job:
    """A copy of ``job`` to show to people: URL passwords and query values in its
    params, input, result, step and error replaced by ``***``
    (:func:`vidpipe.library.urls.redact_secrets`). The stored job keeps them (a worker
    needs the real URL)."""
    error = job.error
    if error is not None:
        error = error.model_copy(
            update={
                "message": redact_secrets(error.message),
                "hint": redact_secrets(error.hint) if error.hint else error.hint,
            }
        )
    return job.model_copy(
        update={
            "params": redact_data(job.params),
            "input": redact_data(job.input),
            "result": redact_data(job.result),
            "step": redact_secrets(job.step) if job.step else job.step,
            "error": error,
        }
    )


def _aware(t: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; they were stored as UTC
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class JobStore:
    """Jobs in a catalog (SQLite or PostgreSQL).

    Args:
        catalog: an open :class:`~vidpipe.library.catalog.Catalog` (default: the
            configured one, closed by :meth:`close`).
        root: storage root of job folders (default :func:`storage_root`).
    """

    def __init__(self, catalog: Catalog | None = None, root: str | os.PathLike[str] | None = None):
        self._own = catalog is None
        self.catalog = catalog or Catalog()
        self.root = Path(root).expanduser() if root is not None else storage_root()

    def close(self) -> None:
        if self._own:
            self.catalog.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ files

    def job_dir(self, job_id: str) -> Path:
        """``<root>/jobs/<id>``: where job ``job_id`` writes its artifacts."""
        return self.root / "jobs" / job_id

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the storage root (POSIX separators), as stored."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()

    def artifact_paths(self, job: Job) -> list[Path]:
        """The job's artifacts as absolute paths under the storage root."""
        return [self.root / a for a in job.artifacts]

    def dependency_outputs(self, job: Job) -> list[DependencyOutput]:
        """What ``job``'s dependencies hand on, in ``depends_on`` order."""
        deps = self.get_many(job.depends_on)
        return [
            DependencyOutput(
                job_id=d.id, kind=d.kind, result=d.result or {}, artifacts=self.artifact_paths(d)
            )
            for d in deps
        ]

    def _chain_changed(self, job_id: str) -> None:
        """The source row of ``job_id``'s chain follows the chain (see
        :mod:`vidpipe.pipeline.chains`); a catalog hiccup here never fails the job (the
        next end of a job of the chain settles it again)."""
        try:
            settle_source(self, job_id)
        except Exception as exc:  # the job's own state is already committed
            _log.warning("source of job %s not updated: %s", job_id, _one_line(str(exc)))

    # ------------------------------------------------------------------ reading

    def _deps_of(self, s: Session, ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {i: [] for i in ids}
        if ids:
            q = (
                select(JobDepRow.job_id, JobDepRow.depends_on)
                .where(JobDepRow.job_id.in_(list(ids)))
                .order_by(JobDepRow.job_id, JobDepRow.position)
            )
            for jid, dep in s.execute(q):
                out[jid].append(dep)
        return out

    @staticmethod
    def _job(row: JobRow, deps: list[str]) -> Job:
        error = None
        if row.error_class:
            error = JobError(
                error_class=row.error_class, message=row.error_message or "", hint=row.error_hint
            )
        return Job(
            id=row.id,
            kind=row.kind,
            params=row.params or {},
            params_hash=row.params_hash,
            stage_version=row.stage_version,
            input=row.input or {},
            status=row.status,
            depends_on=deps,
            progress=row.progress or 0.0,
            step=row.step,
            result=row.result,
            artifacts=row.artifacts or [],
            error=error,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            owner=row.owner,
            lease_until=_aware(row.lease_until),
            cancel_requested=bool(row.cancel_requested),
            idempotency_key=row.idempotency_key,
            created_at=_aware(row.created_at),
            started_at=_aware(row.started_at),
            finished_at=_aware(row.finished_at),
        )

    def _jobs(self, s: Session, rows: Sequence[JobRow]) -> list[Job]:
        deps = self._deps_of(s, [r.id for r in rows])
        return [self._job(r, deps[r.id]) for r in rows]

    def get(self, job_id: str) -> Job:
        """The job ``job_id``.

        Raises:
            NotFoundError: no such job.
        """
        with self.catalog.session(write=False) as s:
            row = s.get(JobRow, str(job_id))
            if row is None:
                raise NotFoundError(f"no job {job_id}", "see vidpipe jobs list")
            return self._jobs(s, [row])[0]

    def resolve(self, job_id: str) -> str:
        """The full id of ``job_id``, which may be a prefix of at least
        :data:`MIN_ID_PREFIX` characters (as ``vidpipe jobs`` shows ids: 8 characters).

        Raises:
            InputError: no job has that id or prefix, or several jobs share the prefix.
        """
        key = str(job_id).strip()
        with self.catalog.session(write=False) as s:
            if s.get(JobRow, key) is not None:
                return key
            if len(key) < MIN_ID_PREFIX or not all(c in "0123456789abcdef-" for c in key):
                raise NotFoundError(f"no job {job_id}", "see vidpipe jobs list")
            q = select(JobRow.id).where(JobRow.id.like(f"{key}%")).limit(2)
            found = list(s.scalars(q))
        if not found:
            raise NotFoundError(f"no job {job_id}", "see vidpipe jobs list")
        if len(found) > 1:
            raise UsageError(f"several jobs have ids starting with {job_id}", "give more of the id")
        return found[0]

    def get_many(self, job_ids: Sequence[str]) -> list[Job]:
        """The jobs ``job_ids`` that exist, in the order given."""
        if not job_ids:  # no dependencies, no dependents: the common case, no round trip
            return []
        with self.catalog.session(write=False) as s:
            rows = list(s.scalars(select(JobRow).where(JobRow.id.in_(list(job_ids)))))
            by_id = {j.id: j for j in self._jobs(s, rows)}
        return [by_id[i] for i in job_ids if i in by_id]

    def list(
        self,
        status: str | Sequence[str] | None = None,
        kind: str | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobPage:
        """Jobs newest first, filtered by ``status`` (one or several) and ``kind``.

        Args:
            status: ``waiting``, ``queued``, ``running``, ``succeeded``, ``failed``,
                ``canceled`` (or a list of them).
            kind: a stage name.
            limit: jobs per page (1..1000).
            cursor: the ``cursor`` of the previous page.

        Raises:
            UsageError: an unknown status or kind, a bad limit or cursor.
        """
        statuses = [status] if isinstance(status, str) else list(status or [])
        bad = [x for x in statuses if x not in JOB_STATUSES]
        if bad:
            raise UsageError(f"unknown job status '{bad[0]}'", f"use {', '.join(JOB_STATUSES)}")
        if kind is not None:
            get_stage(kind)
        if not 1 <= int(limit) <= 1000:
            raise UsageError(f"bad limit {limit}", "use 1 to 1000 jobs per page")
        with self.catalog.session(write=False) as s:
            q = select(JobRow)
            if statuses:
                q = q.where(JobRow.status.in_(statuses))
            if kind is not None:
                q = q.where(JobRow.kind == kind)
            if cursor is not None:
                last = s.get(JobRow, cursor)
                if last is None:
                    raise UsageError(f"bad cursor '{cursor}'", "pass the cursor of a page")
                q = q.where(
                    or_(
                        JobRow.created_at < last.created_at,
                        and_(JobRow.created_at == last.created_at, JobRow.id < last.id),
                    )
                )
            q = q.order_by(JobRow.created_at.desc(), JobRow.id.desc()).limit(int(limit) + 1)
            rows = list(s.scalars(q))
            more = len(rows) > limit
            rows = rows[:limit]
            jobs = self._jobs(s, rows)
        return JobPage(jobs, rows[-1].id if more and rows else None)

    def counts(self, kind: str | None = None) -> dict[str, int]:
        """Jobs per status (every status of ``JOB_STATUSES``, 0 when none), of ``kind``
        if given."""
        with self.catalog.session(write=False) as s:
            q = select(JobRow.status, func.count()).group_by(JobRow.status)
            if kind is not None:
                q = q.where(JobRow.kind == kind)
            found = dict(s.execute(q).all())
        return {st: int(found.get(st, 0)) for st in JOB_STATUSES}

    def durations(self, limit: int = 10000) -> list[tuple[str, str, float]]:
        """``(kind, status, seconds)`` of the ``limit`` jobs that finished last (those
        that started): wall time from start to finish of their last attempt."""
        with self.catalog.session(write=False) as s:
            q = (
                select(JobRow.kind, JobRow.status, JobRow.started_at, JobRow.finished_at)
                .where(JobRow.finished_at.is_not(None), JobRow.started_at.is_not(None))
                .order_by(JobRow.finished_at.desc())
                .limit(int(limit))
            )
            rows = s.execute(q).all()
        return [
            (k, st, max(0.0, (_aware(end) - _aware(begin)).total_seconds()))
            for k, st, begin, end in rows
        ]

    def dependents(self, job_id: str) -> list[Job]:
        """The jobs that depend on ``job_id``, oldest first."""
        with self.catalog.session(write=False) as s:
            ids = self._dependents(s, str(job_id))
        return self.get_many(ids)

    def queued_before(self, before: datetime, *, limit: int = 1000) -> list[Job]:
        """Jobs ``queued`` whose row last changed before ``before`` (UTC), oldest first, at
        most ``limit``: the queue's reaper re-enqueues those whose message was lost."""
        with self.catalog.session(write=False) as s:
            q = (
                select(JobRow)
                .where(JobRow.status == "queued", JobRow.updated_at < before)
                .order_by(JobRow.updated_at, JobRow.id)
                .limit(int(limit))
            )
            return self._jobs(s, list(s.scalars(q)))

    def unsettled_sources(self, *, limit: int = 100) -> list[str]:
        """Chains whose jobs have all ended while their source is still ``pending``: the
        worker that ended the last job died between committing it and updating the
        source (:func:`~vidpipe.pipeline.chains.settle_source`). Returns one job id per
        such source (at most ``limit``), for the reaper to settle."""
        other = aliased(JobRow)
        open_job = (
            exists()
            .where(other.source_id == Source.id, other.status.not_in(JOB_FINAL))
            .correlate(Source)
        )
        with self.catalog.session(write=False) as s:
            q = (
                select(func.min(JobRow.id))
                .join(Source, Source.id == JobRow.source_id)
                .where(Source.state == "pending", ~open_job)
                .group_by(JobRow.source_id)
                .limit(int(limit))
            )
            return [str(i) for i in s.scalars(q) if i is not None]

    # ------------------------------------------------------------------ creating

    def create(
        self,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        input: dict[str, Any] | StageInput | None = None,
        depends_on: Iterable[str] = (),
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        idempotency_key: str | None = None,
        max_backlog: int | None = None,
    ) -> Job:
        """Create a job; it is ``queued`` at once when it waits for nothing.

        Args:
            kind: a stage name (:func:`~vidpipe.pipeline.registry.stage_names`).
            params: the stage's options (validated by its ``Options`` model; defaults
                filled in and stored).
            input: what it works on (:class:`~vidpipe.pipeline.stages.StageInput`:
                ``media_id``, ``path``, ``text``, ``images``, ``audio``); file paths are
                stored absolute.
            depends_on: ids of jobs whose outputs it takes, in order.
            max_attempts: runs allowed before it stays ``failed`` (>= 1).
            idempotency_key: a job created before with this key is returned instead.
            max_backlog: refuse the job when this many jobs are already ``waiting`` or
                ``queued`` (counted in the transaction that inserts it, serialized with
                the other creators: :meth:`~vidpipe.library.catalog.Catalog.serialize`,
                so concurrent creators never pass the cap). None: no cap.

        Returns:
            The stored :class:`~vidpipe.types.Job` (``waiting``, ``queued``, or
            ``failed`` when a dependency already failed).

        Raises:
            UsageError: unknown kind, params or input the stage refuses, unknown
                dependency ids, nothing to work on, ``max_attempts < 1``.
            BusyError: ``max_backlog`` jobs already wait (``retry_after`` 30 s).
        """
        stage = get_stage(kind)
        options = stage.parse_options(params)
        try:
            given = (
                input if isinstance(input, StageInput) else StageInput.model_validate(input or {})
            )
        except ValidationError as exc:
            raise options_error(kind, exc, "input") from None
        given = given.absolute()
        if int(max_attempts) < 1:
            raise UsageError(f"max attempts {max_attempts} is below 1", "use 1 or more")
        deps = list(dict.fromkeys(str(d) for d in depends_on))
        if idempotency_key is not None:
            existing = self._by_key(idempotency_key)
            if existing is not None:
                return existing
        job_id = str(uuid.uuid4())
        now = utcnow()
        try:
            with self.catalog.session() as s:
                if max_backlog is not None:
                    self._check_backlog(s, max_backlog)
                found = {
                    r.id: r.kind
                    for r in s.execute(select(JobRow.id, JobRow.kind).where(JobRow.id.in_(deps)))
                }
                missing = [d for d in deps if d not in found]
                if missing:
                    raise UsageError(
                        f"unknown job {missing[0]} in depends_on", "see vidpipe jobs list"
                    )
                stage.check_input(given, [found[d] for d in deps], item_kinds())
                s.add(
                    JobRow(
                        id=job_id,
                        kind=kind,
                        params=options.model_dump(mode="json"),
                        params_hash=stage.options_hash(options),
                        stage_version=stage.version,
                        input=given.model_dump(mode="json", exclude_defaults=True),
                        source_id=getattr(given, "source_id", None),
                        status="waiting",
                        progress=0.0,
                        attempts=0,
                        max_attempts=int(max_attempts),
                        cancel_requested=False,
                        idempotency_key=idempotency_key,
                        created_at=now,
                        updated_at=now,
                    )
                )
                s.flush()
                for pos, dep in enumerate(deps):
                    s.add(JobDepRow(job_id=job_id, depends_on=dep, position=pos))
                s.flush()
                self._settle(s, [job_id])
        except IntegrityError:
            existing = self._by_key(idempotency_key) if idempotency_key is not None else None
            if existing is None:
                raise
            return existing
        return self.get(job_id)

    def _check_backlog(self, s: Session, cap: int) -> None:
        self.catalog.serialize(s, "job-backlog")
        q = select(func.count()).select_from(JobRow)
        backlog = s.scalar(q.where(JobRow.status.in_(("waiting", "queued")))) or 0
        if backlog >= cap:
            raise BusyError(
                f"the queue is full ({backlog} jobs waiting or queued)",
                "retry later (see Retry-After)",
                retry_after=30,
            )

    def by_idempotency_key(self, key: str) -> Job | None:
        """The job created with ``idempotency_key`` ``key``, or ``None``."""
        return self._by_key(key)

    def _by_key(self, key: str) -> Job | None:
        with self.catalog.session(write=False) as s:
            row = s.scalars(select(JobRow).where(JobRow.idempotency_key == key)).first()
            return None if row is None else self._jobs(s, [row])[0]

    # ------------------------------------------------------------------ dependencies

    def _dependents(self, s: Session, job_id: str) -> list[str]:
        q = (
            select(JobDepRow.job_id)
            .join(JobRow, JobRow.id == JobDepRow.job_id)
            .where(JobDepRow.depends_on == job_id)
            .order_by(JobRow.created_at, JobRow.id)  # older first: a deterministic reason
        )
        return list(s.scalars(q))

    def _settle(self, s: Session, job_ids: Iterable[str]) -> list[str]:
        """Queue the waiting jobs among ``job_ids`` whose dependencies all succeeded; fail
        those with a failed or canceled dependency (and theirs, recursively). Returns
        the ids queued."""
        queued: list[str] = []
        todo = list(job_ids)
        while todo:
            jid = todo.pop(0)
            # lock the dependent first: two dependencies finishing at once then see each other
            row = s.scalars(select(JobRow).where(JobRow.id == jid).with_for_update()).first()
            if row is None or row.status != "waiting":
                continue
            deps = self._deps_of(s, [jid])[jid]
            rows = (
                {r.id: r for r in s.scalars(select(JobRow).where(JobRow.id.in_(deps)))}
                if deps
                else {}
            )
            now = utcnow()
            bad = next((rows[d] for d in deps if rows[d].status in ("failed", "canceled")), None)
            if bad is not None:
                reason = "canceled" if bad.status == "canceled" else (bad.error_message or "failed")
                row.status = "failed"
                row.error_class = DEPENDENCY_FAILED
                row.error_message = _one_line(f"dependency {bad.id} failed: {reason}")
                row.error_hint = f"retry job {bad.id}"
                row.finished_at = now
                row.updated_at = now
                s.flush()
                todo.extend(self._dependents(s, jid))
            elif all(rows[d].status == "succeeded" for d in deps):
                row.status = "queued"
                row.updated_at = now
                s.flush()
                queued.append(jid)
        return queued

    def promote(self) -> list[Job]:
        """Settle every waiting job (queue those whose dependencies all succeeded, fail
        those with a failed one); a safety net for the reaper. Returns the jobs queued."""
        with self.catalog.session() as s:
            ids = list(s.scalars(select(JobRow.id).where(JobRow.status == "waiting")))
            queued = self._settle(s, ids)
        return self.get_many(queued)

    # ------------------------------------------------------------------ running

    def _claim_values(self, owner: str, lease: float) -> dict[str, Any]:
        now = utcnow()
        return {
            "status": "running",
            "owner": owner,
            "lease_until": now + timedelta(seconds=lease),
            "attempts": JobRow.attempts + 1,
            "started_at": now,
            "finished_at": None,
            "progress": 0.0,
            "step": "starting " + JobRow.kind,  # in the claim: no progress write of its own
            "updated_at": now,
        }

    def claim(self, job_id: str, owner: str, *, lease: float = LEASE_SECONDS) -> Job | None:
        """Take the queued job ``job_id`` for ``owner`` (one conditional ``UPDATE``: of
        several callers exactly one wins). Returns the running job, or ``None`` when it
        is not queued (another worker has it, it is done, waiting or canceled)."""
        with self.catalog.session() as s:
            stmt = (
                update(JobRow)
                .where(JobRow.id == str(job_id), JobRow.status == "queued")
                .values(**self._claim_values(owner, lease))
                .returning(JobRow)  # the claimed row itself: no second read
            )
            row = s.scalars(stmt).first()
            return self._jobs(s, [row])[0] if row is not None else None

    def claim_next(
        self, owner: str, *, kinds: Sequence[str] | None = None, lease: float = LEASE_SECONDS
    ) -> Job | None:
        """Take the oldest queued job (of ``kinds``, if given) for ``owner``; ``None`` when
        none is queued. PostgreSQL skips rows other workers are taking (``FOR UPDATE SKIP
        LOCKED``); SQLite serialises writers (``BEGIN IMMEDIATE``)."""
        with self.catalog.session() as s:
            q = select(JobRow.id).where(JobRow.status == "queued")
            if kinds:
                q = q.where(JobRow.kind.in_(list(kinds)))
            q = q.order_by(JobRow.created_at, JobRow.id).limit(1).with_for_update(skip_locked=True)
            job_id = s.scalar(q)
            if job_id is None:
                return None
            stmt = (
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == "queued")
                .values(**self._claim_values(owner, lease))
                .returning(JobRow)
            )
            row = s.scalars(stmt).first()
            return self._jobs(s, [row])[0] if row is not None else None

    def claim_many(
        self, job_ids: Sequence[str], owner: str, *, lease: float = LEASE_SECONDS
    ) -> list[Job]:
        """Take those of the queued jobs ``job_ids`` that are still queued, for ``owner``
        (one conditional ``UPDATE``: a job another worker took meanwhile is left out).
        Returns the jobs won, in ``job_ids`` order."""
        ids = [str(j) for j in job_ids]
        if not ids:
            return []
        with self.catalog.session() as s:
            stmt = (
                update(JobRow)
                .where(JobRow.id.in_(ids), JobRow.status == "queued")
                .values(**self._claim_values(owner, lease))
                .returning(JobRow.id)
            )
            won = set(s.scalars(stmt))
        return self.get_many([j for j in ids if j in won])

    def queued_like(
        self, kind: str, params_hash: str, *, status: str = "queued", limit: int = 256
    ) -> list[Job]:
        """Queued jobs (or jobs of another ``status``) of ``kind`` with options hash
        ``params_hash``, oldest first (what a worker may pack with a job it claimed;
        ``"running"``: what other workers may be packing)."""
        with self.catalog.session(write=False) as s:
            rows = s.scalars(
                select(JobRow)
                .where(JobRow.status == status, JobRow.kind == kind)
                .where(JobRow.params_hash == params_hash)
                .order_by(JobRow.created_at, JobRow.id)
                .limit(limit)
            ).all()
            return self._jobs(s, rows)

    def _touch(self, job_id: str, owner: str, values: dict[str, Any]) -> None:
        values = values | {"updated_at": utcnow()}
        with self.catalog.session() as s:
            stmt = (
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == "running", JobRow.owner == owner)
                .values(**values)
                .returning(JobRow.cancel_requested)
            )
            row = s.execute(stmt).first()
        if row is None:
            raise JobLost(f"job {job_id} is no longer held by {owner}")
        if row[0]:
            raise JobCanceled(f"job {job_id} was canceled")

    def heartbeat(self, job_id: str, owner: str, *, lease: float = LEASE_SECONDS) -> None:
        """Renew ``owner``'s lease of ``job_id`` for ``lease`` seconds from now.

        Raises:
            JobLost: ``owner`` no longer holds the job.
            JobCanceled: the job was canceled: stop it (:meth:`finish_canceled`).
        """
        self._touch(job_id, owner, {"lease_until": utcnow() + timedelta(seconds=lease)})

    def progress(
        self,
        job_id: str,
        owner: str,
        fraction: float,
        step: str | None = None,
        *,
        lease: float = LEASE_SECONDS,
    ) -> None:
        """Record progress (``fraction`` 0..1, a one-line ``step``) and renew the lease.

        Raises:
            JobLost, JobCanceled: as :meth:`heartbeat`.
        """
        values: dict[str, Any] = {
            "progress": min(1.0, max(0.0, float(fraction))),
            "lease_until": utcnow() + timedelta(seconds=lease),
        }
        if step is not None:
            values["step"] = _one_line(step)[:500]
        self._touch(job_id, owner, values)

    def _held(self, s: Session, job_id: str, owner: str) -> JobRow:
        row = s.scalars(
            select(JobRow)
            .where(JobRow.id == job_id, JobRow.status == "running", JobRow.owner == owner)
            .with_for_update()
        ).first()
        if row is None:
            raise JobLost(f"job {job_id} is no longer held by {owner}")
        return row

    def succeed(
        self, job_id: str, owner: str, result: dict[str, Any], artifacts: Sequence[str] = ()
    ) -> Job:
        """Finish ``owner``'s job as ``succeeded`` with ``result`` (JSON) and ``artifacts``
        (paths relative to the storage root); queue the dependents now ready.

        Raises:
            JobLost: ``owner`` no longer holds the job (nothing is written).
        """
        with self.catalog.session() as s:
            row = self._held(s, job_id, owner)
            now = utcnow()
            row.status = "succeeded"  # finished before it noticed a cancel: done all the same
            row.cancel_requested = False
            row.result = result
            row.artifacts = list(artifacts)
            row.progress = 1.0
            row.lease_until = None
            row.error_class = row.error_message = row.error_hint = None
            row.finished_at = now
            row.updated_at = now
            s.flush()
            self._settle(s, self._dependents(s, job_id))
        self._chain_changed(job_id)
        return self.get(job_id)

    def fail(self, job_id: str, owner: str, error: JobError, *, retry: bool = True) -> Job:
        """Record ``error`` on ``owner``'s job: back to ``queued`` when ``retry`` and
        ``attempts < max_attempts``, else ``failed`` (its waiting dependents fail too).

        Raises:
            JobLost: ``owner`` no longer holds the job.
        """
        with self.catalog.session() as s:
            row = self._held(s, job_id, owner)
            self._record_error(row, error)
            if retry and row.attempts < row.max_attempts:
                row.status = "queued"
                row.owner = None
                row.lease_until = None
                s.flush()
                final = False
            else:
                self._finish(s, row, "failed")
                final = True
        if final:
            self._chain_changed(job_id)
        return self.get(job_id)

    def finish_canceled(self, job_id: str, owner: str) -> Job:
        """Mark ``owner``'s running job ``canceled`` (its runner stopped on
        :class:`JobCanceled`); its waiting dependents fail.

        Raises:
            JobLost: ``owner`` no longer holds the job.
        """
        with self.catalog.session() as s:
            row = self._held(s, job_id, owner)
            self._record_error(row, JobError(error_class=CANCELED, message="canceled"))
            self._finish(s, row, "canceled")
        self._chain_changed(job_id)
        return self.get(job_id)

    def release(self, job_id: str, owner: str) -> Job:
        """Give ``owner``'s running job back to the queue without counting the attempt
        (a worker shutting down). Raises :class:`JobLost` if it is not held."""
        with self.catalog.session() as s:
            row = self._held(s, job_id, owner)
            row.status = "queued"
            row.owner = None
            row.lease_until = None
            row.attempts = max(0, row.attempts - 1)
            row.updated_at = utcnow()
        return self.get(job_id)

    @staticmethod
    def _record_error(row: JobRow, error: JobError) -> None:
        row.error_class = error.error_class[:64]
        row.error_message = _one_line(error.message)
        row.error_hint = _one_line(error.hint) if error.hint else None
        row.updated_at = utcnow()

    def _finish(self, s: Session, row: JobRow, status: str) -> None:
        now = utcnow()
        row.status = status
        row.lease_until = None
        row.cancel_requested = False
        row.finished_at = now
        row.updated_at = now
        s.flush()
        self._settle(s, self._dependents(s, row.id))

    # ------------------------------------------------------------------ control

    def cancel(self, job_id: str) -> Job:
        """Cancel a job: ``waiting``/``queued`` ones at once (their dependents fail);
        a ``running`` one is flagged and stops at its next progress report or heartbeat.

        Raises:
            NotFoundError: no such job.
            ConflictError: the job already finished.
        """
        with self.catalog.session() as s:
            row = s.scalars(
                select(JobRow).where(JobRow.id == str(job_id)).with_for_update()
            ).first()
            if row is None:
                raise NotFoundError(f"no job {job_id}", "see vidpipe jobs list")
            if row.status in JOB_FINAL:
                raise ConflictError(
                    f"job {job_id} is already {row.status}",
                    "only waiting, queued or running jobs can be canceled",
                )
            if row.status == "running":
                row.cancel_requested = True
                row.updated_at = utcnow()
            else:
                self._record_error(row, JobError(error_class=CANCELED, message="canceled"))
                self._finish(s, row, "canceled")
        self._chain_changed(job_id)
        return self.get(job_id)

    def retry(self, job_id: str) -> Job:
        """Queue a ``failed`` or ``canceled`` job again with fresh attempts (``waiting``
        first if a dependency has not succeeded); dependents that failed because of it
        wait again.

        Raises:
            NotFoundError: no such job.
            ConflictError: the job is not failed or canceled.
        """
        with self.catalog.session() as s:
            row = s.scalars(
                select(JobRow).where(JobRow.id == str(job_id)).with_for_update()
            ).first()
            if row is None:
                raise NotFoundError(f"no job {job_id}", "see vidpipe jobs list")
            if row.status not in ("failed", "canceled"):
                raise ConflictError(
                    f"job {job_id} is {row.status}", "only failed or canceled jobs can be retried"
                )
            reset = [row]
            todo = [row.id]
            while todo:  # dependents failed by this one wait again
                ids = self._dependents(s, todo.pop(0))
                for dep in s.scalars(select(JobRow).where(JobRow.id.in_(ids))) if ids else []:
                    if dep.status == "failed" and dep.error_class == DEPENDENCY_FAILED:
                        reset.append(dep)
                        todo.append(dep.id)
            now = utcnow()
            for r in reset:
                r.status = "waiting"
                r.attempts = 0
                r.error_class = r.error_message = r.error_hint = None
                r.result = None
                r.artifacts = None
                r.progress = 0.0
                r.step = None
                r.owner = None
                r.lease_until = None
                r.cancel_requested = False
                r.started_at = r.finished_at = None
                r.updated_at = now
            s.flush()
            self._settle(s, [row.id])
        self._chain_changed(job_id)
        return self.get(job_id)

    def reap(self, now: datetime | None = None, *, owners_gone: bool = False) -> list[Job]:
        """Running jobs whose lease expired before ``now`` (default: now, UTC): back to
        ``queued`` while ``attempts < max_attempts``, else ``failed`` (``LeaseExpired``).
        With ``owners_gone``, also the running jobs of a process on this host that no
        longer exists (a killed ``vidpipe run`` or worker: its jobs need not wait for
        their leases). Safe with several reapers (a compare-and-swap on owner and
        lease). Returns the jobs changed, as they are now."""
        now = now or utcnow()
        changed: list[str] = []
        with self.catalog.session() as s:
            expired = JobRow.lease_until < now
            if owners_gone:
                mine = f"{socket.gethostname()}:%"
                dead = [
                    o
                    for o in s.scalars(
                        select(JobRow.owner)
                        .where(JobRow.status == "running", JobRow.owner.like(mine))
                        .distinct()
                    )
                    if owner_gone(o)
                ]
                if dead:
                    expired = expired | JobRow.owner.in_(dead)
            rows = list(
                s.scalars(
                    select(JobRow)
                    .where(JobRow.status == "running", expired)
                    .with_for_update(skip_locked=True)
                )
            )
            for row in rows:
                error = JobError(
                    error_class=LEASE_EXPIRED,
                    message=f"the lease of {row.owner} expired",
                    hint="the worker stopped or lost the catalog; the job is run again",
                )
                self._record_error(row, error)
                if row.attempts < row.max_attempts:
                    row.status = "queued"
                    row.owner = None
                    row.lease_until = None
                    s.flush()
                else:
                    self._finish(s, row, "failed")
                changed.append(row.id)
        jobs = self.get_many(changed)
        for job in jobs:
            if job.status == "failed":
                self._chain_changed(job.id)
        return jobs

    # ------------------------------------------------------------------ workers

    def worker_seen(self, owner: str, *, concurrency: int, running: int) -> None:
        """Record that worker ``owner`` (``host:pid:token``) is alive now, running
        ``running`` of ``concurrency`` jobs (``GET /ready`` counts recent ones)."""
        host, _, rest = owner.partition(":")
        pid = int(rest.split(":", 1)[0]) if rest.split(":", 1)[0].isdigit() else 0
        now = utcnow()
        with self.catalog.session() as s:
            stmt = (
                update(WorkerRow)
                .where(WorkerRow.id == owner)
                .values(seen_at=now, running=int(running), concurrency=int(concurrency))
            )
            if s.execute(stmt).rowcount == 0:
                s.add(
                    WorkerRow(
                        id=owner,
                        host=host,
                        pid=pid,
                        concurrency=int(concurrency),
                        running=int(running),
                        started_at=now,
                        seen_at=now,
                    )
                )

    def forget_worker(self, owner: str) -> None:
        """Remove worker ``owner``'s record (it stopped)."""
        with self.catalog.session() as s:
            s.execute(delete(WorkerRow).where(WorkerRow.id == owner))

    def workers(self, within: float = 30.0) -> list[WorkerSeen]:
        """Workers seen in the last ``within`` seconds, most recent first."""
        since = utcnow() - timedelta(seconds=float(within))
        with self.catalog.session(write=False) as s:
            rows = list(
                s.scalars(
                    select(WorkerRow)
                    .where(WorkerRow.seen_at >= since)
                    .order_by(WorkerRow.seen_at.desc())
                )
            )
            return [
                WorkerSeen(
                    id=r.id,
                    host=r.host,
                    pid=r.pid,
                    concurrency=r.concurrency,
                    running=r.running,
                    started_at=_aware(r.started_at),
                    seen_at=_aware(r.seen_at),
                )
                for r in rows
            ]

    # ------------------------------------------------------------------ callbacks

    def set_callback(self, job_id: str, url: str) -> None:
        """POST job ``job_id`` to ``url`` when it ends (delivered by
        :meth:`due_callbacks`' caller; an earlier URL of the job is kept)."""
        with self.catalog.session() as s:
            if s.get(JobCallbackRow, str(job_id)) is None:
                s.add(JobCallbackRow(job_id=str(job_id), url=url, attempts=0))

    def due_callbacks(self, max_attempts: int, limit: int = 100) -> list[tuple[Job, str, int]]:
        """Callbacks to POST now: ``(job, url, attempts so far)`` of finished jobs whose
        callback was neither delivered nor tried ``max_attempts`` times and whose
        back-off is over, oldest finished first."""
        now = utcnow()
        with self.catalog.session(write=False) as s:
            q = (
                select(JobCallbackRow, JobRow)
                .join(JobRow, JobRow.id == JobCallbackRow.job_id)
                .where(
                    JobRow.status.in_(JOB_FINAL),
                    JobCallbackRow.delivered_at.is_(None),
                    JobCallbackRow.attempts < int(max_attempts),
                    or_(JobCallbackRow.next_at.is_(None), JobCallbackRow.next_at <= now),
                )
                .order_by(JobRow.finished_at, JobRow.id)
                .limit(int(limit))
            )
            pairs = list(s.execute(q).all())
            jobs = self._jobs(s, [job for _, job in pairs])
        return [(job, cb.url, cb.attempts) for job, (cb, _) in zip(jobs, pairs, strict=True)]

    def callback_tried(self, job_id: str, error: str | None, *, retry_in: float = 0.0) -> None:
        """Record one delivery attempt of job ``job_id``'s callback: delivered when
        ``error`` is ``None``, else the next attempt no sooner than ``retry_in`` s."""
        now = utcnow()
        with self.catalog.session() as s:
            row = s.get(JobCallbackRow, str(job_id))
            if row is None:
                return
            row.attempts += 1
            if error is None:
                row.delivered_at = now
                row.last_error = None
            else:
                row.last_error = _one_line(error)[:1000]
                row.next_at = now + timedelta(seconds=float(retry_in))

    def callback_state(self, job_id: str) -> dict[str, Any] | None:
        """``{"url", "attempts", "delivered_at", "last_error"}`` of job ``job_id``'s
        callback, or ``None`` when it has none."""
        with self.catalog.session(write=False) as s:
            row = s.get(JobCallbackRow, str(job_id))
            if row is None:
                return None
            return {
                "url": row.url,
                "attempts": row.attempts,
                "delivered_at": _aware(row.delivered_at),
                "last_error": row.last_error,
            }
