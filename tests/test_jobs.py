"""Jobs in the catalog (vidpipe.pipeline), on SQLite and on PostgreSQL.

Creation refuses bad jobs (params the stage's options model refuses, unknown kinds and
dependency ids, nothing to work on) without storing them; of several workers claiming
at once exactly one wins; expired leases are reaped and re-queued up to max attempts;
cancel and retry; a real chain speak + three card images -> render gives a playable
MP4 with the speak job's audio; a failing dependency fails its dependents with the
reason; a transcribe job gives the same transcript as ``vidpipe.transcribe``.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import numpy as np
import pytest

import vidpipe
from conftest import DATA
from vidpipe.errors import InputError, UsageError
from vidpipe.library.catalog import Catalog, owner_id
from vidpipe.library.models import utcnow
from vidpipe.pipeline.execute import run_job, run_next
from vidpipe.pipeline.jobs import DEPENDENCY_FAILED, JobCanceled, JobLost, JobStore
from vidpipe.pipeline.registry import get_stage, stage_names
from vidpipe.types import JobError

JFK = DATA / "jfk.flac"
BROKEN = DATA / "broken" / "tinytag_invalid_file.wav"
SMALL = {"width": 320, "height": 180}
FAST = SMALL | {"fps": 12, "preset": "ultrafast"}
TEXT = "Jobs wait for their inputs. A render job takes the voice and the cards."


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    """A fresh, empty catalog URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'catalog.db'}"
    return request.getfixturevalue("new_pg_url")()


@pytest.fixture
def store(url, tmp_path):
    s = JobStore(Catalog(url), root=tmp_path / "storage")
    yield s
    s.catalog.close()


@pytest.fixture(scope="module")
def jfk_direct():
    return vidpipe.transcribe(JFK, model="tiny.en", word_timestamps=True)


def _count(store: JobStore) -> int:
    return len(store.list(limit=1000).jobs)


# --------------------------------------------------------------------------- creation


def test_bad_jobs_are_refused_and_never_stored(store):
    with pytest.raises(UsageError, match=r"beam_size: Input should be greater than or equal to 1"):
        store.create("transcribe", {"beam_size": 0, "model": "tiny.en"}, input={"path": str(JFK)})
    with pytest.raises(UsageError, match=r"invalid audio params: bitrate: Extra inputs"):
        store.create("audio", {"bitrate": 9}, input={"path": str(JFK)})
    with pytest.raises(UsageError, match=r"width 321 is odd"):
        store.create(
            "render", {"width": 321}, input={"images": [str(DATA / "photos" / "brick.png")]}
        )
    with pytest.raises(UsageError, match=r"format: Input should be 'wav', 'flac', 'mp3' or 'm4a'"):
        store.create("audio", {"format": "ogg"}, input={"path": str(JFK)})
    with pytest.raises(UsageError, match=r"unknown job kind 'slideshow'") as refused:
        store.create("slideshow", {})
    assert refused.value.hint.startswith("use one of: download, probe, audio, transcribe")
    with pytest.raises(UsageError, match=r"unknown job 0000-missing in depends_on"):
        store.create("render", SMALL, depends_on=["0000-missing"])
    with pytest.raises(UsageError, match=r"a render job needs an input"):
        store.create("render", SMALL)
    with pytest.raises(UsageError, match=r"a transcribe job needs an input"):
        store.create("transcribe", {"model": "tiny.en"}, input={"text": "hello"})
    with pytest.raises(UsageError, match=r"max attempts 0"):
        store.create("probe", {}, input={"path": str(JFK)}, max_attempts=0)
    assert _count(store) == 0
    with pytest.raises(UsageError, match="unknown job kind"):
        get_stage("cluster")
    assert stage_names() == [
        "download", "probe", "audio", "transcribe", "diarize", "summarize", "chapters", "topics",
        "describe", "embed", "speak", "images", "render", "narrate", "proxy",
    ]  # fmt: skip
    with pytest.raises(UsageError, match=r"a narrate job needs an input"):
        store.create("narrate", {})
    with pytest.raises(UsageError, match=r"invalid narrate params: output: give a file name"):
        store.create("narrate", {"output": "x.avi"}, input={"text": "Hello."})
    with pytest.raises(UsageError, match=r"invalid topics params: .*cannot be combined"):
        store.create("topics", {"shortest": 2, "longest": 2})


def test_create_defaults_idempotency_list_and_get(store):
    a = store.create("probe", {}, input={"path": str(JFK)}, idempotency_key="probe-jfk")
    assert (a.status, a.attempts, a.max_attempts, a.depends_on) == ("queued", 0, 3, [])
    assert a.input == {"path": str(JFK.absolute())}
    # the same key gives back the same job, whatever else is passed
    again = store.create("probe", {}, input={"path": "other.wav"}, idempotency_key="probe-jfk")
    assert again.id == a.id
    t = store.create("transcribe", {"model": "tiny.en"}, input={"path": str(JFK)})
    # defaults are filled in and stored: the hash is the batch runner's transcribe hash
    assert t.params == {
        "model": "tiny.en",
        "language": "auto",
        "task": "transcribe",
        "word_timestamps": True,
        "beam_size": 5,
        "zh_script": "simplified",
    }
    from vidpipe.hashing import options_hash

    assert t.params_hash == options_hash(t.params)
    s = store.create("summarize", {}, depends_on=[t.id])
    assert s.status == "waiting" and s.depends_on == [t.id]
    page = store.list(limit=2)
    assert [j.id for j in page.jobs] == [s.id, t.id] and page.cursor == t.id
    rest = store.list(limit=2, cursor=page.cursor)
    assert [j.id for j in rest.jobs] == [a.id] and rest.cursor is None
    assert [j.id for j in store.list(status="queued").jobs] == [t.id, a.id]
    assert [j.id for j in store.list(status=["waiting"], kind="summarize").jobs] == [s.id]
    with pytest.raises(UsageError, match="unknown job status 'done'"):
        store.list(status="done")
    with pytest.raises(InputError, match="no job nope"):
        store.get("nope")


# --------------------------------------------------------------------------- claims and leases


def test_exactly_one_worker_wins_a_claim(url, tmp_path):
    stores = [JobStore(Catalog(url), root=tmp_path / "storage") for _ in range(3)]
    try:
        job = stores[0].create("probe", {}, input={"path": str(JFK)})
        owners = [owner_id() for _ in range(6)]
        won: dict[str, bool] = {}
        barrier = threading.Barrier(len(owners))

        def claim(i: int) -> None:
            barrier.wait()
            won[owners[i]] = stores[i % 3].claim(job.id, owners[i]) is not None

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(owners))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(won.values()) == [False] * 5 + [True]
        (winner,) = [o for o, w in won.items() if w]
        now = stores[1].get(job.id)
        assert (now.status, now.owner, now.attempts) == ("running", winner, 1)
        loser = next(o for o in owners if o != winner)
        with pytest.raises(JobLost):
            stores[2].succeed(job.id, loser, {"x": 1})
        with pytest.raises(JobLost):
            stores[2].heartbeat(job.id, loser)

        # claim-next: 8 queued jobs, 4 workers taking until none is left: each job once
        ids = {stores[0].create("probe", {}, input={"path": str(JFK)}).id for _ in range(8)}
        taken: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(4)

        def drain(i: int) -> None:
            me = owner_id()
            barrier.wait()
            while (j := stores[i % 3].claim_next(me, kinds=["probe"])) is not None:
                with lock:
                    taken.append(j.id)

        threads = [threading.Thread(target=drain, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(taken) == sorted(ids)
        assert stores[0].claim_next(owner_id()) is None
    finally:
        for s in stores:
            s.catalog.close()


def test_expired_lease_is_reaped_and_requeued_up_to_max_attempts(store):
    job = store.create("probe", {}, input={"path": str(JFK)}, max_attempts=2)
    dependent = store.create("audio", {}, input={"path": str(JFK)}, depends_on=[job.id])
    first, second = owner_id(), owner_id()
    assert store.claim(job.id, first, lease=30) is not None
    assert store.reap() == []  # the lease has not expired
    later = utcnow() + timedelta(seconds=60)
    (reaped,) = store.reap(now=later)
    assert (reaped.id, reaped.status, reaped.owner, reaped.attempts) == (job.id, "queued", None, 1)
    assert reaped.error.error_class == "LeaseExpired" and first in reaped.error.message
    with pytest.raises(JobLost):  # the killed worker, back: it writes nothing
        store.progress(job.id, first, 0.5, "late")
    assert store.claim(job.id, second, lease=30).attempts == 2
    (final,) = store.reap(now=later + timedelta(seconds=60))
    assert (final.status, final.attempts) == ("failed", 2)
    dep = store.get(dependent.id)
    assert dep.status == "failed" and dep.error.error_class == DEPENDENCY_FAILED
    assert dep.error.message == f"dependency {job.id} failed: the lease of {second} expired"


def test_failures_are_retried_until_max_attempts(store, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the storage root should be")
    broken_root = JobStore(store.catalog, root=blocker)
    job = broken_root.create("audio", {}, input={"path": str(JFK)}, max_attempts=2)
    # an output error is worth retrying: back to the queue, then failed at max attempts
    once = run_job(broken_root, job.id)
    assert (once.status, once.attempts, once.error.error_class) == ("queued", 1, "OutputError")
    twice = run_job(broken_root, job.id)
    assert (twice.status, twice.attempts) == ("failed", 2)
    assert "not-a-folder" in twice.error.message and twice.error.hint
    # fail() by hand: retry while attempts < max_attempts
    other = store.create("probe", {}, input={"path": str(JFK)}, max_attempts=2)
    me = owner_id()
    store.claim(other.id, me)
    err = JobError(error_class="RemoteError", message="HTTP 503", hint="try later")
    assert store.fail(other.id, me, err).status == "queued"
    store.claim(other.id, me)
    done = store.fail(other.id, me, err)
    assert (done.status, done.error) == ("failed", err)


def test_reaper_settles_a_source_its_dying_worker_left_pending(store, tmp_path, monkeypatch):
    """A worker killed between committing a chain's last job and updating the chain's
    source (seen once in CI: a source left ``pending`` forever): the reaper settles it."""
    from vidpipe.pipeline.queue import Reaper

    cat = store.catalog
    src = cat.add_source("http://127.0.0.1:9/page.mp4", "url", "links.txt", 3)
    other = cat.add_source("http://127.0.0.1:9/ok.wav", "url", "links.txt", 4)
    down = store.create("download", {}, input={"url": src.uri, "source_id": src.id})
    probe = store.create("probe", {}, input={"source_id": src.id}, depends_on=[down.id])
    running = store.create("download", {}, input={"url": other.uri, "source_id": other.id})
    me = owner_id()
    store.claim(down.id, me)
    store.claim(running.id, me)
    monkeypatch.setattr(store, "_chain_changed", lambda job_id: None)  # dies here
    err = JobError(error_class="DownloadError", message="HTTP 404 Not Found")
    store.fail(down.id, me, err, retry=False)
    monkeypatch.undo()
    assert store.get(probe.id).status == "failed"
    assert cat.get_source(src.id).state == "pending"  # nothing would ever settle it
    assert store.unsettled_sources() == [min(down.id, probe.id)]
    Reaper(store, f"sqlite:///{tmp_path / 'queue.db'}").run_once()
    settled = cat.get_source(src.id)
    assert (settled.state, settled.reason) == ("failed", "download: HTTP 404 Not Found")
    assert cat.get_source(other.id).state == "pending"  # its chain still runs
    assert store.unsettled_sources() == []


# --------------------------------------------------------------------------- dependencies


def test_failing_dependency_fails_its_dependents_with_the_reason(store):
    bad = store.create("transcribe", {"model": "tiny.en"}, input={"path": str(BROKEN)})
    summary = store.create("summarize", {}, depends_on=[bad.id])
    chapters = store.create("images", SMALL, depends_on=[summary.id, bad.id])
    assert (summary.status, chapters.status) == ("waiting", "waiting")
    done = run_job(store, bad.id)
    # not media: fails the same way every time, so it is not retried
    assert (done.status, done.attempts, done.error.error_class) == ("failed", 1, "MediaError")
    assert BROKEN.name in done.error.message
    s, c = store.get(summary.id), store.get(chapters.id)
    assert s.status == "failed" and s.error.message == (
        f"dependency {bad.id} failed: {done.error.message}"
    )
    assert c.status == "failed" and c.error.message.startswith(
        f"dependency {summary.id} failed: dependency {bad.id} failed: "
    )
    # a job created on a failed dependency fails at once
    late = store.create("chapters", {}, depends_on=[bad.id])
    assert late.status == "failed" and late.error.error_class == DEPENDENCY_FAILED
    # running a job that is not queued does nothing
    assert run_job(store, summary.id).status == "failed"


def test_cancel_waiting_queued_and_running_jobs(store):
    queued = store.create("speak", {}, input={"text": TEXT})
    waiting = store.create("images", SMALL, depends_on=[queued.id])
    after = store.create("render", FAST, depends_on=[waiting.id])
    c = store.cancel(waiting.id)
    assert (c.status, c.error.error_class) == ("canceled", "Canceled") and c.finished_at
    assert store.get(after.id).error.message == f"dependency {waiting.id} failed: canceled"
    assert store.cancel(queued.id).status == "canceled"
    assert store.claim(queued.id, owner_id()) is None  # a canceled job is never claimed
    with pytest.raises(UsageError, match="already canceled"):
        store.cancel(queued.id)

    # running: flagged; the runner stops at its next progress report
    pics = [str(DATA / "photos" / n) for n in ("brick.png", "coffee.png", "grass.png")]
    # 10 minutes of video (about 5 s to render): canceled once the rendering step shows
    long = store.create("render", FAST | {"durations": [200.0] * 3}, input={"images": pics})
    box: dict = {}
    runner = threading.Thread(target=lambda: box.update(job=run_job(store, long.id)))
    runner.start()
    deadline = time.monotonic() + 60
    seen: set[float] = set()  # progress per frame: values between 0 and 1 in the job row
    while len(seen) < 2 and time.monotonic() < deadline:
        row = store.get(long.id)
        if row.step == "rendering" and 0.0 < row.progress < 1.0:
            seen.add(row.progress)
        time.sleep(0.02)
    flagged = store.cancel(long.id)
    assert (flagged.status, flagged.cancel_requested) == ("running", True)
    runner.join(120)
    end = box["job"]
    assert (end.status, end.error.error_class, end.result) == ("canceled", "Canceled", None)
    assert len(seen) == 2 and 0.0 < end.progress < 0.5  # it stopped, it did not render it all
    # no video, not even a half-written temporary one
    assert not any(store.job_dir(long.id).iterdir())
    with pytest.raises(UsageError, match="is queued") as refused:
        store.retry(store.create("probe", {}, input={"path": str(JFK)}).id)
    assert refused.value.hint == "only failed or canceled jobs can be retried"


def test_retry_a_failed_job_and_its_dependents(store, tmp_path):
    root = tmp_path / "later"
    root.write_text("not a folder yet")
    flaky = JobStore(store.catalog, root=root)
    job = flaky.create("audio", {"format": "flac"}, input={"path": str(JFK)}, max_attempts=1)
    dependent = flaky.create("probe", {}, input={"path": str(JFK)}, depends_on=[job.id])
    failed = run_job(flaky, job.id)
    assert (failed.status, failed.error.error_class) == ("failed", "OutputError")
    assert flaky.get(dependent.id).status == "failed"
    root.unlink()
    again = flaky.retry(job.id)
    assert (again.status, again.attempts, again.error) == ("queued", 0, None)
    assert flaky.get(dependent.id).status == "waiting"  # failed by it: waits again
    done = run_job(flaky, job.id)
    assert done.status == "succeeded" and done.result["duration"] == pytest.approx(11.0, abs=0.1)
    (flac,) = flaky.artifact_paths(done)
    assert flac == root / "jobs" / job.id / "audio.flac"
    assert vidpipe.probe(flac).audio_streams[0].codec == "flac"
    assert flaky.get(dependent.id).status == "queued"
    probed = run_next(flaky, kinds=["probe"])
    assert probed.id == dependent.id and probed.status == "succeeded"
    assert [st["codec"] for st in probed.result["streams"] if st["type"] == "audio"] == ["flac"]


# --------------------------------------------------------------------------- real chains


def test_speak_and_three_image_jobs_render_a_video(store):
    speak = store.create("speak", {}, input={"text": TEXT})
    cards = [
        store.create("images", SMALL, input={"text": t})
        for t in ("Jobs wait", "The voice track", "Slide images")
    ]
    render = store.create("render", FAST, depends_on=[speak.id, *[c.id for c in cards]])
    assert render.status == "waiting"
    for j in (speak, *cards):
        assert run_job(store, j.id).status == "succeeded"
    assert store.get(render.id).status == "queued"
    done = run_job(store, render.id)
    assert done.status == "succeeded", done.error
    assert (done.progress, done.attempts, done.result["slides"]) == (1.0, 1, 3)
    assert done.artifacts == [f"jobs/{render.id}/video.mp4"]
    video = store.root / done.artifacts[0]
    info = vidpipe.probe(video)
    (v,) = info.video_streams
    (a,) = info.audio_streams
    assert (v.codec, v.width, v.height, a.codec) == ("h264", 320, 180, "aac")
    spoken = store.get(speak.id)
    wav = store.root / spoken.artifacts[0]
    assert wav.name == "speech.wav"
    assert info.duration == pytest.approx(spoken.result["duration"], abs=0.15)
    # the video's sound is the speak job's speech: same loudness envelope (RMS of 50 ms
    # frames; a VAD's speech/pause booleans flip near its threshold and made this flaky)
    from vidpipe.media.audio import decode_audio

    def envelope(path):
        mono = decode_audio(path, sample_rate=16000)
        mono = mono if mono.ndim == 1 else mono.mean(axis=1)
        frames = mono[: mono.size // 800 * 800].reshape(-1, 800).astype(np.float64)
        return np.sqrt(np.mean(frames**2, axis=1))

    ours, theirs = envelope(video), envelope(wav)
    n = min(len(ours), len(theirs))
    assert np.corrcoef(ours[:n], theirs[:n])[0, 1] > 0.9
    # the cards are the image jobs' pictures, in depends_on order
    pics = [store.root / store.get(c.id).artifacts[0] for c in cards]
    assert all(p.name == "cards-001.png" for p in pics) and len(set(pics)) == 3


def test_transcribe_job_matches_vidpipe_transcribe(store, jfk_direct):
    job = store.create("transcribe", {"model": "tiny.en"}, input={"path": str(JFK)})
    summary = store.create("summarize", {"max_chunk": 30}, depends_on=[job.id])
    chapters = store.create("chapters", {}, depends_on=[job.id])
    done = run_job(store, job.id)
    assert done.status == "succeeded", done.error
    direct = [(s.start, s.end, s.text) for s in jfk_direct.segments]
    from vidpipe.types import Transcript

    (artifact,) = store.artifact_paths(done)
    assert artifact.name == "transcript.json"
    stored = Transcript.model_validate_json(artifact.read_text(encoding="utf-8"))
    assert [(s.start, s.end, s.text) for s in stored.segments] == direct
    assert [w.word for w in stored.words] == [w.word for w in jfk_direct.words]
    mid = done.result["media_id"]
    in_catalog = store.catalog.get_transcript(mid)
    assert [(s.start, s.end, s.text) for s in in_catalog.segments] == direct
    assert store.catalog.transcript_row(mid).options_hash == done.params_hash
    # the dependent summarize job reads that item's transcript
    s = run_job(store, summary.id)
    assert s.status == "succeeded", s.error
    assert s.result["media_id"] == mid and "country" in s.result["overall"].lower()
    c = run_job(store, chapters.id)
    assert c.status == "succeeded", c.error
    assert [ch["start"] for ch in c.result["chapters"]] == [0.0]
    assert c.artifacts[0] == f"jobs/{chapters.id}/chapters.chapters.txt"
    # the file was recorded in the catalog once, by content
    assert [m.id for m in store.catalog.all_media()] == [mid]


def test_progress_and_heartbeat_stop_a_canceled_job(store):
    job = store.create("probe", {}, input={"path": str(JFK)})
    me = owner_id()
    store.claim(job.id, me)
    store.progress(job.id, me, 0.25, "probing\nthe file")
    now = store.get(job.id)
    assert (now.progress, now.step) == (0.25, "probing the file")
    store.cancel(job.id)
    with pytest.raises(JobCanceled):
        store.heartbeat(job.id, me)
    assert store.finish_canceled(job.id, me).status == "canceled"


def test_bad_input_is_refused(store):
    with pytest.raises(UsageError, match=r"invalid probe input: link: Extra inputs") as refused:
        store.create("probe", {}, input={"link": "http://example.com/a.mp4"})
    assert refused.value.hint == "see the probe stage's input"
    with pytest.raises(UsageError, match=r"invalid probe input: media_id: Input should be greater"):
        store.create("probe", {}, input={"media_id": 0})
    assert _count(store) == 0
