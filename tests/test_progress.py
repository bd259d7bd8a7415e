"""Progress and cancel from inside long stages (issue 19, item 4).

A transcribe job on the 2:07 recording reports intermediate progress (audio seconds
per decoded 30 s window) in its job row and, canceled mid-run, ends ``canceled``
within 2 s with no result and no files, its dependent failing with ``dependency <id>
failed: canceled`` (that a whole run reports at least 5 intermediate values, one per
window, is checked by ``test_wer``'s long-form run). An embed stage reports audio
seconds per encoded window through ``ctx.progress``. :func:`vidpipe.progress.run_polled`
hands a raising callback's error to its caller at once.
"""

from __future__ import annotations

import threading
import time

import pytest

from conftest import DATA
from vidpipe.library.catalog import Catalog
from vidpipe.pipeline.execute import run_job
from vidpipe.pipeline.jobs import DEPENDENCY_FAILED, JobStore
from vidpipe.pipeline.registry import get_stage
from vidpipe.pipeline.stages import StageContext, StageInput, StageInputs
from vidpipe.progress import run_polled

LONG = DATA / "en_long" / "bush_radio_address_2008-11-01_gb0.wav"  # 2:07, 5 windows


@pytest.fixture
def store(tmp_path):
    s = JobStore(Catalog(f"sqlite:///{tmp_path / 'catalog.db'}"), root=tmp_path / "storage")
    yield s
    s.catalog.close()


def _watch(store: JobStore, job_id: str, box: dict, stop_after: int | None = None):
    """Run job ``job_id`` in a thread; poll its row every 20 ms. Returns the distinct
    intermediate progress values seen (0 < p < 1, in order) and, when ``stop_after``
    values were seen, the seconds from the cancel request to the row reading
    ``canceled``."""
    runner = threading.Thread(target=lambda: box.update(job=run_job(store, job_id)))
    runner.start()
    seen: list[float] = []
    latency = None
    asked = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        row = store.get(job_id)
        if 0.0 < row.progress < 1.0 and (not seen or row.progress != seen[-1]):
            seen.append(row.progress)
        if row.status != "running" and row.status != "queued":
            if asked is not None:
                latency = time.monotonic() - asked
            break
        if stop_after is not None and asked is None and len(seen) >= stop_after:
            store.cancel(job_id)
            asked = time.monotonic()
        time.sleep(0.02)
    runner.join(60)
    return seen, latency


def test_transcribe_job_progress_and_cancel_within_2s(store):
    job = store.create("transcribe", {"model": "tiny.en"}, input={"path": str(LONG)})
    after = store.create("probe", {}, input={"path": str(LONG)}, depends_on=[job.id])
    box: dict = {}
    seen, latency = _watch(store, job.id, box, stop_after=2)
    end = box["job"]
    assert (end.status, end.error.error_class, end.result) == ("canceled", "Canceled", None)
    assert latency is not None and latency < 2.0, latency
    assert seen == sorted(seen) and len(seen) >= 2 and end.progress < 1.0
    # no partial result: no files, no transcript on the media item
    assert end.artifacts == [] and not any(store.job_dir(job.id).glob("*"))
    assert all(store.catalog.get_transcript(m.id) is None for m in store.catalog.all_media())
    dep = store.get(after.id)
    assert (dep.status, dep.error.error_class) == ("failed", DEPENDENCY_FAILED)
    assert dep.error.message == f"dependency {job.id} failed: canceled"


def test_embed_stage_reports_audio_seconds_per_window(tmp_path):
    from vidpipe.media.audio import decode_audio
    from vidpipe.media.audio_writer import AudioWriter

    # the recording's first 75 s (each window is the encoder's time: 3 windows, not 5)
    clip = tmp_path / "radio_75s.wav"
    with AudioWriter(clip, 16000) as w:
        w.write(decode_audio(LONG, 16000)[: 75 * 16000])
    got: list[tuple[float, str | None]] = []
    work = tmp_path / "work"
    work.mkdir()
    ctx = StageContext(work_dir=work, on_progress=lambda f, s: got.append((f, s)))
    stage = get_stage("embed")
    opts = stage.parse_options({"model": "whisper:tiny.en"})
    out = stage.run(ctx, StageInputs(StageInput(path=str(clip))), opts)
    assert out.result["dim"] == 384
    middle = [f for f, _ in got if 0.0 < f < 1.0]
    # 75 s: two full 30 s windows (30/75, 60/75), then the rest
    assert middle == pytest.approx([0.4, 0.8], abs=0.01), got
    assert got[-1][0] == 1.0


def test_run_polled_stops_at_once_when_the_callback_raises():
    class Stop(Exception):
        pass

    calls: list[float] = []
    gate = threading.Event()

    def work(report):
        report(1.0)
        gate.wait(10)  # a native call that cannot call back
        report(2.0)  # raises Stopped: the caller has gone
        return "late"

    def progress(done: float, total: float) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise Stop

    t0 = time.monotonic()
    with pytest.raises(Stop):
        run_polled(work, progress, 3.0, interval=0.05)
    assert time.monotonic() - t0 < 1.0 and calls == [1.0, 1.0]
    gate.set()
    assert run_polled(lambda report: report(3.0) or "ok", progress, 3.0) == "ok"
