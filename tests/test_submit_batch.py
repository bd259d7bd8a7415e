"""Done when (issue 10): ``vidpipe submit links.txt --steps all`` and ``vidpipe worker``
processes finish a batch of good and bad links that ``vidpipe report`` shows complete,
even when a worker is SIGKILLed in the middle of a job.

The links are served by the real fault-injecting HTTP server on 127.0.0.1
(tests/servers/http_media.py): good files, a 404, an HTML page, a file whose first
request fails with 500, a malformed line, a duplicate URL, a duplicate content and a
video without an audio track. Two backends:

- Redis (db 14 of 127.0.0.1:6379) + PostgreSQL: two workers; the one running the
  download of a slow link (the server waits 4 s before it answers) is SIGKILLed in the
  middle of it; the other takes the job over when its 2 s lease expires.
- SQLite and no server: one worker, SIGKILLed the same way and started again.

Either way every source ends done, failed or skipped with the reason ``vidpipe run``
gives it, and nothing is left pending. Skipped with the reason when Redis or
PostgreSQL do not answer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from conftest import DATA
from servers.http_media import MediaServer
from test_queue import _catalog, _env, start_worker, stop_worker, vp
from vidpipe.pipeline.jobs import JobStore

REDIS_URL = "redis://127.0.0.1:6379/14"  # this test's database number, never db 0
NO_AUDIO = "audio, transcribe: skipped: no audio track"


def _serve_dir(tmp_path: Path) -> Path:
    srv = tmp_path / "srv"
    srv.mkdir()
    shutil.copy(DATA / "en_dev" / "LJ001-0001.wav", srv / "lj1.wav")
    shutil.copy(DATA / "en_dev" / "LJ001-0002.wav", srv / "lj2.wav")
    shutil.copy(DATA / "en_dev" / "LJ001-0003.wav", srv / "lj3.wav")
    shutil.copy(DATA / "jfk.flac", srv / "jfk.flac")
    shutil.copy(DATA / "jfk.flac", srv / "jfk_again.flac")
    shutil.copy(DATA / "video" / "moviepy_example.mp4", srv / "silent.mp4")  # no audio
    return srv


def _links(tmp_path: Path, srv: MediaServer) -> Path:
    lines = [
        "# a batch with good and bad links",  # 1
        srv.url("lj1.wav"),  # 2
        srv.url("missing.mp4", fault="404"),  # 3
        "http://exa mple..com/path.mp4",  # 4: malformed (a glued line is split: test_integrity)
        srv.url("lj1.wav"),  # 5: duplicate URL
        srv.url("lj2.wav", fault="500then200"),  # 6: retried by the downloader
        srv.url("jfk.flac"),  # 7
        srv.url("jfk_again.flac"),  # 8: same content as line 7
        srv.url("page.mp4", fault="html"),  # 9
        srv.url("silent.mp4"),  # 10: a video without an audio track
        srv.url("lj3.wav", fault="slow"),  # 11: the worker downloading it is killed
    ]
    links = tmp_path / "links.txt"
    links.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return links


def _running_slow_download(env: dict[str, str], pids: set[int]):
    """The download job of the slow link once it runs (polled in this process), and the
    pid of the worker (one of ``pids``) that holds it."""
    deadline = time.monotonic() + 120
    cat = _catalog(env)
    try:
        store = JobStore(cat)
        while time.monotonic() < deadline:
            for job in store.list("running", "download").jobs:
                pid = int(job.owner.split(":")[1]) if job.owner else -1
                if "/fault/slow/" in job.input["url"] and pid in pids:
                    return job, pid
            time.sleep(0.05)
    finally:
        cat.close()
    pytest.fail("the slow download was not seen running")


def _held_by(env: dict[str, str], job_id: str) -> dict:
    cat = _catalog(env)
    try:
        return JobStore(cat).get(job_id).model_dump(mode="json")
    finally:
        cat.close()


def _wait_sources(env: dict[str, str], workers, timeout: float = 240) -> None:
    """Until no source of the catalog is pending (the chains have all ended)."""
    deadline = time.monotonic() + timeout
    cat = _catalog(env)
    try:
        while True:
            pending = [s for s in cat.sources() if s.state == "pending"]
            if not pending:
                return
            for w in workers:
                assert w.poll() is None, f"worker died: {w.communicate()[1]}"
            if time.monotonic() > deadline:
                pytest.fail(f"sources still pending: {[s.uri for s in pending]}")
            time.sleep(0.3)
    finally:
        cat.close()


def _line(item: dict) -> int:
    """The line number of a report row's source (``links.txt:3 URL``)."""
    return int(re.match(r"links\.txt:(\d+) ", item["source"]).group(1))


def _check_report(env: dict[str, str]) -> dict:
    r = vp(env, "report", "--json", "-")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    got = {_line(i): (i["state"], i["reason"]) for i in rep["items"]}
    assert sorted(got) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert got[2] == ("done", None)
    assert got[3] == ("failed", "download: HTTP 404 Not Found")
    assert got[4][0] == "failed" and "invalid host name" in got[4][1]
    assert got[5] == ("skipped", "duplicate of line 2 of links.txt")
    assert got[6] == ("done", None)
    assert got[7] == ("done", None)
    assert got[8] == ("skipped", "duplicate content of line 7 of links.txt")
    assert got[9][0] == "failed" and got[9][1].startswith("download: ")
    assert got[10] == ("done", NO_AUDIO)
    assert got[11] == ("done", None)
    totals = rep["totals"]
    assert (totals["done"], totals["failed"], totals["skipped"], totals["pending"]) == (5, 3, 2, 0)
    assert totals["no_audio"] == 1
    words = {_line(i): i["words"] for i in rep["items"]}
    assert all(words[n] for n in (2, 6, 7, 11))  # transcribed
    return rep


def _submit(env: dict[str, str], links: Path) -> list[str]:
    r = vp(env, "submit", str(links), "--steps", "all", "-m", "tiny.en", "--retries", "2")
    assert r.returncode == 1, r.stderr  # the malformed line fails at once
    assert "invalid host name" in r.stderr
    ids = r.stdout.split()
    assert len(ids) == 8 * 4  # download, probe, audio, transcribe for each line to fetch
    return ids


def _jobs_final(env: dict[str, str], ids: list[str]) -> dict[str, dict]:
    cat = _catalog(env)
    try:
        jobs = JobStore(cat).get_many(ids)
    finally:
        cat.close()
    return {j.id: j.model_dump(mode="json") for j in jobs}


@pytest.mark.slow
def test_redis_postgresql_two_workers_one_killed(tmp_path, new_pg_url):
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        pytest.skip(f"Redis not answering at {REDIS_URL}: {type(exc).__name__}")
    client.flushdb()
    env = _env(tmp_path / "home", db=new_pg_url(), queue=REDIS_URL)
    worker_args = ("--threads", "1", "--lease", "2")
    with MediaServer(_serve_dir(tmp_path), slow_delay=4.0) as srv:
        ids = _submit(env, _links(tmp_path, srv))
        workers = [start_worker(env, *worker_args) for _ in range(2)]
        try:
            by_pid = {w.pid: w for w in workers}
            job, pid = _running_slow_download(env, set(by_pid))
            os.kill(pid, signal.SIGKILL)  # no release: its lease is left to expire
            by_pid[pid].communicate()
            assert _held_by(env, job.id)["status"] == "running"  # killed mid-way
            alive = [w for w in workers if w.pid != pid]
            _wait_sources(env, alive)
        finally:
            results = [stop_worker(w) for w in workers if w.pid != pid]
    for code, stderr in results:
        assert code == 0, stderr
        assert "Traceback" not in stderr
    _check_report(env)
    jobs = _jobs_final(env, ids)
    taken = jobs[job.id]
    assert taken["status"] == "succeeded" and taken["attempts"] == 2, taken
    assert taken["owner"] != job.owner
    assert all(j["status"] in ("succeeded", "failed") for j in jobs.values())
    skipped = [j for j in jobs.values() if (j["result"] or {}).get("skipped")]
    assert {j["result"]["skipped"] for j in skipped} == {
        "no audio track",
        "duplicate content of line 7 of links.txt",
    }
    client.flushdb()


@pytest.mark.slow
def test_sqlite_one_worker_killed_and_restarted(tmp_path):
    env = _env(tmp_path / "home")
    worker_args = ("--threads", "1", "--lease", "2")
    with MediaServer(_serve_dir(tmp_path), slow_delay=4.0) as srv:
        ids = _submit(env, _links(tmp_path, srv))
        first = start_worker(env, *worker_args)
        try:
            job, _pid = _running_slow_download(env, {first.pid})
        finally:
            first.kill()
            first.communicate()
        assert _held_by(env, job.id)["status"] == "running"  # killed mid-way
        second = start_worker(env, *worker_args)
        try:
            _wait_sources(env, [second])
        finally:
            code, stderr = stop_worker(second)
    assert code == 0, stderr
    _check_report(env)
    jobs = _jobs_final(env, ids)
    assert jobs[job.id]["status"] == "succeeded" and jobs[job.id]["attempts"] == 2
    # the downloads went to the storage root's media folder, nothing half-written
    media = tmp_path / "home" / "media"
    assert not list(media.glob("*.part"))
    assert len(list(media.iterdir())) == 6  # lj1, lj2, lj3, jfk, jfk_again, silent
