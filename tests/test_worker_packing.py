"""A worker packs short queued transcribe jobs (issue 19, point 5).

A worker that claims a short-file ``transcribe`` job also claims the other queued
short-file ``transcribe`` jobs with the same options and transcribes their files in
one call (their clips share Whisper windows); each job records its own result under
its own claim. A worker killed mid-pack loses nothing: the claimed jobs come back by
lease (or at once, their owner being a dead process on this host) and run again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import DATA
from test_packing import english_words
from vidpipe.library.catalog import Catalog, owner_id
from vidpipe.library.models import utcnow
from vidpipe.pipeline.execute import run_job
from vidpipe.pipeline.jobs import JobStore
from vidpipe.pipeline.registry import TranscribeStage

CLIPS = sorted((DATA / "en_dev").glob("LJ001-00*.wav"))[:12]
OPTS = {"model": "tiny.en", "language": "en"}


@pytest.fixture
def store(tmp_path):
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield JobStore(cat, root=tmp_path / "store")
    cat.close()


def _queue_twelve(store: JobStore) -> list[str]:
    return [store.create("transcribe", OPTS, input={"path": str(p)}).id for p in CLIPS]


def test_a_worker_packs_twelve_short_jobs(store, monkeypatch):
    ids = _queue_twelve(store)
    calls: list[list[str]] = []
    real = TranscribeStage.ahead

    def spy(paths, options, threads=None):
        calls.append([Path(p).name for p in paths])
        return real(paths, options, threads)

    monkeypatch.setattr(TranscribeStage, "ahead", staticmethod(spy))
    me = owner_id()
    first = run_job(store, ids[0], me)
    assert first.status == "succeeded"
    assert calls == [[p.name for p in CLIPS]]  # one model call for the twelve
    jobs = store.get_many(ids)
    assert [j.status for j in jobs] == ["succeeded"] * 12
    assert {j.owner for j in jobs} == {me} and all(j.attempts == 1 for j in jobs)
    # each job has its own result and transcript file, of its own clip
    texts = []
    for job in jobs:
        (art,) = store.artifact_paths(job)
        tr = json.loads(art.read_text())
        assert job.result["segments"] >= 1 and tr["duration"] == pytest.approx(
            job.result["duration"]
        )
        texts.append(" ".join(s["text"] for s in tr["segments"]))
    assert english_words(texts[1]) == ["in", "being", "comparatively", "modern"]  # LJ001-0002
    assert len(set(texts)) == 12
    # a job's message arriving later finds it done: nothing runs twice
    assert run_job(store, ids[5], me).status == "succeeded" and len(calls) == 1


def test_two_workers_on_one_group_do_not_both_transcribe_all_of_it(store, monkeypatch):
    """Two workers took jobs of one packing group at once (``vidpipe submit`` of a
    folder, two idle workers): the one holding the rest transcribes the group; the
    other transcribes only the files of the jobs it claimed (alone when just one), not
    the whole group a second time for them (seen in benchmarks/queue.py (b): 63 jobs on
    one worker, 1 on the other, two workers slower than one)."""
    clips = CLIPS[:4]
    group = [str(p.resolve()) for p in clips]
    ids = [
        store.create("transcribe", OPTS, input={"path": str(p), "pack": group}).id for p in clips
    ]
    calls: list[list[str]] = []
    real = TranscribeStage.ahead

    def spy(paths, options, threads=None):
        calls.append([Path(p).name for p in paths])
        return real(paths, options, threads)

    monkeypatch.setattr(TranscribeStage, "ahead", staticmethod(spy))
    other = "elsewhere:1:packing"  # the worker that won the first jobs, still at work
    assert store.claim(ids[0], other, lease=3600) is not None
    assert [j.id for j in store.claim_many([ids[1]], other, lease=3600)] == [ids[1]]
    me = owner_id()
    assert run_job(store, ids[2], me).status == "succeeded"
    assert calls == [[clips[2].name, clips[3].name]]  # its own two files, not the four
    assert [j.status for j in store.get_many(ids)] == ["running", "running"] + ["succeeded"] * 2
    assert all(j.owner == me for j in store.get_many(ids[2:]))
    # the same race with one job left over: that file alone, no packed call at all
    ids = [
        store.create("transcribe", OPTS, input={"path": str(p), "pack": group}).id for p in clips
    ]
    for jid in (ids[0], ids[1], ids[3]):
        assert store.claim(jid, other, lease=3600) is not None
    assert run_job(store, ids[2], me).status == "succeeded"
    assert len(calls) == 1
    (art,) = store.artifact_paths(store.get(ids[2]))
    words = " ".join(s["text"] for s in json.loads(art.read_text())["segments"])
    assert english_words(words)[:3] == ["for", "although", "the"]  # LJ001-0003 alone


_KILLED_WORKER = """
import os, signal, sys
from vidpipe.library.catalog import Catalog
from vidpipe.pipeline.execute import run_job
from vidpipe.pipeline.jobs import JobStore
from vidpipe.pipeline.registry import TranscribeStage

def ahead(paths, options, threads=None):  # claimed the pack: die in the middle of it
    print(len(paths), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

TranscribeStage.ahead = staticmethod(ahead)
cat = Catalog(sys.argv[1])
run_job(JobStore(cat, root=sys.argv[2]), sys.argv[3], lease=3600)
"""


def test_a_worker_killed_mid_pack_loses_nothing(store, tmp_path):
    ids = _queue_twelve(store)
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    r = subprocess.run(
        [sys.executable, "-c", _KILLED_WORKER, url, str(store.root), ids[0]],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert r.stdout.split() == ["12"]
    held = store.get_many(ids)
    assert [j.status for j in held] == ["running"] * 12 and len({j.owner for j in held}) == 1
    # the leases run out: every job is queued again, none failed or lost
    back = store.reap(utcnow() + timedelta(seconds=3601))
    assert sorted(j.id for j in back) == sorted(ids)
    assert all(j.status == "queued" for j in back)
    run_job(store, ids[3], owner_id())
    jobs = store.get_many(ids)
    assert [j.status for j in jobs] == ["succeeded"] * 12
    assert all(j.attempts == 2 for j in jobs)


def test_the_services_transcribe_jobs_pack_too(tmp_path):
    """Transcribe jobs created through the service's ``POST /v1/jobs`` and queued
    together are packed by the worker that takes the first: one claim for all of them
    (the same owner and start time), each its own succeeded job and transcript."""
    import shutil
    import time

    import httpx

    from conftest import start_service

    home = tmp_path / "home"
    svc = start_service(home, worker=False)
    try:
        clips = []
        for p in CLIPS[:6]:
            shutil.copy(p, home / "media" / p.name)
            clips.append(home / "media" / p.name)
        with httpx.Client(base_url=svc.url, timeout=30) as client:
            ids = []
            for clip in clips:
                r = client.post(
                    "/v1/jobs",
                    json={"kind": "transcribe", "params": OPTS, "input": {"path": str(clip)}},
                )
                assert r.status_code == 202, r.text
                ids.append(r.json()["id"])
            env = dict(
                os.environ,
                VIDPIPE_HOME=str(home),
                VIDPIPE_DATABASE_URL=f"sqlite:///{home / 'catalog.db'}",
                VIDPIPE_QUEUE_URL=f"sqlite:///{home / 'queue.db'}",
                VIDPIPE_STORAGE=str(home),
            )
            worker = subprocess.Popen(
                [sys.executable, "-m", "vidpipe", "worker", "--reap-every", "0.5"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            try:
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    jobs = [client.get(f"/v1/jobs/{i}").json() for i in ids]
                    if all(j["status"] in ("succeeded", "failed", "canceled") for j in jobs):
                        break
                    time.sleep(0.5)
            finally:
                worker.send_signal(signal.SIGTERM)
                _, err = worker.communicate(timeout=60)
        assert [j["status"] for j in jobs] == ["succeeded"] * 6, err
        assert "worker stopped: 6 jobs run" in err
        assert all(j["result"]["segments"] >= 1 for j in jobs)
        with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
            held = JobStore(cat, root=home).get_many(ids)
        assert len({j.owner for j in held}) == 1
        # the first claimed, then the other five together, in one statement: one pack
        first = min(held, key=lambda j: j.started_at)
        assert len({j.started_at for j in held if j.id != first.id}) == 1
    finally:
        svc.stop()
