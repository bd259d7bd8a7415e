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
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from conftest import DATA
from vidpipe.library.catalog import Catalog, StageLost, options_hash, owner_id, sha256_file
from vidpipe.library.models import Stage, TranscriptRow, utcnow
from vidpipe.library.search import search
from vidpipe.types import Segment, Transcript

#: short LJ Speech clips (1.8 to 4.5 s) and their known text
CLIPS = {
    "LJ001-0008.wav": "has never been surpassed.",
    "LJ001-0002.wav": "in being comparatively modern.",
    "LJ001-0013.wav": "than in the same operations with ugly ones.",
    "LJ001-0011.wav": "it is of the first importance that the letter used should be fine in form;",
}
STEPS = ("probe", "audio", "transcribe")
H = options_hash({"model": "tiny.en"})


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    """A fresh, empty catalog URL (nothing created yet) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'catalog.db'}"
    return request.getfixturevalue("new_pg_url")()


def _media(cat: Catalog):
    path = DATA / "en_dev" / "LJ001-0008.wav"
    return cat.add_media(path, sha256_file(path), path.stat().st_size)[0]


# --------------------------------------------------------------------------- the claim


def test_claim_exactly_one_winner(url):
    cats = [Catalog(url), Catalog(url)]
    try:
        media = _media(cats[0])
        owners = [owner_id() for _ in range(6)]
        results: dict[str, str] = {}
        start = threading.Barrier(len(owners))

        def claim(i: int) -> None:
            start.wait()
            c = cats[i % 2].claim_stage(media.id, "transcribe", H, owners[i])
            results[owners[i]] = c.status

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(owners))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results.values()) == ["busy"] * 5 + ["claimed"]
        (winner,) = [o for o, st in results.items() if st == "claimed"]
        loser = next(o for o in owners if o != winner)
        assert cats[1].claim_stage(media.id, "transcribe", H, loser).owner == winner
        # a loser can neither finish nor drop the winner's claim
        assert not cats[1].finish_stage(media.id, "transcribe", owner=loser)
        cats[1].forget_stage(media.id, "transcribe", owner=loser)
        st = cats[0].stage(media.id, "transcribe")
        assert (st.status, st.owner) == ("running", winner)
        assert cats[0].finish_stage(media.id, "transcribe", owner=winner)
        assert cats[1].claim_stage(media.id, "transcribe", H, loser).status == "done"
        # a finished row is never dropped by someone else's interrupted run
        cats[1].forget_stage(media.id, "transcribe", owner=loser)
        assert cats[0].stage_done(media.id, "transcribe", H)
        # other options: the stage is claimable again, once
        other = options_hash({"model": "base"})
        got = [
            c.claim_stage(media.id, "transcribe", other, o).status
            for c, o in zip(cats, owners[:2], strict=True)
        ]
        assert got == ["claimed", "busy"]
        with cats[0].engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Stage)).scalar() == 1
    finally:
        for c in cats:
            c.close()


def test_expired_lease_and_dead_owner_are_taken_over(url):
    a, b = Catalog(url), Catalog(url)
    try:
        media = _media(a)
        slow, fast = owner_id(), owner_id()
        assert a.claim_stage(media.id, "transcribe", H, slow, lease=0.3).status == "claimed"
        assert b.claim_stage(media.id, "transcribe", H, fast).status == "busy"
        time.sleep(0.6)  # the slow owner missed its renewals
        assert b.claim_stage(media.id, "transcribe", H, fast).status == "claimed"
        assert not a.renew_stage(media.id, "transcribe", slow)
        tr = Transcript(duration=1.8, segments=[Segment(id=0, start=0, end=1.8, text="surpassed")])
        with pytest.raises(StageLost):  # the slow owner writes nothing any more
            a.save_transcript(media.id, tr, H, owner=slow)
        assert a.transcript_row(media.id) is None
        b.save_transcript(media.id, tr, H, owner=fast)
        assert b.finish_stage(media.id, "transcribe", owner=fast)

        # a claim whose process is gone (same host, pid no longer running): taken at once
        gone = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        dead = f"{socket.gethostname()}:{int(gone.stdout)}:0"
        assert a.claim_stage(media.id, "probe", H, dead, lease=3600).status == "claimed"
        assert b.claim_stage(media.id, "probe", H, fast).status == "claimed"
        # another machine's claim: only its lease tells, and it is still valid
        remote = "other-host.invalid:1:0"
        assert a.claim_stage(media.id, "audio", H, remote, lease=3600).status == "claimed"
        assert b.claim_stage(media.id, "audio", H, fast).status == "busy"
    finally:
        a.close()
        b.close()


def test_failed_stage_is_retried_only_when_asked(url):
    cat = Catalog(url)
    try:
        media = _media(cat)
        first, second = owner_id(), owner_id()
        assert cat.claim_stage(media.id, "probe", H, first).status == "claimed"
        cat.finish_stage(media.id, "probe", "probe: not media", owner=first)
        after_failure = utcnow()
        c = cat.claim_stage(media.id, "probe", H, second)
        assert (c.status, c.error) == ("failed", "probe: not media")
        # --retry-failed retries failures from before the run, not one from a parallel run
        long_ago = after_failure.replace(year=2000)
        assert (
            cat.claim_stage(media.id, "probe", H, second, retry_failed_before=long_ago).status
            == "failed"
        )
        c = cat.claim_stage(media.id, "probe", H, second, retry_failed_before=after_failure)
        assert c.status == "claimed"
    finally:
        cat.close()


# --------------------------------------------------------------------------- processes


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
