"""The queue (vidpipe.pipeline.queue) through the command line: ``vidpipe submit``,
``vidpipe worker`` and ``vidpipe jobs``, as real processes.

- SQLite embedded mode (no server): ``submit DIR --steps probe,audio,transcribe -m tiny.en``
  plus one worker finishes the batch (transcripts in the catalog, ``jobs list --json``
  shows every job); ``jobs cancel``/``retry`` with their exit codes (unknown id -> 3,
  finished -> 2); a broken file's job fails and its dependent fails with the reason;
  SIGTERM -> the worker exits 0.
- Redis (db 15 of 127.0.0.1:6379) + PostgreSQL: the queue is flushed while the jobs are
  queued (every message lost); two workers' reapers enqueue them again and the batch
  finishes with every job run once (one attempt, an owner that is one of the workers).
  Skipped with the reason when Redis does not answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DATA
from vidpipe.library.catalog import Catalog
from vidpipe.pipeline.jobs import JobStore

CLIPS = ["LJ001-0001.wav", "LJ001-0002.wav", "LJ001-0003.wav"]
BROKEN = DATA / "broken" / "tinytag_invalid_file.wav"
REDIS_URL = "redis://127.0.0.1:6379/15"  # a test database number, never db 0
FAST_WORKER = ["--reap-every", "0.5", "--grace", "1", "--stop-timeout", "5"]


def _env(home: Path, db: str = "", queue: str = "") -> dict[str, str]:
    env = dict(
        os.environ,
        VIDPIPE_HOME=str(home),
        VIDPIPE_DATABASE_URL=db,
        VIDPIPE_QUEUE_URL=queue,
        COLUMNS="200",
    )
    env.pop("VIDPIPE_STORAGE", None)  # job folders under the home
    return env


def vp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vidpipe", "worker", *FAST_WORKER, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_worker(proc: subprocess.Popen) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
    return proc.returncode, stderr


def jobs_json(env: dict[str, str], *args: str) -> list[dict]:
    r = vp(env, "jobs", "list", "--json", "--limit", "1000", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _catalog(env: dict[str, str]) -> Catalog:
    """The catalog the commands of ``env`` use, opened in this process."""
    return Catalog(
        env["VIDPIPE_DATABASE_URL"] or f"sqlite:///{Path(env['VIDPIPE_HOME']) / 'catalog.db'}"
    )


def job_of(env: dict[str, str], job_id: str) -> dict:
    """Job ``job_id`` as ``vidpipe jobs show --json`` prints it, read in this process."""
    cat = _catalog(env)
    try:
        return JobStore(cat).get(job_id).model_dump(mode="json")
    finally:
        cat.close()


def wait_final(env: dict[str, str], ids: set[str], workers, timeout: float = 150) -> list[dict]:
    """Poll the jobs table (in this process) until every job of ``ids`` is finished;
    then return them as ``vidpipe jobs list --json`` prints them."""
    deadline = time.monotonic() + timeout
    cat = _catalog(env)
    try:
        store = JobStore(cat)
        while True:
            jobs = store.get_many(sorted(ids))
            if len(jobs) == len(ids) and all(
                j.status in ("succeeded", "failed", "canceled") for j in jobs
            ):
                break
            for w in workers:
                assert w.poll() is None, f"worker died: {w.communicate()[1]}"
            if time.monotonic() > deadline:
                pytest.fail(f"jobs not finished: {[(j.kind, j.status) for j in jobs]}")
            time.sleep(0.3)
    finally:
        cat.close()
    return [j for j in jobs_json(env) if j["id"] in ids]


def _clips(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True)
    for n in names:
        shutil.copy(DATA / "en_dev" / n, folder / n)
    return folder


def _submit(env: dict[str, str], *args: str) -> list[str]:
    r = vp(env, "submit", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_sqlite_submit_worker_cancel_retry(tmp_path):
    home = tmp_path / "home"
    env = _env(home)
    folder = _clips(tmp_path / "in", CLIPS[:2])
    ids = _submit(env, str(folder), "--steps", "probe,audio,transcribe", "-m", "tiny.en")
    assert len(ids) == 6  # one chain of three jobs per file
    assert (home / "queue.db").is_file()
    listed = {j["id"]: j for j in jobs_json(env)}
    assert set(listed) == set(ids)
    assert [listed[i]["kind"] for i in ids] == ["probe", "audio", "transcribe"] * 2
    assert [listed[i]["status"] for i in ids[:3]] == ["queued", "waiting", "waiting"]
    assert listed[ids[1]]["depends_on"] == [ids[0]]

    # a broken file: its probe fails at the worker, its audio job with the reason
    bad = tmp_path / "bad" / "bad.wav"
    bad.parent.mkdir()
    shutil.copy(BROKEN, bad)
    bad_ids = _submit(env, str(bad), "--steps", "probe,audio")
    assert len(bad_ids) == 2

    # cancel the first chain's probe before any worker runs: its dependents fail
    r = vp(env, "jobs", "cancel", ids[0])
    assert r.returncode == 0, r.stderr
    assert "canceled" in r.stdout
    shown = json.loads(vp(env, "jobs", "show", ids[1], "--json").stdout)
    assert shown["status"] == "failed"
    assert shown["error"]["message"] == f"dependency {ids[0]} failed: canceled"
    r = vp(env, "jobs", "cancel", ids[0])
    assert r.returncode == 2 and "already canceled" in r.stderr
    r = vp(env, "jobs", "cancel", "no-such-job")
    assert r.returncode == 3 and r.stderr.startswith("error: no job no-such-job")
    assert vp(env, "jobs", "show", "no-such-job").returncode == 3
    r = vp(env, "jobs", "retry", ids[3])  # queued: nothing to retry
    assert r.returncode == 2 and "only failed or canceled" in r.stderr
    # retry the canceled probe: it and the dependents it failed wait again
    r = vp(env, "jobs", "retry", ids[0])
    assert r.returncode == 0, r.stderr
    statuses = {j["id"]: j["status"] for j in jobs_json(env)}
    assert [statuses[i] for i in ids[:3]] == ["queued", "waiting", "waiting"]

    worker = start_worker(env)
    try:
        jobs = {j["id"]: j for j in wait_final(env, set(ids) | set(bad_ids), [worker])}
        assert [jobs[i]["status"] for i in ids] == ["succeeded"] * 6
        assert jobs[bad_ids[0]]["status"] == "failed"
        assert jobs[bad_ids[0]]["attempts"] == 1  # a media error is not retried
        assert jobs[bad_ids[1]]["error"]["message"].startswith(f"dependency {bad_ids[0]} failed")
        cat = Catalog(f"sqlite:///{home / 'catalog.db'}")
        try:
            for tid in (ids[2], ids[5]):
                mid = jobs[tid]["result"]["media_id"]
                tr = cat.get_transcript(mid)
                assert tr is not None and tr.model == "tiny.en" and tr.text.strip()
                assert (home / jobs[tid]["artifacts"][0]).is_file()
        finally:
            cat.close()
        # retry the failed probe through the CLI: the worker runs it again (and it fails)
        r = vp(env, "jobs", "retry", bad_ids[0])
        assert r.returncode == 0 and "queued" in r.stdout, r.stderr
        again = {j["id"]: j for j in wait_final(env, set(bad_ids), [worker])}
        assert again[bad_ids[0]]["status"] == "failed"
        assert again[bad_ids[0]]["attempts"] == 1
        assert again[bad_ids[0]]["error"]["error_class"] == "MediaError"
        # --wait: progress from the jobs table, run's exit codes (0: all succeeded, 1: not)
        # (a file not submitted before: a copy of one would be skipped as duplicate content)
        r = vp(env, "submit", str(DATA / "en_dev" / CLIPS[2]), "--steps", "probe", "--wait")
        assert r.returncode == 0, r.stderr
        assert "1 jobs: 1 succeeded, 0 failed" in r.stderr
        r = vp(env, "submit", str(bad), "--steps", "probe", "--wait")
        assert r.returncode == 1, r.stderr
        assert "1 jobs: 0 succeeded, 1 failed" in r.stderr and "MediaError" not in r.stdout
    finally:
        code, stderr = stop_worker(worker)
    assert code == 0, stderr
    # 6 + the bad probe twice (its audio job never ran) + the two --wait probes
    assert "worker stopped: 10 jobs run" in stderr
    assert "Traceback" not in stderr


def _redis_or_skip():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        pytest.skip(f"Redis not answering at {REDIS_URL}: {type(exc).__name__}")
    return client


def test_redis_postgresql_two_workers_after_flush(tmp_path, new_pg_url):
    client = _redis_or_skip()
    client.flushdb()
    db = new_pg_url()
    home = tmp_path / "home"
    env = _env(home, db=db, queue=REDIS_URL)
    folder = _clips(tmp_path / "in", CLIPS)
    ids = _submit(env, str(folder), "--steps", "probe,audio,transcribe", "-m", "tiny.en")
    assert len(ids) == 9
    assert client.dbsize() > 0  # the three probe messages
    assert not (home / "queue.db").exists()
    client.flushdb()  # Redis restarted: every message is lost, the jobs table still knows

    workers = [start_worker(env, "--threads", "1") for _ in range(2)]
    try:
        jobs = {j["id"]: j for j in wait_final(env, set(ids), workers)}
    finally:
        results = [stop_worker(w) for w in workers]
    for code, stderr in results:
        assert code == 0, stderr
    owners = {
        line.split()[1].rstrip(":")
        for _, e in results
        for line in e.splitlines()
        if line.startswith("worker ") and " threads on " in line
    }
    assert len(owners) == 2
    assert [jobs[i]["status"] for i in ids] == ["succeeded"] * 9
    for j in jobs.values():
        assert j["attempts"] == 1, j  # each job was claimed and run once
        assert j["owner"] in owners
    ran = sum(int(e.split("worker stopped: ")[1].split()[0]) for _, e in results)
    assert ran == 9  # no job ran on two workers
    cat = Catalog(db)
    try:
        for tid in ids[2::3]:
            tr = cat.get_transcript(jobs[tid]["result"]["media_id"])
            assert tr is not None and tr.text.strip()
    finally:
        cat.close()
    client.flushdb()


def test_sigterm_releases_the_running_job(tmp_path, shared_data):
    """SIGTERM with --stop-timeout 0 while a long transcribe runs: the job goes back to
    the queue without counting the attempt, and the worker exits 0."""
    home = tmp_path / "home"
    env = _env(home)
    long = shared_data / "en_long" / "bush_radio_address_2008-11-01_gb0.wav"  # 127 s
    (job_id,) = _submit(env, str(long), "--steps", "transcribe", "-m", "tiny.en", "-q")
    worker = start_worker(env, "--threads", "1", "--stop-timeout", "0")
    try:
        deadline = time.monotonic() + 60
        while True:
            job = job_of(env, job_id)
            if job["status"] == "running":
                break
            assert worker.poll() is None and time.monotonic() < deadline, job
            time.sleep(0.2)
    finally:
        code, stderr = stop_worker(worker)
    assert code == 0, stderr
    assert "worker stopped: 0 jobs run" in stderr
    job = json.loads(vp(env, "jobs", "show", job_id, "--json").stdout)
    assert job["status"] == "queued", job
    assert job["attempts"] == 0 and job["owner"] is None


def test_redis_sigkill_lease_expires_other_worker_takes_it(tmp_path, new_pg_url):
    """SIGKILL a worker in the middle of a transcribe job: its lease (2 s) expires, the
    other worker's reaper queues the job again and it ends succeeded, one result row."""
    client = _redis_or_skip()
    client.flushdb()
    db = new_pg_url()
    env = _env(tmp_path / "home", db=db, queue=REDIS_URL)
    (job_id,) = _submit(env, str(DATA / "jfk.flac"), "--steps", "transcribe", "-m", "tiny.en")
    first = start_worker(env, "--threads", "1", "--lease", "2")
    try:
        deadline = time.monotonic() + 60
        while job_of(env, job_id)["status"] != "running":
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        first.kill()  # SIGKILL: no release, the lease is left to expire
        first.communicate()
    killed = json.loads(vp(env, "jobs", "show", job_id, "--json").stdout)
    assert killed["status"] == "running" and killed["attempts"] == 1
    second = start_worker(env, "--threads", "1")
    try:
        (job,) = wait_final(env, {job_id}, [second], timeout=90)
    finally:
        code, stderr = stop_worker(second)
    assert code == 0, stderr
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2  # the killed run and the one after the lease expired
    assert job["owner"] != killed["owner"]
    assert "worker stopped: 1 jobs run" in stderr
    from sqlalchemy import func, select

    from vidpipe.library.models import TranscriptRow

    cat = Catalog(db)
    try:
        with cat.session(write=False) as s:
            n = s.scalar(select(func.count()).select_from(TranscriptRow))
        assert n == 1
    finally:
        cat.close()
    client.flushdb()


def test_submit_takes_urls_ingest_downloaded(tmp_path):
    """A link list downloaded by ``vidpipe ingest`` is submitted like local files (a
    probe job on its media item); a URL not downloaded yet starts its chain with a
    ``download`` job. When a chain ends, its source row is done, as after vidpipe run."""
    from servers.http_media import MediaServer
    from vidpipe.pipeline.execute import run_job

    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(DATA / "en_dev" / CLIPS[0], served / "speech.wav")
    shutil.copy(DATA / "en_dev" / CLIPS[1], served / "other.wav")
    env = _env(tmp_path / "home")
    with MediaServer(served) as srv:
        links = tmp_path / "links.txt"
        links.write_text(srv.url("speech.wav") + "\n", encoding="utf-8")
        r = vp(env, "ingest", str(links), "-q")
        assert r.returncode == 0, r.stderr
        n_ingest = len(srv.requests)
        r = vp(env, "submit", str(links), srv.url("other.wav"), "--steps", "probe", "--json")
        assert r.returncode == 0, r.stderr
        chains = json.loads(r.stdout)
        assert [[j["kind"] for j in c["jobs"]] for c in chains] == [
            ["probe"],
            ["download", "probe"],
        ]
        assert chains[0]["media_id"] is not None and chains[1]["media_id"] is None
        cat = _catalog(env)
        try:
            store = JobStore(cat, root=tmp_path / "home")  # the storage root of env
            # submitted: pending until their chains end
            assert [s.state for s in cat.sources()] == ["pending", "pending"]
            for c in chains:  # the worker's calls, in this process
                for j in c["jobs"]:
                    job = run_job(store, j["id"])
                    assert job.status == "succeeded", job.error
            assert job.result["duration"] > 0
            media = cat.get_media(job.result["media_id"])
            sha = hashlib.sha256((served / "other.wav").read_bytes()).hexdigest()
            assert media.sha256 == sha
            assert Path(media.path).parent == tmp_path / "home" / "media"  # the storage root
            assert [(s.state, s.reason) for s in cat.sources()] == [("done", None)] * 2
        finally:
            cat.close()
        assert [r["name"] for r in srv.requests[n_ingest:]] == ["other.wav"]  # fetched once
