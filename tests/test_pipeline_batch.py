"""``vidpipe run`` and ``vidpipe submit`` on the one stage registry (in-process, SQLite).

- the run steps, their order and which need audio come from the stage classes;
- ``vidpipe run`` makes the jobs ``vidpipe submit`` makes (same kinds, params and
  hashes), runs them in-process, leaves them succeeded, writes no job files; a
  summary's cache hash includes the transcript's;
- a submitted file without an audio track: its audio and transcribe jobs succeed as
  ``skipped: no audio track``, describe-like stages still run, and its source ends
  ``done`` with run's reason; a failing probe fails the source with ``probe: ...``
  (not ``dependency ... failed``), and a retry puts it back to ``pending``;
- download jobs go to the I/O queue, the others to the CPU queue.
"""

from __future__ import annotations

import shutil

import pytest

from conftest import DATA
from vidpipe.library.catalog import Catalog
from vidpipe.pipeline import queue as q
from vidpipe.pipeline.execute import run_job
from vidpipe.pipeline.jobs import JobStore
from vidpipe.pipeline.registry import STAGES, get_stage
from vidpipe.pipeline.runner import AUDIO_STAGES, DEFAULT_ALL, STEPS, RunOptions, run
from vidpipe.pipeline.submit import submit

SILENT = DATA / "video" / "moviepy_example.mp4"  # a video without an audio track
BROKEN = DATA / "broken" / "tinytag_invalid_file.wav"


@pytest.fixture
def store(tmp_path):
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield JobStore(cat, root=tmp_path / "store")
    cat.close()


def _queue(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'queue.db'}"


def test_steps_come_from_the_stage_classes():
    assert STEPS == (
        "ingest", "probe", "audio", "transcribe", "diarize", "summarize", "chapters", "describe",
        "embed",
    )  # fmt: skip
    # embed is a media step that `--steps all` does not choose (it is named)
    assert DEFAULT_ALL == ("ingest", "probe", "audio", "transcribe")
    assert AUDIO_STAGES == ("audio", "transcribe", "diarize", "summarize", "chapters", "embed")
    assert [n for n, s in STAGES.items() if s.resource == "io"] == ["download"]


def test_run_leaves_the_jobs_submit_makes(tmp_path, store):
    opts = RunOptions(steps=("ingest", "probe", "audio"), model="tiny.en")
    summary = run([str(DATA / "jfk.flac")], store.catalog, opts)
    assert (summary.done, summary.ran["probe"], summary.ran["audio"]) == (1, 1, 1)
    ran = store.get_many(summary.job_ids)
    assert [(j.kind, j.status) for j in ran] == [("probe", "succeeded"), ("audio", "succeeded")]
    assert all(not j.artifacts for j in ran)  # run's results are the catalog rows
    assert (
        ran[1].depends_on == [ran[0].id] and ran[0].result["media_id"] == ran[1].result["media_id"]
    )
    # the same input submitted: the same kinds, params and hashes
    sub = submit(store, [str(DATA / "jfk.flac")], opts, url=_queue(tmp_path))
    made = sub.chains[0].jobs
    assert [(j.kind, j.params, j.params_hash) for j in made] == [
        (j.kind, j.params, j.params_hash) for j in ran
    ]
    params = opts.stage_params()
    for job in ran:
        stage = get_stage(job.kind)
        assert job.params_hash == stage.options_hash(stage.parse_options(params[job.kind]))
    # a summary's cache hash includes the transcript's: other transcribe options, other hash
    tr, sm = get_stage("transcribe"), get_stage("summarize")
    hashes = {"transcribe": tr.options_hash(tr.parse_options(params["transcribe"]))}
    mine = sm.options_hash(sm.parse_options(params["summarize"]), upstream=hashes)
    other = sm.options_hash(sm.parse_options(params["summarize"]), upstream={"transcribe": "x"})
    assert mine != other != sm.options_hash(sm.parse_options(params["summarize"]))


def test_submitted_silent_file_and_broken_file_settle_their_sources(tmp_path, store):
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(SILENT, d / "1_silent.mp4")
    shutil.copy(BROKEN, d / "2_broken.wav")
    opts = RunOptions(steps=("ingest", "probe", "audio", "transcribe", "describe"))
    sub = submit(store, [str(d)], opts, url=_queue(tmp_path))
    silent, broken = sub.chains
    assert [j.kind for j in silent.jobs] == ["probe", "audio", "transcribe", "describe"]
    assert [s.state for s in store.catalog.sources()] == ["pending", "pending"]
    for chain in sub.chains:
        for job in chain.jobs:
            run_job(store, job.id)
    jobs = {j.kind: j for j in store.get_many([j.id for j in silent.jobs])}
    assert all(j.status == "succeeded" for j in jobs.values())
    assert (
        jobs["audio"].result["skipped"] == jobs["transcribe"].result["skipped"] == "no audio track"
    )
    assert "skipped" not in jobs["describe"].result  # describe does not need audio
    assert not jobs["audio"].artifacts
    bad = store.get_many([j.id for j in broken.jobs])
    assert bad[0].status == "failed" and bad[1].error.message.startswith("dependency ")
    got = {s.uri.rsplit("/", 1)[1]: (s.state, s.reason) for s in store.catalog.sources()}
    assert got["1_silent.mp4"] == ("done", "audio, transcribe: skipped: no audio track")
    state, reason = got["2_broken.wav"]
    assert state == "failed" and reason.startswith("probe: ") and "dependency" not in reason
    assert "not a recognised audio or video file" in reason
    (failure,) = store.catalog.failures()
    assert (failure.stage, failure.error_class) == ("probe", "MediaError")
    # a retry runs the chain again: its source waits for it
    store.retry(bad[0].id)
    broken_src = next(s for s in store.catalog.sources() if s.uri.endswith("2_broken.wav"))
    assert (broken_src.state, broken_src.reason) == ("pending", None)


def test_ingest_only_submit_and_the_two_queues(tmp_path, store):
    url = _queue(tmp_path)
    sub = submit(store, [str(DATA / "jfk.flac")], RunOptions(steps=("ingest",)), url=url)
    assert sub.job_ids == [] and sub.chains[0].state == "done"
    assert store.catalog.sources()[0].state == "done"
    down = store.create("download", {}, input={"url": "http://127.0.0.1:9/a.wav"})
    probe = store.create("probe", {}, input={"path": str(DATA / "jfk.flac")})
    assert q.enqueue([down, probe], url=url) == 2
    assert {t.args[0] for t in q.get_queue(url, "io").pending()} == {down.id}
    assert {t.args[0] for t in q.get_queue(url, "cpu").pending()} == {probe.id}
    assert q.messages(url) == {down.id, probe.id}


def test_rerun_after_a_kill_between_recording_and_finishing_a_download(tmp_path, store):
    """A ``vidpipe run`` killed after its download job recorded the item but before the
    job ended: the rerun's plan starts at the item's next step (the source has a media
    id), adopts that step's waiting job, and must also run the download it waits on
    (it hung, waiting for a job nobody ran)."""
    import hashlib
    import socket
    import subprocess
    import sys
    import threading

    from servers.http_media import MediaServer
    from vidpipe.library.ingest import record_by_content
    from vidpipe.pipeline.plan import plan_chains

    root = tmp_path / "served"
    root.mkdir()
    shutil.copy(DATA / "jfk.flac", root / "jfk.flac")
    opts = RunOptions(steps=("ingest", "probe"), dest=tmp_path / "dl")
    with MediaServer(root) as srv:
        url = srv.url("jfk.flac")
        sub = plan_chains(store, [url], opts, reuse=True)
        download, probe = sub.chains[0].jobs
        assert (download.kind, probe.kind, probe.status) == ("download", "probe", "waiting")
        # the killed run: it held the download and had recorded the item
        pid = [sys.executable, "-c", "import os; print(os.getpid())"]
        gone = subprocess.run(pid, capture_output=True, text=True, check=True).stdout.strip()
        assert store.claim(download.id, f"{socket.gethostname()}:{gone}:dead") is not None
        (tmp_path / "dl").mkdir()
        got = tmp_path / "dl" / "jfk.flac"
        shutil.copy(root / "jfk.flac", got)
        src = store.catalog.get_source(sub.chains[0].source.id)
        digest = hashlib.sha256(got.read_bytes()).hexdigest()
        record_by_content(store.catalog, src, got, digest, got.stat().st_size)

        again = plan_chains(store, [url], opts, reuse=True)
        assert again.job_ids == [download.id, probe.id]
        out: list = []
        runner = threading.Thread(target=lambda: out.append(run([url], store.catalog, opts)))
        runner.daemon = True
        runner.start()
        runner.join(120)
        assert not runner.is_alive(), "the rerun waits for a job it does not run"
    (summary,) = out
    assert summary.done == 1
    assert [j.status for j in store.get_many([download.id, probe.id])] == ["succeeded"] * 2
