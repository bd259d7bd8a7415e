"""Run one job: claim it, feed it its dependencies' outputs, run its stage, record the end.

:func:`run_job` is what a queue worker calls for "run job X" (and what tests call
directly). The job's files go to ``<storage root>/jobs/<id>/`` under fixed names,
each written to a temporary name and renamed by the building blocks, so a rerun after
a kill gives the same files; the catalog stores them relative to the storage root.

While the stage runs, a heartbeat thread renews the lease every quarter of it and
progress reports are written at most every :data:`PROGRESS_INTERVAL` seconds (and at
each new step). A job canceled meanwhile stops at the next report or heartbeat and
ends ``canceled``; a job whose lease was taken over stops and writes nothing.

The stage runs through :func:`~vidpipe.pipeline.registry.run_stage`, as in ``vidpipe
run``. A job with nothing to do succeeds with ``{"skipped": reason}`` (and the media
item id) without running its stage: a stage that needs an audio track on a file
without one (``no audio track``), a download whose content an earlier input line
holds (``duplicate content of ...``), and the jobs after those in a chain
(:func:`~vidpipe.pipeline.chains.skip_reason`).
A cacheable stage (:attr:`~vidpipe.pipeline.stages.Stage.cacheable`: speak, images,
render) takes its output from the stage cache when the same stage ran with the
same options on the same inputs before, its files copied into the job folder
(:func:`~vidpipe.pipeline.cache.run_cached`).

Errors: vidpipe's one-line errors are stored with their class, message and hint.
Bad input, media, usage and model errors are not retried (they would fail the same
way), nor errors that say so (``retryable = False``: a download already retried);
remote, output and unexpected errors are, up to the job's ``max_attempts``.
Ctrl-C or a shutdown (``BaseException``) gives the job back to the queue.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence

from vidpipe.errors import InputError, MediaError, ModelError, UsageError, VidpipeError
from vidpipe.library.catalog import LEASE_SECONDS, owner_id
from vidpipe.pipeline.cache import StageCache, run_cached
from vidpipe.pipeline.chains import skip_reason
from vidpipe.pipeline.jobs import JobCanceled, JobLost, JobStore
from vidpipe.pipeline.registry import get_stage, run_stage
from vidpipe.pipeline.stages import StageContext, StageInput, StageInputs, StageResult, StageSkipped
from vidpipe.types import Job, JobError

__all__ = ["PROGRESS_INTERVAL", "run_job", "run_next"]

#: seconds between two progress writes of one job (a new step is written at once)
PROGRESS_INTERVAL = 0.5
#: errors that fail the same way every time: never retried
PERMANENT_ERRORS: tuple[type[VidpipeError], ...] = (UsageError, InputError, MediaError, ModelError)


class _Heartbeat:
    """Renew a job's lease every ``lease / 4`` s in a daemon thread; remember whether the
    job was canceled or lost, for the next progress report to act on."""

    def __init__(self, store: JobStore, job_id: str, owner: str, lease: float) -> None:
        self.store, self.job_id, self.owner, self.lease = store, job_id, owner, lease
        self.canceled = False
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="vidpipe-job-lease")

    def _beat(self) -> None:
        while not self._stop.wait(self.lease / 4):
            try:
                self.store.heartbeat(self.job_id, self.owner, lease=self.lease)
            except JobCanceled:
                self.canceled = True
            except JobLost:
                self.lost = True
                return
            except Exception:  # a missed beat (catalog busy): the next one retries
                continue

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class _Reporter:
    """``ctx.progress`` of a job: throttled writes; raises :class:`JobCanceled` or
    :class:`JobLost` in the stage's thread to stop it."""

    def __init__(self, store: JobStore, job_id: str, owner: str, lease: float, beat: _Heartbeat):
        self.store, self.job_id, self.owner, self.lease, self.beat = (
            store,
            job_id,
            owner,
            lease,
            beat,
        )
        self._last = 0.0
        self._step: str | None = None

    def __call__(self, fraction: float, step: str | None) -> None:
        if self.beat.lost:
            raise JobLost(f"job {self.job_id} was taken over")
        if self.beat.canceled:
            raise JobCanceled(f"job {self.job_id} was canceled")
        now = time.monotonic()
        new_step = step is not None and step != self._step
        if not new_step and now - self._last < PROGRESS_INTERVAL and fraction < 1.0:
            return
        self._last = now
        if step is not None:
            self._step = step
        self.store.progress(self.job_id, self.owner, fraction, step, lease=self.lease)


def _error(exc: BaseException) -> JobError:
    if isinstance(exc, VidpipeError):
        return JobError(
            error_class=type(exc).__name__, message=" ".join(exc.message.split()), hint=exc.hint
        )
    text = " ".join(str(exc).split()) or type(exc).__name__
    return JobError(error_class=type(exc).__name__, message=f"{type(exc).__name__}: {text}")


def _execute(store: JobStore, job: Job, owner: str, lease: float, threads: int | None) -> Job:
    try:
        stage = get_stage(job.kind)
        options = stage.parse_options(job.params)
        inputs = StageInputs(StageInput.model_validate(job.input), store.dependency_outputs(job))
    except VidpipeError as exc:  # stored before a change of the stage's options
        return _fail(store, job.id, owner, exc, retry=False)
    work = store.job_dir(job.id)
    beat = _Heartbeat(store, job.id, owner, lease)
    ctx = StageContext(
        work_dir=work,
        catalog=store.catalog,
        job_id=job.id,
        threads=threads,
        on_progress=_Reporter(store, job.id, owner, lease, beat),
        storage_root=store.root,
    )
    try:
        with beat:  # the claim wrote the first step, "starting <kind>"
            why = skip_reason(store, job, stage.needs_audio)
            if why is not None:
                raise StageSkipped(why, inputs.media_id())
            if stage.cacheable:  # its whole effect is its files: maybe reused
                out, _reused = run_cached(stage, ctx, inputs, options, StageCache(store.catalog))
            else:
                out = run_stage(stage, ctx, inputs, options)
    except StageSkipped as skip:
        mid = skip.media_id if skip.media_id is not None else inputs.media_id()
        result = {"skipped": skip.reason} | ({"media_id": mid} if mid is not None else {})
        out = StageResult(result=result)
    except JobCanceled:
        return store.finish_canceled(job.id, owner)
    except JobLost:
        return store.get(job.id)
    except VidpipeError as exc:
        retry = not isinstance(exc, PERMANENT_ERRORS) and getattr(exc, "retryable", True)
        return _fail(store, job.id, owner, exc, retry=retry)
    except Exception as exc:
        return _fail(store, job.id, owner, exc, retry=True)
    except BaseException:  # Ctrl-C, shutdown: the job goes back to the queue
        with contextlib.suppress(Exception):
            store.release(job.id, owner)
        raise
    artifacts = [store.relative(work / a) for a in out.artifacts]
    try:
        return store.succeed(job.id, owner, out.result, artifacts)
    except JobLost:
        return store.get(job.id)


def _fail(store: JobStore, job_id: str, owner: str, exc: BaseException, *, retry: bool) -> Job:
    try:
        return store.fail(job_id, owner, _error(exc), retry=retry)
    except JobLost:
        return store.get(job_id)


def run_job(
    store: JobStore,
    job_id: str,
    owner: str | None = None,
    *,
    lease: float = LEASE_SECONDS,
    threads: int | None = None,
) -> Job:
    """Claim job ``job_id`` and run it to its end.

    Args:
        store: the jobs' store (catalog and storage root).
        job_id: the job to run.
        owner: the worker's id (default: a new :func:`~vidpipe.library.catalog.owner_id`).
        lease: seconds the lease lasts without renewal (renewed every quarter of it).
        threads: CPU threads the stage may use (default: every core).

    Returns:
        The job as it is now: ``succeeded``, ``failed``, ``canceled``, ``queued`` again
        (an error worth retrying, attempts left), or unchanged when it was not queued
        (another worker has it, it waits for dependencies, or it is finished).

    Raises:
        InputError: no such job.
    """
    owner = owner or owner_id()
    job = store.claim(job_id, owner, lease=lease)
    if job is None:
        return store.get(job_id)
    return _execute(store, job, owner, lease, threads)


def run_next(
    store: JobStore,
    owner: str | None = None,
    *,
    kinds: Sequence[str] | None = None,
    lease: float = LEASE_SECONDS,
    threads: int | None = None,
) -> Job | None:
    """Claim the oldest queued job (of ``kinds``) and run it; ``None`` when none is
    queued. See :func:`run_job`."""
    owner = owner or owner_id()
    job = store.claim_next(owner, kinds=kinds, lease=lease)
    if job is None:
        return None
    return _execute(store, job, owner, lease, threads)
