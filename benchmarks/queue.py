"""Queue benchmark: job overhead, worker scaling and recovery from killed workers (prints only).

Three measurements, in one run, through the real pieces: ``vidpipe worker`` processes
(``python -m vidpipe worker``), :class:`~vidpipe.pipeline.jobs.JobStore`,
:func:`~vidpipe.pipeline.queue.enqueue` and :func:`~vidpipe.pipeline.submit.submit`.

Backends: ``sqlite`` (embedded: ``SqliteHuey`` queue file and SQLite catalog in a
temporary ``VIDPIPE_HOME``) and ``redis`` (``RedisHuey`` on ``--redis``, db 13 by default,
flushed before and after, with a fresh temporary PostgreSQL database made on
``--pg-admin`` and dropped at the end). A backend whose server does not answer is
skipped with the reason.

(a) **Per-job overhead**: ``--probe-jobs`` (200) probe jobs on the 32 LJSpeech clips of
    ``tests/data/en_dev`` (cycled) against calling the probe stage directly
    (``ProbeStage.run`` on the same media items of the same catalog, one after another).
    The queue side: one worker (concurrency 1), warmed up by one job; the jobs are
    created (``JobStore.create``), then enqueued, and the worker runs them. Per job:
    ``create`` = creation time / jobs; ``run`` = from the first message sent to the
    last job's ``finished_at`` / jobs; ``queue`` = create + run; ``overhead`` = queue -
    direct. Target: overhead <= 20 ms/job. Also printed: CPU ms per job (this process
    and the worker, from ``os.times`` and ``/proc/<pid>/stat``; the database servers'
    CPU is in neither side), steadier than wall time on a shared machine.
(b) **Worker scaling**: ``--recordings`` (64) distinct LJSpeech recordings (the 32 clips
    padded with 1, 2... samples of silence, as in (c)) submitted as transcribe jobs
    (``tiny.en``, ``--threads 1`` per worker), on one worker and then on two worker
    processes, each run on a fresh catalog and queue. Workers pack short transcribe
    jobs (issue 19): ``submit`` cuts the short files of one submission into packing
    groups of 32 and a worker claiming one job claims its group's queued jobs, so 64
    recordings are two packs, one per worker when there are two (with 32 or fewer, one
    worker takes them all and a second one has nothing to do). Each worker first runs
    one warm-up job on an unpadded clip (each its own beam size, so that no worker
    packs another's warm-up job; its model load is not timed). Throughput = jobs /
    (first submit call to the last ``finished_at``). Target: 2 workers >= 1.8x the
    throughput of 1 (2 cores).
(c) **Recovery**: ``--kill-jobs`` (100) transcribe jobs (``tiny.en``, ``--threads 1``) on
    distinct recordings (the 32 clips, then copies of them padded with 1, 2, ... samples
    of silence so each has its own content) on three workers with a short lease
    (``vidpipe worker --lease``, default 5 s; ``--reap-every 1``). Every ``--kill-every``
    (10) s one worker that holds a running job is SIGKILLed (the three in turn) and a
    new worker is started in its place. A monitor polls the jobs table every 0.1 s and
    records each claim (job, owner, ``started_at``). Checked: every job succeeded; one
    transcript per media item; no job was claimed more often than 1 + the times a kill
    took it away; no two claims of one job overlapped (a later claim by another owner
    while the earlier owner was still alive); recovery time of each lost job = its next
    claim's ``started_at`` - the kill time. Target: recovery <= lease + 5 s.

``--quick`` (the smoke test's run): (a) 20 jobs, (b) 64 recordings (two packs: fewer
would not show two workers sharing packed work), (c) 8 jobs, one kill after 2 s, lease
4 s. In (c) a kill takes away every job of the killed worker's pack.

The machine should be quiet: wall times of other processes' work end up in every
number. Times from the catalog (``started_at``, ``finished_at``) and the kill times are
all UTC wall-clock readings of this host. Prints; asserts nothing. Exit 0 after a
complete run (also when a target is not met), 2 on bad arguments.

Usage::

    python benchmarks/queue.py [--backends sqlite,redis] [--parts abc] [--quick]
        [--redis redis://127.0.0.1:6379/13] [--pg-admin URL] [--lease 5] [--kill-every 10]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named queue.py (the name): take its folder off the import path so
# that ``import queue`` (redis, concurrent.futures) finds the standard library's module.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import itertools
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
import wave
from dataclasses import dataclass, field
from datetime import UTC, datetime

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT / "tests" / "data" / "en_dev"
MODEL = "tiny.en"

TARGET_OVERHEAD_MS = 20.0  # per job, at most
TARGET_SCALING = 1.8  # throughput of 2 workers / 1 worker, at least
TARGET_RECOVERY_SLACK = 5.0  # seconds over the lease, at most

DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
DEFAULT_PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def now() -> datetime:
    return datetime.now(UTC)


def aware(t: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; the catalog stores UTC."""
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def clips() -> list[Path]:
    paths = sorted(CLIPS.glob("LJ*.wav"))
    if len(paths) != 32:
        raise SystemExit(f"expected 32 LJSpeech clips in {CLIPS}, found {len(paths)}")
    return paths


def distinct_recordings(folder: Path, n: int, first_pad: int = 0) -> list[Path]:
    """``n`` recordings with distinct content: copies of clip ``i % 32`` padded with
    ``first_pad + i // 32`` samples of silence (same speech, another sha256; with
    ``first_pad`` 0 the first 32 are the clips themselves)."""
    folder.mkdir(parents=True, exist_ok=True)
    src = clips()
    out: list[Path] = []
    for i in range(n):
        clip, pad = src[i % len(src)], first_pad + i // len(src)
        dst = folder / f"{i:03d}-{clip.name}"
        if pad == 0:
            shutil.copy(clip, dst)
        else:
            with wave.open(str(clip), "rb") as r:
                params, frames = r.getparams(), r.readframes(r.getnframes())
            with wave.open(str(dst), "wb") as w:
                w.setparams(params)
                w.writeframes(frames + b"\0" * (pad * params.sampwidth * params.nchannels))
        out.append(dst)
    return out


# --------------------------------------------------------------------------- backends


class Skip(Exception):
    """A backend's server does not answer: the part is skipped with this reason."""


@dataclass
class Env:
    """One fresh catalog + queue (+ storage root): what the worker processes are given."""

    home: Path
    catalog_url: str
    queue_url: str
    cleanup: list = field(default_factory=list)

    def worker_env(self) -> dict[str, str]:
        env = dict(
            os.environ,
            VIDPIPE_HOME=str(self.home),
            VIDPIPE_DATABASE_URL=self.catalog_url,
            VIDPIPE_QUEUE_URL=self.queue_url,
            COLUMNS="250",
        )
        env.pop("VIDPIPE_STORAGE", None)  # job folders under the home
        src = str(ROOT / "src")
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
        return env

    def close(self) -> None:
        for fn in reversed(self.cleanup):
            try:
                fn()
            except Exception as exc:  # keep closing the rest
                print(f"  (cleanup: {type(exc).__name__}: {exc})", flush=True)
        self.cleanup.clear()


class Backend:
    name = ""
    label = ""

    def check(self) -> None:
        """Raise :class:`Skip` when the servers do not answer."""

    def new_env(self, tmp: Path) -> Env:
        raise NotImplementedError


class SqliteBackend(Backend):
    name, label = "sqlite", "sqlite (embedded)"

    def new_env(self, tmp: Path) -> Env:
        home = Path(tempfile.mkdtemp(prefix="home-", dir=tmp))
        return Env(home, f"sqlite:///{home / 'catalog.db'}", f"sqlite:///{home / 'queue.db'}")


class RedisBackend(Backend):
    name, label = "redis", "redis + postgresql"

    def __init__(self, redis_url: str, pg_admin: str) -> None:
        self.redis_url, self.pg_admin = redis_url, pg_admin

    def check(self) -> None:
        import redis
        from sqlalchemy import create_engine, text

        try:
            redis.Redis.from_url(self.redis_url, socket_connect_timeout=2).ping()
        except Exception as exc:
            raise Skip(f"Redis not answering at {self.redis_url}: {type(exc).__name__}") from None
        try:
            engine = create_engine(self.pg_admin, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as exc:
            raise Skip(
                f"PostgreSQL not answering at {self.pg_admin}: {type(exc).__name__}"
            ) from None

    def new_env(self, tmp: Path) -> Env:
        import redis
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        client = redis.Redis.from_url(self.redis_url)
        client.flushdb()
        admin = create_engine(self.pg_admin, isolation_level="AUTOCOMMIT")
        name = f"vidpipe_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()

        url = make_url(self.pg_admin).set(database=name).render_as_string(hide_password=False)
        home = Path(tempfile.mkdtemp(prefix="home-", dir=tmp))
        env = Env(home, url, self.redis_url)
        env.cleanup += [drop, client.flushdb]
        return env


# --------------------------------------------------------------------------- workers


class WorkerProc:
    """One ``vidpipe worker`` process; its stderr goes to a log file (read for its owner id)."""

    def __init__(self, env: Env, args: list[str], log: Path) -> None:
        self.log_path = log
        self._log = open(log, "w", encoding="utf-8")  # noqa: SIM115 (closed in wait)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vidpipe", "worker", *args],
            env=env.worker_env(),
            cwd=env.home,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        self.pid = self.proc.pid
        self.killed_at: datetime | None = None

    def owner(self, timeout: float = 60.0) -> str:
        """The worker's owner id (``host:pid:token``) from its start line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(encoding="utf-8").splitlines():
                if line.startswith("worker ") and " threads on " in line:
                    return line.split()[1].rstrip(":")
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}: {self.tail()}")
            time.sleep(0.05)
        raise RuntimeError(f"worker did not start within {timeout:g} s: {self.tail()}")

    def tail(self) -> str:
        return " | ".join(self.log_path.read_text(encoding="utf-8").splitlines()[-5:])

    def kill(self) -> datetime:
        self.proc.kill()
        self.killed_at = now()
        self.proc.wait()
        self._log.close()
        return self.killed_at

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        return self.proc.returncode


def worker_args(
    threads: int | None = 1, lease: float | None = None, fast_reaper: bool = True
) -> list[str]:
    """``vidpipe worker`` options: one job at a time; ``fast_reaper``: a pass every second
    (queued jobs without a message re-sent after 5 s) instead of the defaults (10 s, 30 s)."""
    args = ["--concurrency", "1", "--stop-timeout", "10"]
    if fast_reaper:
        args += ["--reap-every", "1", "--grace", "5"]
    if threads:
        args += ["--threads", str(threads)]
    if lease:
        args += ["--lease", f"{lease:g}"]
    return args


def open_store(env: Env):
    from vidpipe.library.catalog import Catalog
    from vidpipe.pipeline.jobs import JobStore

    return JobStore(Catalog(env.catalog_url), root=env.home)


def job_rows(store, ids: list[str] | None = None) -> list[tuple]:
    """``(id, status, owner, started_at, finished_at, attempts, error_class, error_message,
    lease_until)`` of the jobs (all, or ``ids``)."""
    from sqlalchemy import select

    from vidpipe.library.models import JobRow

    cols = (
        JobRow.id,
        JobRow.status,
        JobRow.owner,
        JobRow.started_at,
        JobRow.finished_at,
        JobRow.attempts,
        JobRow.error_class,
        JobRow.error_message,
        JobRow.lease_until,
    )
    q = select(*cols)
    if ids is not None:
        q = q.where(JobRow.id.in_(ids))
    with store.catalog.session(write=False) as s:
        return [(*r[:3], aware(r[3]), aware(r[4]), *r[5:8], aware(r[8])) for r in s.execute(q)]


def wait_jobs(store, ids: list[str], workers: list[WorkerProc], timeout: float) -> list[tuple]:
    """Poll until every job of ``ids`` is final; returns their rows."""
    deadline = time.monotonic() + timeout
    while True:
        rows = job_rows(store, ids)
        if len(rows) == len(ids) and all(r[1] in ("succeeded", "failed", "canceled") for r in rows):
            return rows
        for w in workers:
            if w.proc.poll() is not None and w.killed_at is None:
                raise RuntimeError(f"worker {w.pid} died: {w.tail()}")
        if time.monotonic() > deadline:
            counts: dict[str, int] = {}
            for r in rows:
                counts[r[1]] = counts.get(r[1], 0) + 1
            raise RuntimeError(f"jobs not finished after {timeout:g} s: {counts}")
        time.sleep(0.1)


def add_media(store, paths: list[Path]) -> list[int]:
    from vidpipe.files import sha256_file

    return [
        store.catalog.add_media(p.resolve(), sha256_file(p), p.stat().st_size)[0].id for p in paths
    ]


def warm_up(store, env: Env, workers: list[WorkerProc], kind: str, inputs: list[dict], params):
    """Run one job per worker before timing (model loads, imports, first connections):
    batches of one job per worker are sent until every worker has run one (or ``inputs``
    run out). ``params``: one dict for every job, or a list of them (one per input:
    transcribe jobs with different options are not packed together)."""
    from vidpipe.pipeline.queue import enqueue

    owners = {w.owner() for w in workers}
    seen: set[str] = set()
    todo = list(inputs)
    while todo and not owners <= seen:
        # one job per worker at once: a worker busy with one leaves the next to another
        done = len(inputs) - len(todo)
        batch, todo = todo[: len(workers)], todo[len(workers) :]
        jobs = [
            store.create(kind, params[done + k] if isinstance(params, list) else params, input=inp)
            for k, inp in enumerate(batch)
        ]
        enqueue(jobs, url=env.queue_url)
        for row in wait_jobs(store, [j.id for j in jobs], workers, timeout=120):
            if row[1] != "succeeded":
                raise RuntimeError(f"warm-up {kind} job {row[0]} ended {row[1]}")
            seen.add(row[2])
    missing = owners - seen
    if missing:
        print(f"  (warm-up: {len(missing)} worker(s) got no warm-up job)", flush=True)


# --------------------------------------------------------------------------- (a)


def cpu_self() -> float:
    """User + system CPU seconds of this process (all threads)."""
    t = os.times()
    return t.user + t.system


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def part_a(backend: Backend, tmp: Path, n: int) -> dict:
    from vidpipe.pipeline.queue import enqueue
    from vidpipe.pipeline.registry import get_stage
    from vidpipe.pipeline.stages import StageContext, StageInput, StageInputs

    env = backend.new_env(tmp)
    store = open_store(env)
    worker = None
    try:
        media = add_media(store, clips())
        stage = get_stage("probe")
        options = stage.parse_options({})

        def direct(mid: int) -> None:
            ctx = StageContext(work_dir=tmp / "direct", catalog=store.catalog)
            stage.run(ctx, StageInputs(StageInput(media_id=mid)), options)

        direct(media[0])  # warm-up: imports, first decode
        t, c = time.perf_counter(), cpu_self()
        for i in range(n):
            direct(media[i % len(media)])
        direct_s, direct_cpu = time.perf_counter() - t, cpu_self() - c

        worker = WorkerProc(
            env, worker_args(None, fast_reaper=False), tmp / f"a-{backend.name}.log"
        )
        warm_up(store, env, [worker], "probe", [{"media_id": media[0]}] * 3, {})
        t0, c0, w0 = time.perf_counter(), cpu_self(), cpu_of(worker.pid)
        jobs = [
            store.create("probe", {}, input={"media_id": media[i % len(media)]}) for i in range(n)
        ]
        create_s = time.perf_counter() - t0
        sent = now()
        enqueue(jobs, url=env.queue_url)
        enqueue_s = (now() - sent).total_seconds()
        rows = wait_jobs(store, [j.id for j in jobs], [worker], timeout=60 + n)
        bad = [r for r in rows if r[1] != "succeeded"]
        if bad:
            raise RuntimeError(f"{len(bad)} probe jobs did not succeed, e.g. {bad[0]}")
        first = min(r[3] for r in rows)
        last = max(r[4] for r in rows)
        run_s = (last - sent).total_seconds()
        queue_cpu = cpu_self() - c0 + cpu_of(worker.pid) - w0  # includes the polling above
        return {
            "direct": direct_s / n * 1000,
            "create": create_s / n * 1000,
            "enqueue": enqueue_s / n * 1000,
            "run": run_s / n * 1000,
            "first": (first - sent).total_seconds() * 1000,
            "queue": (create_s + run_s) / n * 1000,
            "direct_cpu": direct_cpu / n * 1000,
            "queue_cpu": queue_cpu / n * 1000,
        }
    finally:
        if worker is not None:
            worker.stop()
        store.catalog.close()
        env.close()


def print_a(results: dict[str, dict], n: int) -> None:
    print(
        f"\n(a) per-job overhead: {n} probe jobs on 1 worker (concurrency 1) vs the probe "
        "stage called directly, ms per job"
    )
    print(
        f"  {'backend':20s} {'direct':>8s} {'create':>8s} {'run':>8s} {'queue':>8s} "
        f"{'overhead':>9s}  {'(enqueue, 1st claim)':>22s}  target <= {TARGET_OVERHEAD_MS:g}"
    )
    for label, r in results.items():
        if "skipped" in r:
            print(f"  {label:20s} skipped: {r['skipped']}")
            continue
        over = r["queue"] - r["direct"]
        met = "met" if over <= TARGET_OVERHEAD_MS else "NOT met"
        print(
            f"  {label:20s} {r['direct']:8.2f} {r['create']:8.2f} {r['run']:8.2f} "
            f"{r['queue']:8.2f} {over:9.2f}  ({r['enqueue']:6.2f}, {r['first']:7.1f} ms)  {met}"
        )
    print(
        "  queue = create + run (first message sent to last job finished); overhead = "
        "queue - direct; ratio queue/direct:",
        ", ".join(
            f"{label} {r['queue'] / r['direct']:.1f}x"
            for label, r in results.items()
            if "skipped" not in r
        ),
    )
    print(
        "  CPU ms per job (steadier on a shared machine; database servers not counted): "
        + ", ".join(
            f"{label} direct {r['direct_cpu']:.2f}, queue {r['queue_cpu']:.2f} "
            f"(this process creating and polling + the worker), overhead "
            f"{r['queue_cpu'] - r['direct_cpu']:.2f}"
            for label, r in results.items()
            if "skipped" not in r
        )
    )


# --------------------------------------------------------------------------- (b)


def part_b(backend: Backend, tmp: Path, n: int, workers: int) -> dict:
    from vidpipe.pipeline.runner import RunOptions
    from vidpipe.pipeline.submit import submit

    all_clips = clips()
    folder = tmp / f"b-{backend.name}-{workers}"
    distinct_recordings(folder, n, first_pad=1)  # none is a warm-up clip's content
    warm = all_clips[: 3 * workers]
    env = backend.new_env(tmp)
    store = open_store(env)
    procs: list[WorkerProc] = []
    try:
        procs = [
            WorkerProc(env, worker_args(threads=1), tmp / f"b-{backend.name}-{workers}-{i}.log")
            for i in range(workers)
        ]
        params = [{"model": MODEL, "beam_size": 1 + k} for k in range(len(warm))]
        warm_up(store, env, procs, "transcribe", [{"path": str(p)} for p in warm], params)
        options = RunOptions(steps=("transcribe",), model=MODEL)
        t0 = now()
        sub = submit(store, [str(folder)], options, url=env.queue_url)
        ids = sub.job_ids
        if len(ids) != n:
            raise RuntimeError(f"submitted {len(ids)} jobs for {n} recordings")
        rows = wait_jobs(store, ids, procs, timeout=120 + 30 * n)
        bad = [r for r in rows if r[1] != "succeeded"]
        if bad:
            raise RuntimeError(f"{len(bad)} transcribe jobs did not succeed")
        wall = (max(r[4] for r in rows) - t0).total_seconds()
        per_owner: dict[str, int] = {}
        spans: dict[str, list[float]] = {}  # owner -> [first start, last finish], s after t0
        for r in rows:
            per_owner[r[2]] = per_owner.get(r[2], 0) + 1
            a, b = (r[3] - t0).total_seconds(), (r[4] - t0).total_seconds()
            span = spans.setdefault(r[2], [a, b])
            span[0], span[1] = min(span[0], a), max(span[1], b)
        audio = sum(store.get(i).result["duration"] for i in ids)
        return {
            "wall": wall,
            "jobs_s": n / wall,
            "audio_s": audio / wall,
            "owners": len(per_owner),
            "per_owner": sorted(per_owner.values(), reverse=True),
            "spans": sorted(spans.values()),
        }
    finally:
        for w in procs:
            w.stop()
        store.catalog.close()
        env.close()


def print_b(label: str, res: dict[int, dict], n: int) -> None:
    print(f"  {label}:")
    for workers, r in res.items():
        print(
            f"    {workers} worker(s): {r['wall']:6.1f} s, {r['jobs_s']:.2f} jobs/s, "
            f"{r['audio_s']:.1f} audio s/s (jobs ran on {r['owners']} worker(s): "
            f"{', '.join(map(str, r['per_owner']))}; busy from-to s: "
            f"{', '.join(f'{a:.1f}-{b:.1f}' for a, b in r['spans'])})"
        )
    if 1 in res and 2 in res:
        ratio = res[2]["jobs_s"] / res[1]["jobs_s"]
        met = "met" if ratio >= TARGET_SCALING else "NOT met"
        print(
            f"    throughput 2 workers / 1 worker: {ratio:.2f}x (target >= {TARGET_SCALING}: {met})"
        )


# --------------------------------------------------------------------------- (c)


class ClaimMonitor:
    """Polls the jobs table every ``every`` s in a thread and records each claim seen,
    ``(job id, owner, started_at)`` (a claim sets all three), and each error recorded on
    a job that went back to the queue, ``(job id, attempts, error class, message)``."""

    def __init__(self, env: Env, every: float = 0.1) -> None:
        self.store = open_store(env)
        self.every = every
        self.claims: set[tuple[str, str, datetime]] = set()
        self.errors: set[tuple[str, int, str, str]] = set()
        #: the last ``lease_until`` seen of each (job, owner)
        self.leases: dict[tuple[str, str], datetime] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                for jid, status, owner, started, _, n, ec, em, until in job_rows(self.store):
                    if owner and started is not None:
                        self.claims.add((jid, owner, started))
                    if status == "running" and until is not None:
                        self.leases[(jid, owner)] = until
                    if ec and status in ("queued", "running"):
                        self.errors.add((jid, n, ec, em or ""))
            except Exception:  # a busy catalog: the next look
                pass
            self._stop.wait(self.every)

    def __enter__(self) -> ClaimMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.store.catalog.close()


def part_c(
    backend: Backend, tmp: Path, n: int, lease: float, kill_every: float, max_kills: int
) -> dict:
    from sqlalchemy import func, select

    from vidpipe.library.models import TranscriptRow
    from vidpipe.pipeline.runner import RunOptions
    from vidpipe.pipeline.submit import submit

    folder = tmp / f"c-{backend.name}"
    distinct_recordings(folder, n)
    env = backend.new_env(tmp)
    store = open_store(env)
    slots: list[WorkerProc] = []
    serial = iter(range(10_000))

    def start() -> WorkerProc:
        w = WorkerProc(env, worker_args(threads=1, lease=lease), tmp / f"c-{next(serial)}.log")
        return w

    kills: list[dict] = []  # {"at", "owner", "jobs"}
    owners: dict[int, str] = {}  # pid -> owner id
    try:
        slots = [start() for _ in range(3)]
        for w in slots:
            owners[w.pid] = w.owner()
        options = RunOptions(steps=("transcribe",), model=MODEL)
        with ClaimMonitor(env) as monitor:
            t0 = now()
            sub = submit(store, [str(folder)], options, url=env.queue_url, max_attempts=10)
            ids = sub.job_ids
            if len(ids) != n:
                raise RuntimeError(f"submitted {len(ids)} jobs for {n} recordings")
            deadline = time.monotonic() + 120 + 10 * n
            turn = 0
            next_kill = time.monotonic() + kill_every
            while True:
                rows = job_rows(store, ids)
                if all(r[1] in ("succeeded", "failed", "canceled") for r in rows):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("(c) jobs not finished in time")
                if time.monotonic() >= next_kill and (not max_kills or len(kills) < max_kills):
                    next_kill += kill_every
                    running = {r[2] for r in rows if r[1] == "running"}
                    for k in range(3):
                        slot = (turn + k) % 3
                        w = slots[slot]
                        if owners.get(w.pid) in running:
                            turn = slot + 1
                            at = w.kill()
                            lost = [
                                r[0]
                                for r in job_rows(store, ids)
                                if r[1] == "running" and r[2] == owners[w.pid]
                            ]
                            kills.append({"at": at, "owner": owners[w.pid], "jobs": lost})
                            slots[slot] = start()
                            owners[slots[slot].pid] = slots[slot].owner()
                            break
                time.sleep(0.1)
            wall = (max(r[4] for r in rows) - t0).total_seconds()
            time.sleep(0.3)  # one more look of the monitor
        claims, seen_errors, leases = monitor.claims, monitor.errors, monitor.leases
        store_errors = [j for j in store.get_many(ids) if j.status != "succeeded"]
        with store.catalog.session(write=False) as s:
            per_media = list(
                s.execute(
                    select(TranscriptRow.media_id, func.count()).group_by(TranscriptRow.media_id)
                )
            )
    finally:
        for w in slots:
            if w.killed_at is None:
                w.stop()
        store.catalog.close()
        env.close()

    final = {r[0]: r for r in rows}
    errors = sorted(
        {f"{j.error.error_class}: {j.error.message}" for j in store_errors if j.error is not None}
    )
    succeeded = sum(1 for r in rows if r[1] == "succeeded")
    death = {k["owner"]: k["at"] for k in kills}
    lost_count: dict[str, int] = {}
    for k in kills:
        for jid in k["jobs"]:
            lost_count[jid] = lost_count.get(jid, 0) + 1
    extra = sum(max(0, final[j][5] - 1 - lost_count.get(j, 0)) for j in ids)
    by_job: dict[str, list[tuple[datetime, str]]] = {}
    for jid, owner, started in claims:
        by_job.setdefault(jid, []).append((started, owner))
    for jid, r in final.items():  # the last claim, in case the monitor missed it
        if r[2] and r[3] is not None and (r[3], r[2]) not in by_job.get(jid, []):
            by_job.setdefault(jid, []).append((r[3], r[2]))
    live_expired = retried = 0
    errored: set[str] = set()  # jobs retried after an error (a new claim with cause)
    for jid, _, ec, em in seen_errors:
        if ec == "LeaseExpired":
            owner = em.removeprefix("the lease of ").removesuffix(" expired")
            live_expired += owner not in death  # its worker was alive: a late heartbeat
        else:
            retried += 1
            errored.add(jid)
    overlaps = 0
    for jid, seq in by_job.items():
        if jid in errored:
            continue
        seq.sort()
        for (_, o1), (t2, o2) in itertools.pairwise(seq):
            if o1 != o2 and (o1 not in death or death[o1] > t2):
                overlaps += 1  # claimed again while the earlier owner still held it
    recovery: list[float] = []
    expiry: list[float] = []  # kill -> the lost claim's lease end
    unrecovered = 0
    for k in kills:
        for jid in k["jobs"]:
            later = [t for t, o in by_job.get(jid, []) if t > k["at"] and o != k["owner"]]
            if later:
                recovery.append((min(later) - k["at"]).total_seconds())
                until = leases.get((jid, k["owner"]))
                if until is not None:
                    expiry.append((until - k["at"]).total_seconds())
            else:
                unrecovered += 1
    return {
        "n": n,
        "wall": wall,
        "succeeded": succeeded,
        "statuses": sorted({r[1] for r in rows}),
        "kills": len(kills),
        "lost": sum(len(k["jobs"]) for k in kills),
        "recovery": recovery,
        "expiry": expiry,
        "unrecovered": unrecovered,
        "extra": extra,
        "overlaps": overlaps,
        "claims": sum(len(v) for v in by_job.values()),
        "transcripts": len(per_media),
        "dup_transcripts": sum(1 for _, c in per_media if c != 1),
        "lease": lease,
        "errors": errors,
        "live_expired": live_expired,
        "retried": retried,
    }


def print_c(label: str, r: dict, kill_every: float) -> None:
    n = r["n"]
    once = r["succeeded"] == n and r["transcripts"] == n and not r["dup_transcripts"]
    once = once and not r["extra"] and not r["overlaps"]
    print(
        f"  {label}: {n} jobs in {r['wall']:.1f} s, {r['kills']} kills (every "
        f"{kill_every:g} s), {r['lost']} jobs lost by a kill, lease {r['lease']:g} s"
    )
    print(
        f"    succeeded {r['succeeded']}/{n} (statuses: {', '.join(r['statuses'])}); "
        f"transcripts {r['transcripts']} items, {r['dup_transcripts']} with more than one; "
        f"claims {r['claims']}, unexplained extra claims {r['extra']}, overlapping claims "
        f"{r['overlaps']}"
    )
    print(f"    all succeeded, each result once: {'yes' if once else 'NO'}")
    if r["live_expired"] or r["retried"]:
        print(
            f"    leases that expired on a live worker (heartbeat too late): "
            f"{r['live_expired']}; jobs retried after an error: {r['retried']}"
        )
    for e in r["errors"]:
        print(f"    failed: {e}")
    target = r["lease"] + TARGET_RECOVERY_SLACK
    if r["recovery"]:
        rec = r["recovery"]
        met = "met" if max(rec) <= target else "NOT met"
        print(
            f"    recovery (kill -> next claim by another worker): min {min(rec):.1f} s, "
            f"median {statistics.median(rec):.1f} s, max {max(rec):.1f} s "
            f"(target <= lease + {TARGET_RECOVERY_SLACK:g} = {target:g} s: {met})"
            + (f"; {r['unrecovered']} never claimed again" if r["unrecovered"] else "")
        )
        if r["expiry"]:
            wait = statistics.median(r["expiry"])
            print(
                f"      of which until the killed worker's lease ran out: median {wait:.1f} s "
                f"(renewed every lease/4: 0.75-1 x lease); lease end -> next claim: median "
                f"{statistics.median(rec) - wait:.1f} s (reaper pass, a free worker)"
            )
    else:
        print("    recovery: no kill caught a running job")


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="sqlite,redis", help="sqlite, redis or both")
    ap.add_argument("--parts", default="abc", help="which measurements: any of a, b, c")
    ap.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    ap.add_argument(
        "--redis", default=DEFAULT_REDIS, help="Redis URL (a database number of its own)"
    )
    ap.add_argument("--pg-admin", default=os.environ.get("VIDPIPE_BENCH_PG", DEFAULT_PG_ADMIN))
    ap.add_argument("--probe-jobs", type=int, default=None, help="(a) jobs (200; quick 20)")
    ap.add_argument("--recordings", type=int, default=None, help="(b) recordings (64; quick 64)")
    ap.add_argument("--kill-jobs", type=int, default=None, help="(c) jobs (100; quick 8)")
    ap.add_argument("--lease", type=float, default=None, help="(c) worker lease, s (5; quick 4)")
    ap.add_argument("--kill-every", type=float, default=None, help="(c) seconds (10; quick 2)")
    ap.add_argument("--kills", type=int, default=None, help="(c) at most (no limit; quick 1)")
    args = ap.parse_args()
    q = args.quick
    n_a = args.probe_jobs or (20 if q else 200)
    n_b = args.recordings or 64
    n_c = args.kill_jobs or (8 if q else 100)
    lease = args.lease or (4.0 if q else 5.0)
    kill_every = args.kill_every or (2.0 if q else 10.0)
    max_kills = args.kills if args.kills is not None else (1 if q else 0)
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not names or any(b not in ("sqlite", "redis") for b in names):
        ap.error("--backends takes sqlite, redis or sqlite,redis")
    if not set(args.parts) <= set("abc") or not args.parts:
        ap.error("--parts takes letters of abc")
    if n_c < 1 or n_a < 1 or n_b < 1 or lease < 1:
        ap.error("counts must be >= 1, --lease >= 1")
    backends: list[Backend] = []
    for name in names:
        backends.append(
            SqliteBackend() if name == "sqlite" else RedisBackend(args.redis, args.pg_admin)
        )

    print(
        f"vidpipe queue benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"backends {', '.join(names)}{' (quick)' if q else ''}",
        flush=True,
    )
    skipped: dict[str, str] = {}
    for b in backends:
        try:
            b.check()
        except Skip as exc:
            skipped[b.name] = str(exc)
            print(f"  {b.label}: skipped: {exc}", flush=True)
    live = [b for b in backends if b.name not in skipped]
    with tempfile.TemporaryDirectory(prefix="vidpipe-bench-queue-") as tmp_name:
        tmp = Path(tmp_name)
        if "a" in args.parts:
            res_a: dict[str, dict] = {}
            for b in backends:
                if b.name in skipped:
                    res_a[b.label] = {"skipped": skipped[b.name]}
                    continue
                print(f"(a) {b.label}: {n_a} probe jobs ...", flush=True)
                res_a[b.label] = part_a(b, tmp, n_a)
            print_a(res_a, n_a)
        if "b" in args.parts:
            print(
                f"\n(b) worker scaling: {n_b} distinct LJSpeech recordings, transcribe {MODEL}, "
                "1 thread per worker, 1 job (or 1 pack of up to 32 short jobs) at a time per "
                "worker",
                flush=True,
            )
            for b in live:
                res_b = {w: part_b(b, tmp, n_b, w) for w in (1, 2)}
                print_b(b.label, res_b, n_b)
        if "c" in args.parts:
            print(
                f"\n(c) recovery: {n_c} transcribe jobs ({MODEL}, 1 thread) on 3 workers, one "
                f"SIGKILLed every {kill_every:g} s and restarted"
                + (f" (at most {max_kills} kills)" if max_kills else "")
                + f"; worker lease {lease:g} s, reaper every 1 s",
                flush=True,
            )
            for b in live:
                print_c(b.label, part_c(b, tmp, n_c, lease, kill_every, max_kills), kill_every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
