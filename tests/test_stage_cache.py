"""The one stage cache (vidpipe.pipeline.cache) and the stages built on it: ``narrate``
and ``topics`` jobs, on real text, real speech and real catalogs (SQLite).

A stage's output is reused for the same (stage, version, options hash, input hash);
an input file is hashed by content, so an edit is a miss; a changed or missing
artifact is a miss; a hit for another folder copies the files there.
"""

from __future__ import annotations

import os

import pytest

import vidpipe
from conftest import DATA
from vidpipe.library.catalog import Catalog
from vidpipe.pipeline.cache import StageCache, run_cached
from vidpipe.pipeline.execute import run_job
from vidpipe.pipeline.jobs import JobStore
from vidpipe.pipeline.registry import get_stage
from vidpipe.pipeline.stages import StageContext, StageInput, StageInputs

JFK = DATA / "jfk.flac"
TEXT = "The stage cache keeps every output. A rerun makes nothing new."
SMALL = {"width": 320, "height": 180, "fps": 12, "preset": "ultrafast"}


@pytest.fixture
def catalog(tmp_path):
    with Catalog(f"sqlite:///{tmp_path / 'catalog.db'}") as cat:
        yield cat


class _Counting:
    """A stage wrapper that counts its runs."""

    def __init__(self, stage):
        self.stage, self.runs = stage, 0

    def __getattr__(self, name):
        return getattr(self.stage, name)

    def run(self, ctx, inputs, options):
        self.runs += 1
        return self.stage.run(ctx, inputs, options)


def test_hit_miss_on_content_change_and_copy_to_another_folder(tmp_path, catalog):
    cards = _Counting(get_stage("images"))
    opts = cards.parse_options({"width": 320, "height": 180})
    text = tmp_path / "src.txt"
    text.write_text("one", encoding="utf-8")
    cache = StageCache(catalog)
    first_dir, other_dir = tmp_path / "a", tmp_path / "b"

    def run(folder, given, force=False):
        ctx = StageContext(work_dir=folder, catalog=catalog)
        return run_cached(cards, ctx, StageInputs(given), opts, cache, force=force)

    out, hit = run(first_dir, StageInput(text="A card of the cache"))
    assert (hit, cards.runs) == (False, 1)
    png = first_dir / out.artifacts[0]
    stamp = png.stat().st_mtime_ns
    again, hit = run(first_dir, StageInput(text="A card of the cache"))
    assert (hit, cards.runs, again) == (True, 1, out)
    assert png.stat().st_mtime_ns == stamp
    # another folder: the files are copied there, not drawn again
    copied, hit = run(other_dir, StageInput(text="A card of the cache"))
    assert (hit, cards.runs) == (True, 1)
    assert (other_dir / copied.artifacts[0]).read_bytes() == png.read_bytes()
    # a touched artifact (and no other copy) is a miss; so are other input and force
    (other_dir / copied.artifacts[0]).unlink()
    os.utime(png, ns=(stamp, stamp + 1))
    _, hit = run(first_dir, StageInput(text="A card of the cache"))
    assert (hit, cards.runs) == (False, 2)
    _, hit = run(tmp_path / "c", StageInput(text="Another card"))
    assert (hit, cards.runs) == (False, 3)
    _, hit = run(first_dir, StageInput(text="A card of the cache"), force=True)
    assert (hit, cards.runs) == (False, 4)


def test_input_hash_is_by_content_not_by_name(tmp_path, catalog):
    cache = StageCache(catalog)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("same words", encoding="utf-8")
    b.write_text("same words", encoding="utf-8")
    h = cache.input_hash
    assert h(StageInputs(StageInput(path=str(a)))) == h(StageInputs(StageInput(path=str(b))))
    b.write_text("other words", encoding="utf-8")
    assert h(StageInputs(StageInput(path=str(a)))) != h(StageInputs(StageInput(path=str(b))))
    speak, transcribe = get_stage("speak"), get_stage("transcribe")
    given = StageInputs(StageInput(path=str(a)))
    k1 = cache.key(speak, speak.parse_options({}), given)
    k2 = cache.key(speak, speak.parse_options({"voice": "joe"}), given)
    k3 = cache.key(transcribe, transcribe.parse_options({"model": "tiny.en"}), given)
    assert len({k1, k2, k3}) == 3 and k1.input_hash == k3.input_hash


@pytest.mark.slow
def test_narrate_job_and_a_second_job_from_the_cache(tmp_path):
    with Catalog(f"sqlite:///{tmp_path / 'catalog.db'}") as cat:
        store = JobStore(cat, root=tmp_path / "storage")
        params = {"render": SMALL, "max_chunk": 6.0, "output": "talk.mp4"}
        job = store.create("narrate", params, input={"text": TEXT})
        done = run_job(store, job.id)
        assert done.status == "succeeded", done.error
        assert done.result["reused"] == [] and done.result["slides"] >= 1
        video = store.root / f"jobs/{job.id}/talk.mp4"
        assert f"jobs/{job.id}/talk.mp4" in done.artifacts
        info = vidpipe.probe(video)
        assert (info.video_streams[0].width, info.audio_streams[0].codec) == (320, "aac")
        assert info.duration == pytest.approx(done.result["duration"], abs=0.1)
        # the same narration again: every stage from the cache, the files copied
        twin = run_job(store, store.create("narrate", params, input={"text": TEXT}).id)
        assert twin.status == "succeeded", twin.error
        assert twin.result["reused"] == ["speak", "images", "render"]
        copy = store.root / f"jobs/{twin.id}/talk.mp4"
        assert copy.read_bytes() == video.read_bytes()
        with pytest.raises(vidpipe.errors.UsageError, match="a narrate job needs an input"):
            store.create("narrate", params)


@pytest.mark.slow
def test_topics_job_over_the_catalog(tmp_path):
    with Catalog(f"sqlite:///{tmp_path / 'catalog.db'}") as cat:
        store = JobStore(cat, root=tmp_path / "storage")
        tr = run_job(
            store, store.create("transcribe", {"model": "tiny.en"}, input={"path": str(JFK)}).id
        )
        assert tr.status == "succeeded", tr.error
        mid = tr.result["media_id"]
        job = store.create("topics", {"ids": [mid]})
        done = run_job(store, job.id)
        assert done.status == "succeeded", done.error
        assert done.result["n_items"] == 1 and done.result["left_out"] == []
        (topic,) = done.result["topics"]
        assert topic["media_ids"] == [mid] and topic["keywords"]
        names = sorted(p.rsplit("/", 1)[-1] for p in done.artifacts)
        assert names == ["topics.json", "topics.md"]
        missing = run_job(store, store.create("topics", {"ids": [mid + 99]}).id)
        assert missing.status == "failed"
        assert missing.error.message == f"no item with id {mid + 99} in the catalog"


def test_a_second_speak_job_takes_its_output_from_the_cache(tmp_path):
    with Catalog(f"sqlite:///{tmp_path / 'catalog.db'}") as cat:
        store = JobStore(cat, root=tmp_path / "storage")
        first = run_job(store, store.create("speak", {}, input={"text": TEXT}).id)
        assert first.status == "succeeded", first.error
        second = run_job(store, store.create("speak", {}, input={"text": TEXT}).id)
        assert second.status == "succeeded", second.error
        assert second.result == first.result
        a, b = store.artifact_paths(first), store.artifact_paths(second)
        assert [p.name for p in b] == ["speech.wav", "transcript.json"]
        assert a[0] != b[0] and a[0].read_bytes() == b[0].read_bytes()
        assert b[0].stat().st_mtime_ns == a[0].stat().st_mtime_ns  # copied, not spoken
        # probe records rows in the catalog: never taken from the cache
        assert not get_stage("probe").cacheable and get_stage("speak").cacheable
