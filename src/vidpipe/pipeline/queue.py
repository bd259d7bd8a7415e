"""The queue (Huey): messages that say "run job X", workers that consume them, the reaper.

The jobs table (:class:`~vidpipe.pipeline.jobs.JobStore`) is the truth; a message only
says which job to look at. Huey delivers a message at most once, so nothing is lost
when one is: every worker runs a :class:`Reaper` that re-queues jobs whose lease
expired (a killed worker), queues waiting jobs whose dependencies are done, and
re-enqueues queued jobs that have no message (lost when Redis restarted). A duplicate
message finds its job already claimed (or finished) and does nothing.

Where the messages live (:func:`get_queue`):

- one machine, no server: ``SqliteHuey`` in ``VIDPIPE_HOME/queue.db`` (the default);
- many machines: ``VIDPIPE_QUEUE_URL=redis://host:6379/0`` (``PriorityRedisHuey``: a
  sorted set, Redis 5.0 or newer), with the
  catalog on PostgreSQL (``VIDPIPE_DATABASE_URL``) and a shared storage root
  (``VIDPIPE_STORAGE``) that every worker sees at the same path;
- ``sqlite:///path/queue.db`` names another SQLite queue file.

Two queues live there: ``vidpipe`` for CPU stages and ``vidpipe-io`` for I/O stages
(``download``: :attr:`Stage.resource <vidpipe.pipeline.stages.Stage.resource>`), each
with its own pool of threads in a :class:`Worker`, so downloads never wait behind
transcriptions and CPU stages stay within the cores (``--concurrency`` jobs of
``--threads`` threads each), whatever the I/O pool (``--io-concurrency``) does.

Example::

    store = JobStore()
    job = store.create("probe", {}, input={"path": "talk.mp4"})
    enqueue(job)                 # a message for the workers
    Worker(store).run()          # in a worker process: consume until SIGTERM/SIGINT
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from vidpipe.config import get_settings
from vidpipe.errors import RemoteError, UsageError
from vidpipe.files import ensure_dir
from vidpipe.library.catalog import LEASE_SECONDS, owner_id
from vidpipe.library.models import utcnow
from vidpipe.library.queue_flags import PauseFlag
from vidpipe.library.urls import redact_url
from vidpipe.pipeline.chains import settle_source
from vidpipe.pipeline.execute import run_job
from vidpipe.pipeline.jobs import JobLost, JobStore
from vidpipe.pipeline.registry import STAGES
from vidpipe.types import Job

__all__ = [
    "GRACE_SECONDS",
    "QUEUE_NAME",
    "REAP_SECONDS",
    "Reaper",
    "Worker",
    "check_queue",
    "enqueue",
    "get_queue",
    "messages",
    "queue_url",
    "run_job_task",
]

#: name of the Huey queue of CPU stages (the Redis key prefix, the SQLite queue name)
QUEUE_NAME = "vidpipe"
#: name of the Huey queue of I/O stages (downloads)
IO_QUEUE_NAME = "vidpipe-io"
#: the pools of a worker, by :attr:`~vidpipe.pipeline.stages.Stage.resource`
POOLS = {"cpu": QUEUE_NAME, "io": IO_QUEUE_NAME}
#: I/O jobs (downloads) a worker runs at once by default
IO_CONCURRENCY = 4
#: name of the one task: ``run_job(job_id)``
TASK_NAME = "vidpipe.run_job"
#: seconds between two passes of a worker's reaper
REAP_SECONDS = 10.0
#: seconds a queued job may go without a message before the reaper enqueues it again
GRACE_SECONDS = 30.0
#: seconds a worker waits on SIGTERM for its running jobs before it releases them
STOP_SECONDS = 10.0
#: seconds between two "still alive" records of a worker in the catalog (``workers``)
SEEN_SECONDS = 5.0
#: priority of the messages the reaper sends (0 for the others; higher goes first): a job
#: taken back from a killed worker, or whose message was lost, has waited longest, so it
#: is run before the backlog rather than after it (the recovery time stays near the lease)
RECOVERY_PRIORITY = 10

_log = logging.getLogger("vidpipe.queue")
_lock = threading.Lock()
_queues: dict[tuple[str, str], Any] = {}  # (queue URL, pool) -> Huey
_tasks: dict[tuple[str, str], Any] = {}  # (queue URL, pool) -> the run_job task wrapper
_worker: Worker | None = None  # the worker of this process, when one runs


def queue_url(url: str | None = None) -> str:
    """The queue's URL: ``url``, else ``VIDPIPE_QUEUE_URL``, else
    ``sqlite:///<VIDPIPE_HOME>/queue.db``.

    Raises:
        UsageError: a scheme other than ``redis``, ``rediss``, ``unix`` or ``sqlite``.
    """
    settings = get_settings()
    url = (url or settings.queue_url or "").strip()
    if not url:
        return f"sqlite:///{Path(settings.home).expanduser() / 'queue.db'}"
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("redis", "rediss", "unix", "sqlite"):
        raise UsageError(
            f"unknown queue URL '{url}'",
            "use redis://host:6379/0 or sqlite:///path/queue.db in VIDPIPE_QUEUE_URL or --queue",
        )
    return url


def _redact(url: str) -> str:
    return redact_url(url)


def _pool(kind: str | None) -> str:
    """``cpu`` or ``io``: the pool of job kind ``kind`` (``cpu`` when unknown)."""
    stage = STAGES.get(kind or "")
    return stage.resource if stage is not None and stage.resource in POOLS else "cpu"


def get_queue(url: str | None = None, pool: str = "cpu"):
    """The Huey instance of ``pool`` (``cpu`` or ``io``, see :data:`POOLS`) for ``url``
    (see :func:`queue_url`), built once per process, with the one task
    ``run_job(job_id)`` registered.

    Returns:
        A ``huey.SqliteHuey`` or ``huey.PriorityRedisHuey`` (results are not stored;
        both take a message's priority, see :data:`RECOVERY_PRIORITY`).

    Raises:
        UsageError: a bad queue URL.
        OutputError: the SQLite queue file cannot be created.
    """
    # imported here for start-up time: Huey
    from huey import PriorityRedisHuey, SqliteHuey

    url = queue_url(url)
    key = (url, pool)
    name = POOLS[pool]
    with _lock:
        huey = _queues.get(key)
        if huey is not None:
            return huey
        if url.lower().startswith("sqlite://"):
            path = Path(url.split("://", 1)[1].removeprefix("/")).expanduser()
            ensure_dir(path.parent)
            huey = SqliteHuey(name, filename=str(path), results=False, timeout=30)
        else:
            huey = PriorityRedisHuey(name, url=url, results=False)
        _tasks[key] = huey.task(name=TASK_NAME)(run_job_task)
        _queues[key] = huey
        return huey


def _remote(url: str, exc: BaseException) -> RemoteError:
    first = " ".join(str(exc).split()) or type(exc).__name__
    hint = (
        "check the queue file's folder (VIDPIPE_HOME) or --queue"
        if url.lower().startswith("sqlite://")
        else "start Redis or check VIDPIPE_QUEUE_URL / --queue"
    )
    return RemoteError(f"queue {_redact(url)} does not answer: {first}", hint)


def check_queue(url: str | None = None) -> None:
    """Make sure the queue answers (Redis ``PING``, SQLite file open).

    Raises:
        UsageError: a bad queue URL.
        RemoteError: the queue server does not answer.
    """
    huey = get_queue(url)
    try:
        if hasattr(huey.storage, "conn") and hasattr(huey.storage.conn, "ping"):
            huey.storage.conn.ping()
        else:
            huey.pending_count()
    except Exception as exc:
        raise _remote(queue_url(url), exc) from None


def enqueue(
    jobs: Job | str | Iterable[Job | str],
    *,
    url: str | None = None,
    delay: float | None = None,
    priority: int | None = None,
) -> int:
    """Send one "run job X" message per job that is ``queued`` (ids are sent as given:
    a job that is not queued when a worker looks is left alone), to the queue of its
    stage's pool (``io`` for downloads, ``cpu`` otherwise and for bare ids).

    Args:
        jobs: jobs or job ids.
        url: the queue (default :func:`queue_url`).
        delay: seconds before the message may be taken (a retry's back-off).
        priority: messages of higher priority are taken first (default 0).

    Returns:
        The number of messages sent.

    Raises:
        RemoteError: the queue server does not answer.
    """
    items = [jobs] if isinstance(jobs, (Job, str)) else list(jobs)
    sends = [
        (j, "cpu") if isinstance(j, str) else (j.id, _pool(j.kind))
        for j in items
        if isinstance(j, str) or j.status == "queued"
    ]
    if not sends:
        return 0
    try:
        for job_id, pool in sends:
            get_queue(url, pool)
            task = _tasks[(queue_url(url), pool)]
            if delay:
                task.schedule(args=(job_id,), delay=delay, priority=priority)
            else:
                task(job_id, priority=priority)
    except Exception as exc:
        raise _remote(queue_url(url), exc) from None
    return len(sends)


def messages(url: str | None = None) -> set[str]:
    """Ids of the jobs that have a message waiting or scheduled in the queue.

    Raises:
        RemoteError: the queue server does not answer.
    """
    tasks = []
    for pool in POOLS:
        huey = get_queue(url, pool)
        try:
            tasks += list(huey.pending()) + list(huey.scheduled())
        except Exception as exc:
            raise _remote(queue_url(url), exc) from None
    return {str(t.args[0]) for t in tasks if t.name == TASK_NAME and t.args}


def run_job_task(job_id: str) -> None:
    """Huey task body: run job ``job_id`` in this process's :class:`Worker`."""
    worker = _worker
    if worker is None:  # a consumer started without Worker (e.g. huey_consumer)
        worker = Worker(JobStore())
    worker.execute(job_id)


class Reaper:
    """Keeps the jobs table and the queue in step; one per worker, every ``every`` s.

    Each pass: :meth:`JobStore.reap` (expired leases back to ``queued``),
    :meth:`JobStore.promote` (waiting jobs whose dependencies are done), and queued jobs
    unchanged for ``grace`` seconds with no message in the queue; all of them are
    enqueued with :data:`RECOVERY_PRIORITY`, ahead of the backlog. Last, the sources
    of ended chains still ``pending`` (:meth:`JobStore.unsettled_sources`: their worker
    died before it updated them) are settled. Several reapers at
    once are safe (a duplicate message does nothing).

    Args:
        store: the jobs' store.
        url: the queue (default :func:`queue_url`).
        every: seconds between passes.
        grace: seconds a queued job may wait for its message before it gets a new one.
    """

    def __init__(
        self,
        store: JobStore,
        url: str | None = None,
        *,
        every: float = REAP_SECONDS,
        grace: float = GRACE_SECONDS,
    ) -> None:
        self.store, self.url, self.every, self.grace = store, url, float(every), float(grace)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> list[str]:
        """One pass; returns the ids of the jobs enqueued.

        Raises:
            RemoteError: the queue server does not answer.
        """
        ready = [j for j in self.store.reap() if j.status == "queued"]
        ready += self.store.promote()
        stale = self.store.queued_before(utcnow() - timedelta(seconds=self.grace))
        if stale:
            live = messages(self.url)
            ready += [j for j in stale if j.id not in live]
        jobs = list({j.id: j for j in ready}.values())
        ids = [j.id for j in jobs]
        enqueue(jobs, url=self.url, priority=RECOVERY_PRIORITY)
        for job_id in self.store.unsettled_sources():  # a worker died before settling
            settle_source(self.store, job_id)
        if ids:
            _log.info("reaper enqueued %d job(s)", len(ids))
        return ids

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.run_once()
            except Exception as exc:  # the catalog or queue is away: next pass retries
                _log.warning("reaper pass failed: %s", " ".join(str(exc).split()))

    def start(self) -> Reaper:
        """Run :meth:`run_once` every ``every`` seconds in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, daemon=True, name="vidpipe-reaper")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


class Worker:
    """A queue worker: two Huey consumers, one per pool, whose thread workers each run
    one job at a time (:func:`~vidpipe.pipeline.execute.run_job`), plus a
    :class:`Reaper`. The CPU pool has ``concurrency`` threads and gives each job
    ``threads`` CPU threads (so ``concurrency x threads`` stays within the cores by
    default); the I/O pool has ``io_concurrency`` threads for downloads, which thus
    never wait behind CPU stages. Models are loaded once per process (the registry
    caches them).

    SIGTERM (and SIGINT) stop taking messages and wait up to ``stop_timeout`` seconds
    for the running jobs; those still running are released (:meth:`JobStore.release`,
    back to ``queued`` without counting the attempt; their stage stops at its next
    progress report and writes nothing) and enqueued again. :meth:`run` then returns;
    :attr:`busy` tells whether a released stage is still in native code (the caller
    may then leave with ``os._exit``: the interpreter cannot wait for it).

    Args:
        store: the jobs' store (catalog and storage root).
        url: the queue (default :func:`queue_url`).
        concurrency: CPU jobs at once (thread workers), >= 1.
        threads: CPU threads per job (default: cores // concurrency, at least 1).
        io_concurrency: I/O jobs (downloads) at once, >= 1.
        lease: seconds a job's lease lasts without renewal.
        reap_every, grace: see :class:`Reaper`.
        stop_timeout: seconds to wait for running jobs on SIGTERM.
        poll: longest pause, in seconds, between two looks at an empty SQLite queue.
    """

    def __init__(
        self,
        store: JobStore,
        url: str | None = None,
        *,
        concurrency: int = 1,
        threads: int | None = None,
        io_concurrency: int = IO_CONCURRENCY,
        lease: float = LEASE_SECONDS,
        reap_every: float = REAP_SECONDS,
        grace: float = GRACE_SECONDS,
        stop_timeout: float = STOP_SECONDS,
        poll: float = 1.0,
    ) -> None:
        if int(concurrency) < 1:
            raise UsageError(f"concurrency {concurrency} is below 1", "use 1 or more")
        if int(io_concurrency) < 1:
            raise UsageError(f"I/O concurrency {io_concurrency} is below 1", "use 1 or more")
        self.store, self.url = store, url
        self.concurrency = int(concurrency)
        self.io_concurrency = int(io_concurrency)
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.concurrency)
        self.lease, self.stop_timeout, self.poll = float(lease), float(stop_timeout), poll
        self.owner = owner_id()
        self.reaper = Reaper(store, url, every=reap_every, grace=grace)
        self._running: set[str] = set()
        self._running_lock = threading.Lock()
        self.done = 0  # jobs this worker ran to their end (any final status)
        self._halt = threading.Event()
        # the queue paused by a user (POST /v1/queue/pause): read at most once a second
        self._paused = PauseFlag(store.catalog)
        self._threads: list[threading.Thread] = []
        self._beat: threading.Thread | None = None

    def execute(self, job_id: str) -> Job:
        """Run job ``job_id`` here; enqueue what follows from its end (a retry, after a
        back-off of 2**attempts s up to 60 s; the dependents it made ready)."""
        with self._running_lock:
            self._running.add(job_id)
        before = utcnow()
        try:
            job = run_job(
                self.store,
                job_id,
                self.owner,
                lease=self.lease,
                threads=self.threads,
                on_packed=lambda other: self._ended(other, before),
            )
        finally:
            with self._running_lock:
                self._running.discard(job_id)
        self._ended(job, before)
        return job

    def _ended(self, job: Job, before) -> None:
        """After a job this worker ran (or a job packed with it): count it, enqueue its
        retry (after a back-off of 2**attempts s up to 60 s) or the dependents it made
        ready."""
        if job.owner is None and job.status == "queued" and job.attempts:
            enqueue(job, url=self.url, delay=min(60.0, 2.0**job.attempts))
        ran_here = (
            job.owner == self.owner and job.started_at is not None and job.started_at >= before
        )  # not a duplicate message that found the job already done
        if job.status in ("succeeded", "failed", "canceled") and ran_here:
            with self._running_lock:
                self.done += 1
            if job.status == "succeeded":
                enqueue(
                    [d for d in self.store.dependents(job.id) if d.status == "queued"], url=self.url
                )

    @property
    def busy(self) -> bool:
        """Whether a job is still executing in one of the worker threads (after
        :meth:`run` returned: a released job whose stage has not noticed yet)."""
        with self._running_lock:
            return bool(self._running)

    def release_running(self) -> list[str]:
        """Give back the jobs this worker is running (a shutdown) and enqueue them again.
        Returns their ids."""
        with self._running_lock:
            ids = list(self._running)
        released: list[str] = []
        for job_id in ids:
            with contextlib.suppress(JobLost):
                self.store.release(job_id, self.owner)
                released.append(job_id)
        with contextlib.suppress(Exception):
            enqueue(self.store.get_many(released), url=self.url)
        return released

    # ------------------------------------------------------------ alive records

    def _seen(self) -> None:
        with self._running_lock:
            running = len(self._running)
        self.store.worker_seen(
            self.owner, concurrency=self.concurrency + self.io_concurrency, running=running
        )

    def _beat_loop(self) -> None:
        while True:
            try:
                self._seen()
            except Exception as exc:  # the catalog is away: the next beat retries
                _log.warning("worker record failed: %s", " ".join(str(exc).split()))
            if self._halt.wait(SEEN_SECONDS):
                return

    def _start_beat(self) -> None:
        self._beat = threading.Thread(target=self._beat_loop, daemon=True, name="vidpipe-seen")
        self._beat.start()

    def _stop_beat(self) -> None:
        self._halt.set()
        if self._beat is not None:
            self._beat.join(5)
            self._beat = None
        with contextlib.suppress(Exception):
            self.store.forget_worker(self.owner)

    # ------------------------------------------------------------ in the background

    def _consume(self, huey) -> None:
        pause = 0.05
        while not self._halt.is_set():
            if self._paused():  # paused: take no message (running jobs go on)
                self._halt.wait(self.poll)
                continue
            try:
                for task in huey.read_schedule():  # retries whose back-off is over
                    huey.enqueue(task)
                task = huey.dequeue()
            except Exception as exc:  # the queue is away: wait and look again
                _log.warning("queue read failed: %s", " ".join(str(exc).split()))
                self._halt.wait(self.poll)
                continue
            if task is None:
                self._halt.wait(pause)
                pause = min(self.poll, pause * 2)
                continue
            pause = 0.05
            try:
                if not huey.ready_to_run(task):  # a retry whose back-off is not over
                    huey.add_schedule(task)
                elif task.name == TASK_NAME and task.args:
                    # run it here, not through the task registry: several workers of one
                    # process (on different queues) each run their own queue's jobs
                    self.execute(str(task.args[0]))
            except Exception as exc:
                _log.error("job message %s failed: %s", task.id, " ".join(str(exc).split()))

    def start(self) -> Worker:
        """Consume messages in daemon threads of this process, ``concurrency`` on the
        CPU queue and ``io_concurrency`` on the I/O queue (no signal handling: for a
        host process such as ``vidpipe serve`` that owns the signals), with the reaper
        and the alive records; :meth:`stop` ends it.

        Raises:
            RemoteError: the queue server does not answer.
        """
        check_queue(self.url)
        self._halt.clear()
        self._start_beat()
        with contextlib.suppress(Exception):
            self.reaper.run_once()
        self.reaper.start()
        self._threads = [
            threading.Thread(
                target=self._consume,
                args=(get_queue(self.url, pool),),
                daemon=True,
                name=f"vidpipe-{pool}-worker-{i}",
            )
            for pool, n in (("cpu", self.concurrency), ("io", self.io_concurrency))
            for i in range(n)
        ]
        for t in self._threads:
            t.start()
        return self

    @property
    def alive(self) -> bool:
        """Whether :meth:`start`'s threads are consuming."""
        return not self._halt.is_set() and any(t.is_alive() for t in self._threads)

    def stop(self, timeout: float | None = None) -> list[str]:
        """Stop :meth:`start`'s threads: take no new message, wait up to ``timeout``
        seconds (default ``stop_timeout``) for the running jobs, then release those
        still running (back to ``queued``, enqueued again). Returns their ids."""
        self._halt.set()
        self.reaper.stop()
        deadline = time.monotonic() + (self.stop_timeout if timeout is None else timeout)
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        released = self.release_running()
        self._threads = [t for t in self._threads if t.is_alive()]
        self._stop_beat()
        return released

    def run(self) -> None:
        """Consume messages until SIGTERM or SIGINT (see the class doc); the reaper makes
        one pass at once, then one every ``reap_every`` seconds.

        Raises:
            RemoteError: the queue server does not answer at start.
        """
        global _worker
        check_queue(self.url)
        _worker = self
        consumers = [
            get_queue(self.url, pool).create_consumer(
                workers=n,
                worker_type="thread",
                periodic=False,
                max_delay=self.poll,
                shutdown_timeout=self.stop_timeout,
                graceful_signal="TERM",
                check_worker_health=True,
            )
            for pool, n in (("cpu", self.concurrency), ("io", self.io_concurrency))
        ]
        main, io = consumers
        with contextlib.suppress(Exception):
            self.reaper.run_once()
        self.reaper.start()
        self._halt.clear()
        self._start_beat()
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def on_signal(signum, frame) -> None:  # both pools stop
            for c in consumers:
                c._handle_signal(signum, frame)

        try:
            for c in consumers:
                c.start()
                # both signals are graceful: finish (or, after stop_timeout, release) jobs
                c._signal_actions[signal.SIGINT] = (False, True)
            for sig in previous:
                signal.signal(sig, on_signal)
            health = None
            # imported here for start-up time: Huey
            from huey.consumer import ConsumerStopped

            while True:
                try:
                    health = main.loop(health)
                except ConsumerStopped:
                    break
            io.stop(graceful=True)  # the CPU pool is stopped: now the I/O pool
        finally:
            self.reaper.stop()
            self._stop_beat()
            if self.release_running():
                # a released stage stops at its next progress report, unless in native code
                for _ in range(20):
                    if not self.busy:
                        break
                    time.sleep(0.1)
            _worker = None
            for sig, handler in previous.items():
                signal.signal(sig, handler)
