"""Several processes on one catalog, on SQLite and on PostgreSQL.

The stage claim itself (many claimers at once: exactly one wins; leases expire; a dead
owner's claim is taken over; a taken-over claimer writes nothing), migrations raced by
processes opening a fresh catalog together, and real ``vidpipe run`` processes, two
and three at once, on a fresh and on an existing catalog: every process exits 0, every
stage of every item is done once (the runs' "ran" counts add up to one per item and
stage), one transcript per item, search hits once, a rerun does nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from conftest import DATA
from vidpipe.library.catalog import Catalog, owner_id
from vidpipe.library.models import JobRow, TranscriptRow
from vidpipe.library.search import search

#: short LJ Speech clips (1.8 to 4.5 s) and their known text
CLIPS = {
    "LJ001-0008.wav": "has never been surpassed.",
    "LJ001-0002.wav": "in being comparatively modern.",
    "LJ001-0013.wav": "than in the same operations with ugly ones.",
    "LJ001-0011.wav": "it is of the first importance that the letter used should be fine in form;",
}
STEPS = ("probe", "audio", "transcribe")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    """A fresh, empty catalog URL (nothing created yet) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'catalog.db'}"
    return request.getfixturevalue("new_pg_url")()


# --------------------------------------------------------------------------- job claims


def test_dead_owner_jobs_are_taken_back_at_once(url, tmp_path):
    """A job held by a process of this host that no longer exists (a killed ``vidpipe
    run``) is given back by ``reap(owners_gone=True)`` before its lease expires; a live
    owner's and another host's are left alone."""
    from vidpipe.pipeline.jobs import JobStore

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    gone = f"{socket.gethostname()}:{int(dead.stdout)}:beef"
    with Catalog(url) as cat:
        store = JobStore(cat, root=tmp_path / "store")
        path = str(DATA / "jfk.flac")
        jobs = [store.create("probe", {}, input={"path": path}) for _ in range(3)]
        owners = [gone, owner_id(), "elsewhere:1:cafe"]
        for job, owner in zip(jobs, owners, strict=True):
            assert store.claim(job.id, owner, lease=3600) is not None
        assert store.reap() == []  # no lease expired
        (back,) = store.reap(owners_gone=True)
        assert back.id == jobs[0].id and back.status == "queued"
        assert [j.status for j in store.get_many([j.id for j in jobs])] == [
            "queued",
            "running",
            "running",
        ]


def _env(home: Path, url: str) -> dict[str, str]:
    env = dict(os.environ, VIDPIPE_HOME=str(home))
    env["VIDPIPE_DATABASE_URL"] = "" if url.startswith("sqlite") else url
    return env


@pytest.mark.parametrize("repeat", range(2))
def test_migrations_raced_by_three_processes(url, tmp_path, repeat):
    code = "import sys; from vidpipe.library.catalog import Catalog; Catalog(sys.argv[1]).close()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errs
    with Catalog(url) as cat, cat.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def _ran(stderr: str) -> dict[str, int]:
    """The "ran probe 2, audio 2, ..." counts of a run's last line."""
    m = re.search(r"; ran (.*)$", stderr.strip().splitlines()[-1])
    return {k: int(v) for k, v in (p.rsplit(" ", 1) for p in m.group(1).split(", "))} if m else {}


def _runs_at_once(n: int, folder: Path, home: Path, url: str) -> list[subprocess.CompletedProcess]:
    cmd = [
        sys.executable,
        "-m",
        "vidpipe",
        "run",
        str(folder),
        "-m",
        "tiny.en",
        "--steps",
        "ingest," + ",".join(STEPS),
    ]
    procs = [
        subprocess.Popen(
            cmd, env=_env(home, url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(n)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    return [
        subprocess.CompletedProcess(cmd, p.returncode, o, e)
        for p, (o, e) in zip(procs, outs, strict=True)
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("processes", "fresh"),
    [(2, True), (3, True), (3, False)],
    ids=["2-fresh", "3-fresh", "3-existing"],
)
def test_runs_at_once_do_each_stage_once(url, tmp_path, processes, fresh):
    folder = tmp_path / "media"
    folder.mkdir()
    for name in CLIPS:
        shutil.copy(DATA / "en_dev" / name, folder / name)
    home = tmp_path / "home"
    if not fresh:  # an existing catalog (schema up to date)
        Catalog(url).close()
    results = _runs_at_once(processes, folder, home, url)
    for r in results:
        assert r.returncode == 0, r.stderr
        assert "error" not in r.stderr.lower(), r.stderr
    ran = [_ran(r.stderr) for r in results]
    for step in STEPS:  # each stage of each item ran in exactly one process
        assert sum(x.get(step, 0) for x in ran) == len(CLIPS), (step, ran)
    with Catalog(url) as cat:
        srcs = cat.sources()
        assert [Path(s.uri).name for s in srcs] == sorted(CLIPS, key=lambda n: n)  # natural order
        assert [s.state for s in srcs] == ["done"] * len(CLIPS)
        assert len(cat.all_media()) == len(CLIPS)
        rows = [(st.media_id, st.stage, st.status) for st in cat.stages()]
        assert sorted(rows) == sorted((m.id, s, "done") for m in cat.all_media() for s in STEPS)
        with cat.engine.connect() as conn:  # one job per item and step, whoever ran it
            per_step = conn.execute(
                select(JobRow.source_id, JobRow.kind, func.count()).group_by(
                    JobRow.source_id, JobRow.kind
                )
            ).all()
        assert sorted(n for *_, n in per_step) == [1] * len(CLIPS) * len(STEPS), per_step
        with cat.engine.connect() as conn:
            per_media = conn.execute(
                select(TranscriptRow.media_id, func.count()).group_by(TranscriptRow.media_id)
            ).all()
        assert sorted(n for _, n in per_media) == [1] * len(CLIPS)
        by_name = {Path(m.path).name: m.id for m in cat.all_media()}
        hits = search(cat, "surpassed")
        assert [h.media_id for h in hits] == [by_name["LJ001-0008.wav"]]
        assert len({(h.media_id, h.start) for h in search(cat, "in")}) == len(search(cat, "in"))
        before = [(st.media_id, st.stage, st.started_at, st.finished_at) for st in cat.stages()]
    (again,) = _runs_at_once(1, folder, home, url)
    assert again.returncode == 0 and "nothing to do" in again.stderr, again.stderr
    with Catalog(url) as cat:
        after = [(st.media_id, st.stage, st.started_at, st.finished_at) for st in cat.stages()]
    assert after == before
