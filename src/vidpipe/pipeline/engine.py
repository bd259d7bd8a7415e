"""The in-process worker of ``vidpipe run``: runs a set of jobs to their end.

``vidpipe run`` plans its chains like ``vidpipe submit`` (:func:`vidpipe.pipeline.
plan.plan_chains`) and, instead of sending messages to queue workers, runs them here,
through the same :func:`~vidpipe.pipeline.execute.run_job` a queue worker calls (same
claims, leases, progress, cancel, packing, retries). CPU stages run one at a time in
the calling thread (transcription already uses every core), breadth first (every
item's probe before any transcription: a packing group's jobs are then all ready);
I/O stages (downloads) run in daemon threads beside them, at most ``io_concurrency`` at once and
``per_host`` per host, so downloads overlap the CPU work.

Jobs of the set that another process runs (a second ``vidpipe run`` on the same
catalog, a queue worker) are waited for; a job whose owner died (a process on this
host that no longer exists) or whose lease expired is taken back at once
(:meth:`~vidpipe.pipeline.jobs.JobStore.reap`). Ctrl-C gives the running jobs back to
the queue (a rerun continues them).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from vidpipe.library.catalog import LEASE_SECONDS, owner_id
from vidpipe.library.models import JOB_FINAL
from vidpipe.pipeline.execute import run_job
from vidpipe.pipeline.jobs import JobStore
from vidpipe.pipeline.registry import get_stage, stage_names
from vidpipe.types import Job

__all__ = ["LocalWorker", "WorkerEvents"]


@dataclass
class WorkerEvents:
    """What a :class:`LocalWorker` tells its caller (the progress display).

    Attributes:
        started: ``started(job)`` before this process runs a CPU job.
        finished: ``finished(job, ran)`` once for each job of the set that ends
            (``ran``: this process ran its stage; False for a job another process ran or
            one skipped because a dependency was).
        progress: ``progress(job_id, fraction 0..1, step)`` as a job this process runs
            reports progress (from inside the stage: per decoded window, frame, byte).
    """

    started: Callable[[Job], None] = lambda job: None
    finished: Callable[[Job, bool], None] = lambda job, ran: None
    progress: Callable[[str, float, str | None], None] = lambda job_id, fraction, step: None


@dataclass
class LocalWorker:
    """Run jobs in this process until every one of them is finished.

    Args:
        store: the jobs' store.
        threads: CPU threads a stage may use (``None``: every core).
        io_concurrency: downloads at once.
        per_host: downloads at once from one host.
        lease: seconds a job's lease lasts without renewal.
        poll: seconds between looks at jobs this process does not run.
        local: run's jobs write no job files (:func:`~vidpipe.pipeline.execute.run_job`).
        events: progress hooks.
    """

    store: JobStore
    threads: int | None = None
    io_concurrency: int = 4
    per_host: int = 2
    lease: float = LEASE_SECONDS
    poll: float = 0.25
    local: bool = True
    events: WorkerEvents = field(default_factory=WorkerEvents)
    owner: str = field(default_factory=owner_id)

    def run(self, job_ids: Sequence[str]) -> None:
        """Run the jobs ``job_ids`` (and wait for those others run) to their end.

        Raises:
            KeyboardInterrupt: as given; the jobs this process was running go back to
                the queue first.
        """
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return
        members = frozenset(ids)
        pos = {jid: n for n, jid in enumerate(ids)}
        order = {kind: n for n, kind in enumerate(stage_names())}
        io: dict[str, tuple[threading.Thread, str]] = {}  # job id -> (thread, host)
        wake = threading.Event()
        seen: set[str] = set()
        last_reap = 0.0
        try:
            while True:
                jobs = self.store.get_many(ids)
                for job in jobs:
                    if job.status in JOB_FINAL and job.id not in seen:
                        seen.add(job.id)
                        self.events.finished(job, self._ran(job))
                if len(seen) == len(ids):
                    return
                for jid in [j for j, (t, _) in io.items() if not t.is_alive()]:
                    del io[jid]
                now = time.monotonic()
                if now - last_reap >= 1.0 and any(
                    j.status == "running" and j.owner != self.owner for j in jobs
                ):
                    last_reap = now
                    if self.store.reap(owners_gone=True):
                        continue  # jobs given back: look again, in order
                queued = [j for j in jobs if j.status == "queued"]
                for job in queued:
                    if get_stage(job.kind).resource != "io" or job.id in io:
                        continue
                    host = urlsplit(str((job.input or {}).get("url") or "")).hostname or ""
                    if len(io) >= self.io_concurrency:
                        break
                    if sum(1 for _, h in io.values() if h == host) >= self.per_host:
                        continue
                    thread = threading.Thread(
                        target=self._run_io, args=(job.id, wake), daemon=True, name="vidpipe-io"
                    )
                    io[job.id] = (thread, host)
                    thread.start()
                # breadth first: every item's earlier steps before later ones, so a
                # packing group's transcribe jobs are all queued when the first is claimed
                cpu = min(
                    (j for j in queued if get_stage(j.kind).resource != "io"),
                    key=lambda j: (order.get(j.kind, len(order)), pos[j.id]),
                    default=None,
                )
                if cpu is not None:
                    self.events.started(cpu)
                    run_job(
                        self.store,
                        cpu.id,
                        self.owner,
                        lease=self.lease,
                        threads=self.threads,
                        local=self.local,
                        pack_within=members,
                        observer=self.events.progress,
                    )
                    continue
                wake.wait(self.poll)
                wake.clear()
        except BaseException:
            for jid in io:  # give the downloads back; their threads stop with the process
                with contextlib.suppress(Exception):
                    self.store.release(jid, self.owner)
            raise

    def _ran(self, job: Job) -> bool:
        """Whether this process ran ``job``'s stage: it held the job and the stage ran
        (a job skipped because a dependency was, ``no audio track`` after the audio
        step found none, did not run)."""
        if job.owner != self.owner or job.status == "canceled" or job.started_at is None:
            return False
        why = (job.result or {}).get("skipped")
        if not why:
            return True
        return not any((d.result or {}).get("skipped") for d in self.store.get_many(job.depends_on))

    def _run_io(self, job_id: str, wake: threading.Event) -> None:
        try:
            run_job(
                self.store,
                job_id,
                self.owner,
                lease=self.lease,
                local=self.local,
                observer=self.events.progress,
            )
        except Exception:
            pass
        finally:
            wake.set()
