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
import importlib
import threading
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from vidpipe.errors import InputError, MediaError, ModelError, UsageError, VidpipeError
from vidpipe.library.catalog import LEASE_SECONDS, owner_id
from vidpipe.pipeline.cache import StageCache, run_cached
from vidpipe.pipeline.chains import skip_reason
from vidpipe.pipeline.jobs import JobCanceled, JobLost, JobStore
from vidpipe.pipeline.registry import get_stage, run_stage
from vidpipe.pipeline.stages import StageContext, StageInput, StageInputs, StageResult, StageSkipped
from vidpipe.types import Job, JobError

__all__ = ["PROGRESS_INTERVAL", "run_job", "run_next"]

#: ``observer(job_id, fraction 0..1, step)``: a job's progress as its stage reports it
ProgressObserver = Callable[[str, float, "str | None"], None]

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

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        owner: str,
        lease: float,
        beat: _Heartbeat,
        observer: ProgressObserver | None = None,
    ):
        self.store, self.job_id, self.owner, self.lease, self.beat = (
            store,
            job_id,
            owner,
            lease,
            beat,
        )
        self.observer = observer
        self._last = 0.0
        self._step: str | None = None

    def __call__(self, fraction: float, step: str | None) -> None:
        if self.beat.lost:
            raise JobLost(f"job {self.job_id} was taken over")
        if self.beat.canceled:
            raise JobCanceled(f"job {self.job_id} was canceled")
        if self.observer is not None:  # the same report, unthrottled, to this process
            self.observer(self.job_id, fraction, step)
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


def _execute(
    store: JobStore,
    job: Job,
    owner: str,
    lease: float,
    threads: int | None,
    *,
    local: bool = False,
    transcripts: dict[str, Any] | None = None,
    observer: ProgressObserver | None = None,
) -> Job:
    try:
        stage = get_stage(job.kind)
        options = stage.parse_options(job.params)
        inputs = StageInputs(StageInput.model_validate(job.input), store.dependency_outputs(job))
    except VidpipeError as exc:  # stored before a change of the stage's options
        return _fail(store, job.id, owner, exc, retry=False)
    work = store.job_dir(job.id)
    if local:  # vidpipe run: no job files; an item's own files go to its folder
        mid = inputs.media_id()
        work = store.root / "understanding" / str(mid) if mid is not None else work
    beat = _Heartbeat(store, job.id, owner, lease)
    ctx = StageContext(
        work_dir=work,
        catalog=store.catalog,
        job_id=job.id,
        threads=threads,
        on_progress=_Reporter(store, job.id, owner, lease, beat, observer),
        write_artifacts=not local,
        storage_root=store.root,
        transcripts=transcripts,
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


# --------------------------------------------------------------------------- packing


def _file_of(store: JobStore, job: Job) -> Path | None:
    """The media file a ``transcribe`` job works on (resolved), or ``None`` when it
    cannot be told before running it (its stage then says what is wrong)."""
    try:
        inputs = StageInputs(StageInput.model_validate(job.input), store.dependency_outputs(job))
        if not inputs.given.path and inputs.given.media_id is None and inputs.audio() is not None:
            return Path(inputs.audio()).resolve()
        path, _mid = inputs.source(store.catalog)
        return Path(path).resolve()
    except Exception:
        return None


_SHORT: dict[tuple[str, int, int], bool] = {}


def _is_short(path: Path) -> bool:
    """Whether ``path`` is at most :data:`~vidpipe.speech.transcribe.HOLD_SECONDS`
    long by probe (remembered per path, size and modification time)."""
    # imported here for start-up time: PyAV, NumPy
    from vidpipe.media.probe import probe
    from vidpipe.speech.transcribe import HOLD_SECONDS

    try:
        st = path.stat()
    except OSError:
        return False
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHORT:
        try:
            seconds = probe(path).duration
        except VidpipeError:
            seconds = None
        _SHORT[key] = seconds is not None and 0 < seconds <= HOLD_SECONDS
    return _SHORT[key]


def _claim_pack(
    store: JobStore, job: Job, owner: str, lease: float, within: Collection[str] | None = None
) -> tuple[list[Path], list[Job]]:
    """For a claimed ``transcribe`` job: the files to transcribe together with its own
    and the other queued jobs claimed for them (same options hash).

    With a packing group (``input.pack``, made by :func:`vidpipe.pipeline.plan.
    plan_chains`), the group's files, all of them (those already transcribed too, so
    every file gets the transcript an uninterrupted run gives it), and the group's
    queued jobs; but when another worker is running jobs of the group (two workers
    took its jobs at once), only the files of the jobs claimed here. Without one, the
    job's file when it is short and up to :data:`~vidpipe.speech.transcribe.PACK_GROUP`
    - 1 other queued short files' jobs, oldest first. Only jobs of ``within`` when
    given. ``([], [])`` when there is nothing to pack.
    """
    # imported here for start-up time: NumPy, ASR engines
    asr = importlib.import_module(
        "vidpipe.speech.transcribe"
    )  # the module, not vidpipe.speech.transcribe()

    mine = _file_of(store, job)
    if mine is None:
        return [], []
    group = [Path(p) for p in (job.input or {}).get("pack") or []]
    if group:
        wanted = {str(p) for p in group}
        if str(mine) not in wanted:
            return [], []
        others = [
            j
            for j in store.queued_like(job.kind, job.params_hash)
            if j.id != job.id
            and (within is None or j.id in within)
            and str(_file_of(store, j)) in wanted
        ]
        won = store.claim_many([j.id for j in others], owner, lease=lease)
        if any(
            j.owner != owner and str(_file_of(store, j)) in wanted
            for j in store.queued_like(job.kind, job.params_hash, status="running")
        ):
            # two workers took jobs of this group at once: the other one transcribes the
            # group for its jobs, this one only the files it claimed (not the whole group
            # a second time for one job)
            ids = {j.id for j in won}
            paths = [mine, *(_file_of(store, j) for j in others if j.id in ids)]
            paths = [p for p in paths if p is not None]
            return (paths, won) if len(paths) > 1 else ([], won)
        return group, won
    if not _is_short(mine):
        return [], []
    picked: list[Job] = []
    paths = [mine]
    for other in store.queued_like(job.kind, job.params_hash):
        if len(picked) >= asr.PACK_GROUP - 1:
            break
        if other.id == job.id or (other.input or {}).get("pack"):
            continue
        if within is not None and other.id not in within:
            continue
        path = _file_of(store, other)
        if path is not None and path not in paths and _is_short(path):
            picked.append(other)
            paths.append(path)
    won = store.claim_many([j.id for j in picked], owner, lease=lease)
    ids = {j.id for j in won}
    paths = [mine, *(_file_of(store, j) for j in picked if j.id in ids)]
    if len(paths) < 2:
        return [], won
    return [p for p in paths if p is not None], won


def _run_packed(
    store: JobStore,
    job: Job,
    owner: str,
    lease: float,
    threads: int | None,
    local: bool,
    within: Collection[str] | None = None,
    on_finish: Callable[[Job], None] | None = None,
    observer: ProgressObserver | None = None,
) -> Job:
    """Run a claimed ``transcribe`` job with its packing group (:func:`_claim_pack`):
    the group's files transcribed in one call while every claimed job's lease is
    renewed, then each job recorded under its own claim. A file that failed in the
    group is transcribed by its own job, which says why."""
    paths, others = _claim_pack(store, job, owner, lease, within)
    made: dict[str, Any] = {}
    if len(paths) > 1:
        stage = get_stage(job.kind)
        beats = [_Heartbeat(store, j.id, owner, lease) for j in (job, *others)]
        step = f"transcribing {len(paths)} files together"
        try:
            with contextlib.ExitStack() as stack:
                for b in beats:
                    stack.enter_context(b)
                for j in (job, *others):
                    with contextlib.suppress(JobCanceled, JobLost):
                        store.progress(j.id, owner, 0.0, step, lease=lease)
                made = stage.ahead(paths, stage.parse_options(job.params), threads)
        except VidpipeError:  # each job's own run says what is wrong
            made = {}
        except BaseException:
            for j in (job, *others):
                with contextlib.suppress(Exception):
                    store.release(j.id, owner)
            raise
    result = _execute(
        store, job, owner, lease, threads, local=local, transcripts=made, observer=observer
    )
    for other in others:
        try:
            ended = _execute(
                store, other, owner, lease, threads, local=local, transcripts=made,
                observer=observer,
            )  # fmt: skip
            if on_finish is not None:
                on_finish(ended)
        except BaseException:
            for j in others[others.index(other) + 1 :]:
                with contextlib.suppress(Exception):
                    store.release(j.id, owner)
            raise
    return result


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
    pack: bool = True,
    local: bool = False,
    pack_within: Collection[str] | None = None,
    on_packed: Callable[[Job], None] | None = None,
    observer: ProgressObserver | None = None,
) -> Job:
    """Claim job ``job_id`` and run it to its end.

    A ``transcribe`` job packs (``pack``): the worker also claims the other queued
    short-file ``transcribe`` jobs with the same options (its packing group when it has
    one, else up to :data:`~vidpipe.speech.transcribe.PACK_GROUP` files of at most
    :data:`~vidpipe.speech.transcribe.HOLD_SECONDS`), transcribes their files in one
    call (short clips share Whisper windows) and records each job's result under its
    own claim and lease.

    Args:
        store: the jobs' store (catalog and storage root).
        job_id: the job to run.
        owner: the worker's id (default: a new :func:`~vidpipe.library.catalog.owner_id`).
        lease: seconds the lease lasts without renewal (renewed every quarter of it).
        threads: CPU threads the stage may use (default: every core).
        pack: pack a ``transcribe`` job with others (see above).
        local: ``vidpipe run``'s own worker: no job files (the results are the catalog
            rows), an item's files (describe's scenes) under
            ``<storage root>/understanding/<item>/``.
        pack_within: pack only with jobs of these ids (``vidpipe run``: its own).
        on_packed: called with each other job run in the pack, as it ends (a queue
            worker counts it and enqueues what follows).
        observer: ``observer(job_id, fraction, step)`` at every progress report of the
            stage (unthrottled; the job row gets them every
            :data:`PROGRESS_INTERVAL` s): ``vidpipe run``'s display.

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
    if pack and job.kind == "transcribe":
        return _run_packed(
            store, job, owner, lease, threads, local, pack_within, on_packed, observer
        )
    return _execute(store, job, owner, lease, threads, local=local, observer=observer)


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
    if job.kind == "transcribe":
        return _run_packed(store, job, owner, lease, threads, False)
    return _execute(store, job, owner, lease, threads)
