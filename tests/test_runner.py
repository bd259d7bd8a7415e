"""The batch runner on real media: folders, link lists through a real HTTP server, reruns,
retries, and a run killed with SIGKILL that resumes to the same catalog."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DATA
from servers.http_media import MediaServer
from vidpipe.library.catalog import Catalog
from vidpipe.library.download import DownloadLimits
from vidpipe.library.models import JobRow
from vidpipe.library.urls import safe_filename
from vidpipe.pipeline.runner import RunOptions, parse_steps, run

FAST = DownloadLimits(
    concurrency=4, per_host=4, retries=2, backoff_base=0.05, backoff_max=0.2, read_timeout=5
)


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(DATA / "en_dev" / "LJ001-0001.wav", d / "10.wav")
    shutil.copy(DATA / "en_dev" / "LJ001-0002.wav", d / "2.wav")
    shutil.copy(DATA / "jfk.flac", d / "1.flac")
    shutil.copy(DATA / "broken" / "tinytag_invalid_file.wav", d / "3.wav")
    (d / "notes.md").write_text("not media")
    return d


class _Run:
    """``vidpipe run``'s function with one catalog and options."""

    def __init__(self, catalog: Catalog, options: RunOptions) -> None:
        self.catalog, self.options = catalog, options

    def run(self, inputs):
        return run(inputs, self.catalog, self.options)


def _runner(tmp_path, **kw) -> tuple[Catalog, _Run]:
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    opts = RunOptions(model="tiny.en", dest=tmp_path / "media", limits=FAST, **kw)
    return cat, _Run(cat, opts)


def _jobs(cat: Catalog) -> list[tuple]:
    """Every job of the catalog: (kind, source, status, started, finished), oldest first."""
    from sqlalchemy import select

    with cat.session(write=False) as s:
        rows = s.execute(
            select(
                JobRow.kind, JobRow.source_id, JobRow.status, JobRow.started_at, JobRow.finished_at
            ).order_by(JobRow.created_at, JobRow.id)
        ).all()
    return [tuple(r) for r in rows]


def _chain(cat: Catalog, source_id: int) -> list[tuple]:
    """The jobs of a source's chain: (kind, status, result), oldest first."""
    from sqlalchemy import select

    with cat.session(write=False) as s:
        rows = s.execute(
            select(JobRow.kind, JobRow.status, JobRow.result)
            .where(JobRow.source_id == source_id)
            .order_by(JobRow.created_at, JobRow.id)
        ).all()
    return [tuple(r) for r in rows]


def test_parse_steps():
    assert parse_steps("transcribe,ingest") == ("ingest", "transcribe")
    assert parse_steps("all") == ("ingest", "probe", "audio", "transcribe")
    from vidpipe.errors import UsageError

    with pytest.raises(UsageError, match="unknown step"):
        parse_steps("ingest,dance")


def test_folder_run_rerun_and_retry(tmp_path, folder):
    cat, runner = _runner(tmp_path)
    summary = runner.run([str(folder)])
    srcs = cat.sources()
    # natural order: 1, 2, 3, 10; notes.md is not media
    assert [Path(s.uri).name for s in srcs] == ["1.flac", "2.wav", "3.wav", "10.wav"]
    assert [s.state for s in srcs] == ["done", "done", "failed", "done"]
    broken = srcs[2]
    assert broken.reason.startswith("probe: ") and "\n" not in broken.reason
    assert "not a recognised audio or video file" in broken.reason
    assert (summary.done, summary.failed, summary.skipped) == (3, 1, 0)
    assert summary.ran["transcribe"] == 3
    jfk = cat.get_transcript(srcs[0].media_id)
    assert "fellow Americans" in jfk.text and jfk.language == "en" and jfk.words
    assert cat.get_media(srcs[1].media_id).duration == pytest.approx(1.9, abs=0.5)
    (f,) = cat.failures()
    assert f.stage == "probe" and f.error_class == "MediaError" and f.attempts == 1

    before = _jobs(cat)
    # one job per step and item, like `vidpipe submit` makes (the broken one stops at probe)
    steps = runner.options.steps[1:]  # every media step, in pipeline order
    assert sorted((k, st) for k, _, st, *_ in before) == sorted(
        [(k, "succeeded") for k in steps] * 3 + [(k, "failed") for k in steps]
    )
    # a rerun does nothing: no job is made or run, failed items left alone
    _, again = _runner(tmp_path)
    summary2 = again.run([str(folder)])
    assert sum(summary2.ran.values()) == 0
    assert (summary2.done, summary2.failed) == (3, 1)
    assert _jobs(cat) == before
    assert len(cat.sources()) == 4 and cat.failures()[0].attempts == 1

    # --retry-failed tries the broken file again (and only it)
    _, retry = _runner(tmp_path, retry_failed=True)
    summary3 = retry.run([str(folder)])
    assert summary3.ran["probe"] == 1 and summary3.ran["transcribe"] == 0
    assert cat.failures()[0].attempts == 2
    assert [s.state for s in cat.sources()] == ["done", "done", "failed", "done"]

    # other options (a language) redo only the transcription
    _, relang = _runner(tmp_path, language="en")
    summary4 = relang.run([])
    assert summary4.ran["transcribe"] == 3 and summary4.ran["probe"] == 0
    cat.close()


def test_duplicate_content_and_steps(tmp_path, folder):
    shutil.copy(folder / "1.flac", folder / "1_copy.flac")
    cat, runner = _runner(tmp_path, steps=("ingest", "probe"))
    summary = runner.run([str(folder)])
    states = {Path(s.uri).name: (s.state, s.reason) for s in cat.sources()}
    assert states["1_copy.flac"][0] == "skipped"
    assert states["1_copy.flac"][1] == f"duplicate content of {folder / '1.flac'}"
    assert summary.ran["transcribe"] == 0 and summary.ran["probe"] == 4  # broken one too
    assert len(cat.all_media()) == 4  # 1, 2, 3 (broken), 10
    cat.close()


def _serve_dir(tmp_path) -> Path:
    srv = tmp_path / "srv"
    srv.mkdir()
    shutil.copy(DATA / "jfk.flac", srv / "jfk.flac")
    shutil.copy(DATA / "jfk.flac", srv / "jfk_again.flac")
    for i in (1, 2, 3, 4):
        shutil.copy(DATA / "en_dev" / f"LJ001-000{i}.wav", srv / f"lj{i}.wav")
    return srv


def test_link_list_every_line_accounted(tmp_path):
    srv_dir = _serve_dir(tmp_path)
    with MediaServer(srv_dir) as srv:
        lines = [
            "# videos to fetch",
            srv.url("lj1.wav"),  # 2
            "",
            srv.url("lj2.wav", fault="reset"),  # 4: resumed with Range
            srv.url("missing.mp4", fault="404"),  # 5
            # 6: two URLs glued together: split, each its own item
            srv.url("gone.mp4", fault="404") + srv.url("gone.wav", fault="404"),
            srv.url("lj1.wav"),  # 7: duplicate URL
            srv.url("lj3.wav", fault="500then200"),  # 8
            srv.url("jfk.flac"),  # 9
            srv.url("jfk_again.flac"),  # 10: same content as line 9
            srv.url("page.mp4", fault="html"),  # 11
        ]
        links = tmp_path / "links.txt"
        links.write_text("\n".join(lines) + "\n")
        cat, runner = _runner(tmp_path, steps=("ingest", "probe"))
        runner.run([str(links)])
        srcs = cat.sources()
        assert [s.line for s in srcs] == [2, 4, 5, 6, 6, 7, 8, 9, 10, 11]
        glued = [s for s in srcs if s.line == 6]
        assert [s.uri for s in glued] == [srv.url("gone.mp4", "404"), srv.url("gone.wav", "404")]
        for k, s in enumerate(glued, start=1):
            assert (s.state, s.reason) == ("failed", "download: HTTP 404 Not Found")
            assert s.meta == {"glued_line": lines[5], "part": k, "parts": 2}
        got = {s.line: (s.state, s.reason) for s in srcs if s.line != 6}
        assert got[2] == ("done", None)
        assert got[4] == ("done", None)
        assert got[5] == ("failed", "download: HTTP 404 Not Found")
        assert got[7] == ("skipped", "duplicate of line 2 of links.txt")
        assert got[8] == ("done", None)
        assert got[9] == ("done", None)
        assert got[10] == ("skipped", "duplicate content of line 9 of links.txt")
        assert got[11][0] == "failed" and got[11][1].startswith("download: ")
        for s in srcs:
            if s.state == "done":
                m = cat.get_media(s.media_id)
                name = s.uri.rsplit("/", 1)[1]
                assert m.sha256 == _sha(srv_dir / name) == _sha(m.path)
                assert Path(m.path).parent == tmp_path / "media"
        assert not list((tmp_path / "media").glob("*.part"))
        assert srv.full_downloads("lj2.wav") == 0  # half, then the rest by Range
        n_requests = len(srv.requests)
        _, again = _runner(tmp_path, steps=("ingest", "probe"))
        assert sum(again.run([str(links)]).ran.values()) == 0
        assert len(srv.requests) == n_requests  # nothing fetched again
        cat.close()


def _snapshot(db: Path) -> dict:
    with sqlite3.connect(db) as conn:
        sources = conn.execute(
            "SELECT s.position, s.uri, s.line, s.state, s.reason, m.sha256 "
            "FROM sources s LEFT JOIN media m ON m.id = s.media_id ORDER BY s.position"
        ).fetchall()
        media = sorted(r[0] for r in conn.execute("SELECT sha256 FROM media"))
        texts = sorted(
            conn.execute(
                "SELECT m.sha256, group_concat(g.text, '|') FROM transcripts t "
                "JOIN media m ON m.id = t.media_id JOIN segments g ON g.transcript_id = t.id "
                "GROUP BY m.sha256"
            ).fetchall()
        )
        stages = conn.execute(
            "SELECT m.sha256, st.stage, st.status FROM stages st "
            "JOIN media m ON m.id = st.media_id ORDER BY 1, 2"
        ).fetchall()
    return {"sources": sources, "media": media, "texts": texts, "stages": stages}


def _done_count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM sources WHERE state='done'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_sigkill_mid_batch_resumes_to_same_catalog(tmp_path):
    srv_dir = _serve_dir(tmp_path)
    with MediaServer(srv_dir, latency=(0.3, 0.5)) as srv:
        names = ["lj1.wav", "lj2.wav", "lj3.wav", "lj4.wav", "jfk.flac", "jfk_again.flac"]
        lines = [srv.url(n) for n in names]
        lines.insert(2, srv.url("gone.mp4", fault="404"))
        lines.append(srv.url("lj1.wav"))
        links = tmp_path / "links.txt"
        links.write_text("\n".join(lines) + "\n")
        cmd = [
            sys.executable,
            "-m",
            "vidpipe",
            "run",
            str(links),
            "-m",
            "tiny.en",
            "--concurrency",
            "1",
            "--retries",
            "1",
            "-q",
        ]

        def env(home: Path) -> dict:
            return dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="")

        home_a, home_b = tmp_path / "a", tmp_path / "b"
        proc = subprocess.Popen(cmd, env=env(home_a), stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _done_count(home_a / "catalog.db") < 1:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no item finished in 60 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stderr.close()
        killed_at = _done_count(home_a / "catalog.db")
        assert 1 <= killed_at < len(names) - 1  # really mid-batch
        # what the killed client had on disk: complete files and partial .part files
        on_disk = {f.name: f.stat().st_size for f in (home_a / "media").iterdir()}
        n_killed = len(srv.requests)
        rerun = subprocess.run(cmd, env=env(home_a), capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 1, rerun.stderr  # the 404 line fails
        rerun_requests = srv.requests[n_killed:]
        interrupted_requests = list(srv.requests)
        clean = subprocess.run(cmd, env=env(home_b), capture_output=True, text=True, timeout=120)
        assert clean.returncode == 1, clean.stderr
        file_names = {n: safe_filename(srv.url(n)) for n in names}

    a, b = _snapshot(home_a / "catalog.db"), _snapshot(home_b / "catalog.db")
    assert a == b
    states = [r[3] for r in a["sources"]]
    assert states == ["done", "done", "failed", "done", "done", "done", "skipped", "skipped"]
    assert len(a["texts"]) == 5 and all(t for _, t in a["texts"])
    for name in names:
        size = (srv_dir / name).stat().st_size
        again = [r for r in rerun_requests if r["name"] == name and r["method"] == "GET"]
        if on_disk.get(file_names[name]) == size:  # complete before the kill: not fetched
            # again; if not yet recorded, checked against the server's length (byte 0 only)
            got = [(r["range"], r["bytes_sent"]) for r in again]
            assert got in ([], [("bytes=0-0", 1)]), name
        part = on_disk.get(file_names[name] + ".part", 0)
        if part:  # partial before the kill: resumed with Range, never fetched whole
            assert all(r["status"] in (206, 416) for r in again), (name, again)
        full = [
            r
            for r in interrupted_requests
            if r["name"] == name and r["status"] == 200 and r["bytes_sent"] == size
        ]
        # A response the server had pushed into the socket before the kill but the client
        # never read (no bytes on disk) is the only case where the whole file is sent twice.
        assert len(full) <= 1 or (file_names[name] not in on_disk and not part), name


def _vidpipe(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="")
    cmd = [sys.executable, "-m", "vidpipe", *args]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("order", ["list-first", "file-first"])
def test_duplicate_content_never_deletes_a_file(tmp_path, order):
    # issue 9.1: `vidpipe ingest l.txt mine/my_original.flac --dest mine` deleted the
    # user's own file because it sat in --dest and had the same content as the download
    srv_dir = tmp_path / "srv"
    srv_dir.mkdir()
    shutil.copy(DATA / "jfk.flac", srv_dir / "jfk.flac")
    mine = tmp_path / "mine"
    mine.mkdir()
    original = mine / "my_original.flac"
    shutil.copy(DATA / "jfk.flac", original)
    before = original.read_bytes()
    with MediaServer(srv_dir) as srv:
        (tmp_path / "l.txt").write_text(srv.url("jfk.flac") + "\n")
        inputs = ["l.txt", "mine/my_original.flac"]
        if order == "file-first":
            inputs.reverse()
        r = _vidpipe(tmp_path / "home", "ingest", *inputs, "--dest", "mine", cwd=tmp_path)
        downloaded = mine / safe_filename(srv.url("jfk.flac"))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in mine.iterdir()) == sorted([original.name, downloaded.name])
    assert original.read_bytes() == before == downloaded.read_bytes()
    with Catalog(f"sqlite:///{tmp_path / 'home' / 'catalog.db'}") as cat:
        got = {s.kind: (s.state, s.reason) for s in cat.sources()}
        (media,) = cat.all_media()
    if order == "list-first":  # the file is the later line
        assert got["file"] == ("skipped", "duplicate content of line 1 of l.txt")
        assert got["list-entry"] == ("done", None)
        assert media.path == str(downloaded)
    else:  # the download is the later line
        assert got["file"] == ("done", None)
        assert got["list-entry"] == ("skipped", f"duplicate content of {original}")
        assert media.path == str(original)


def test_video_without_audio_is_not_a_failure(tmp_path):
    from vidpipe.library.report import build_report

    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(DATA / "video" / "moviepy_example.mp4", d / "1_silent.mp4")  # no audio track
    shutil.copy(DATA / "en_dev" / "LJ001-0008.wav", d / "2_speech.wav")
    reason = "audio, transcribe: skipped: no audio track"
    cat, runner = _runner(tmp_path, steps=parse_steps("all"))
    summary = runner.run([str(d)])
    silent, speech = cat.sources()
    assert (silent.state, silent.reason) == ("done", reason)
    assert (speech.state, speech.reason) == ("done", None)
    assert (summary.done, summary.failed, summary.no_audio) == (2, 0, 1)
    assert summary.ran["transcribe"] == 1  # only the speech file
    jobs = {k: (st, (r or {}).get("skipped")) for k, st, r in _chain(cat, silent.id)}
    assert jobs == {
        "probe": ("succeeded", None),
        "audio": ("succeeded", "no audio track"),
        "transcribe": ("succeeded", "no audio track"),
    }
    assert cat.get_media(silent.media_id).width and cat.get_transcript(silent.media_id) is None
    assert not cat.failures()
    rep = build_report(cat)
    assert rep.totals["no_audio"] == 1 and rep.totals["failed"] == 0
    assert [r.reason for r in rep.rows] == [reason, None]
    _, again = _runner(tmp_path, steps=parse_steps("all"))
    assert sum(again.run([str(d)]).ran.values()) == 0  # a rerun does nothing

    # without the probe step the audio step finds out; describe is not audio-dependent
    _, other = _runner(tmp_path / "x", steps=("ingest", "audio", "transcribe", "describe"))
    s2 = other.run([str(d / "1_silent.mp4")])
    (src,) = other.catalog.sources()
    assert s2.ran["audio"] == 1 and s2.ran["transcribe"] == 0 and s2.ran["describe"] == 1
    st = {k: (r or {}).get("skipped", "done") for k, _, r in _chain(other.catalog, src.id)}
    assert st["audio"] == st["transcribe"] == "no audio track" and st["describe"] == "done"
    other.catalog.close()
    cat.close()


# ``vidpipe run`` with packing groups of 2 (instead of 32), its groups written to a file,
# and (with KILL_AFTER) a SIGKILL right after that many transcripts were recorded
_PACKED_RUN = """
import json, os, signal, sys
import importlib
t = importlib.import_module('vidpipe.speech.transcribe')
from vidpipe.library.catalog import Catalog
from vidpipe.pipeline.registry import TranscribeStage

t.PACK_GROUP = 2
real_ahead, real_save, recorded = TranscribeStage.ahead, Catalog.save_transcript, []

def ahead(paths, options, threads=None):
    with open(os.environ["GROUPS_LOG"], "a") as f:
        f.write(json.dumps([p.name for p in paths]) + "\\n")
    return real_ahead(paths, options, threads)

def save(self, media_id, *args, **kw):
    real_save(self, media_id, *args, **kw)
    recorded.append(media_id)
    if len(recorded) == int(os.environ.get("KILL_AFTER", 0)):
        os.kill(os.getpid(), signal.SIGKILL)

TranscribeStage.ahead, Catalog.save_transcript = staticmethod(ahead), save
from vidpipe.cli import main
sys.argv[0] = "vidpipe"
main()
"""


def test_resumed_run_packs_the_same_groups_and_gets_the_same_transcripts(tmp_path):
    """The packing guarantee (README, "Many short files"): a run's groups come from its
    input list alone, so a run killed inside a group and resumed re-forms that group
    (its already recorded file included) and every transcript equals an uninterrupted
    run's. The old runner grouped the resumed run's remaining files: [2, 3] then [4, 5]."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(1, 6):  # 1..5.wav: groups [1, 2], [3, 4], [5] (5 is transcribed alone)
        shutil.copy(DATA / "en_dev" / f"LJ001-000{i}.wav", folder / f"{i}.wav")

    def run(home: Path, kill_after: int = 0) -> subprocess.CompletedProcess:
        env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="")
        env |= {"GROUPS_LOG": str(home.with_suffix(".groups")), "KILL_AFTER": str(kill_after)}
        home.mkdir(exist_ok=True)
        cmd = [sys.executable, "-c", _PACKED_RUN, "run", str(folder), "-m", "tiny.en", "-q"]
        cmd += ["--steps", "ingest,probe,transcribe"]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)

    def groups(home: Path) -> list[list[str]]:
        lines = home.with_suffix(".groups").read_text().splitlines()
        return [json.loads(x) for x in lines]

    def transcripts(home: Path) -> dict[str, list]:
        cat = Catalog(f"sqlite:///{home / 'catalog.db'}")
        try:
            return {
                Path(m.path).name: [(s.start, s.end, s.text) for s in tr.segments]
                for m in cat.all_media()
                if (tr := cat.get_transcript(m.id)) is not None
            }
        finally:
            cat.close()

    killed, clean = tmp_path / "a", tmp_path / "b"
    first = run(killed, kill_after=1)
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert groups(killed) == [["1.wav", "2.wav"]] and list(transcripts(killed)) == ["1.wav"]
    resumed = run(killed)
    assert resumed.returncode == 0, resumed.stderr
    assert groups(killed) == [["1.wav", "2.wav"], ["1.wav", "2.wav"], ["3.wav", "4.wav"]]
    assert run(clean).returncode == 0
    assert groups(clean) == [["1.wav", "2.wav"], ["3.wav", "4.wav"]]
    got, want = transcripts(killed), transcripts(clean)
    assert sorted(want) == [f"{i}.wav" for i in range(1, 6)] and all(want.values())
    assert got == want
