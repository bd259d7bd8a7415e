"""``summarize``, ``chapters``, ``describe`` and the ``vidpipe run`` understanding steps,
as a user runs them (``python -m vidpipe ...`` with a fresh ``VIDPIPE_HOME``), offline
with the extractive backend, on real speech: the example video (English) and the
Chinese clips in ``tests/data/zh``. Storage is checked on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text

from conftest import DATA
from vidpipe.library.catalog import Catalog
from vidpipe.library.models import JobRow
from vidpipe.library.understanding import (
    TextOptions,
    chapters_vtt,
    get_chapters,
    get_summary,
    youtube_lines,
)
from vidpipe.pipeline.stages.chapters import chapters_media
from vidpipe.pipeline.stages.summarize import summarize_media
from vidpipe.timecode import chapter_timestamp as hms
from vidpipe.types import Chapter, Segment, Transcript

EXAMPLE = DATA.parent.parent / "examples" / "speech_bunny.mp4"
ZH = sorted((DATA / "zh").glob("*.wav"))


def vp(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="", COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
    )


def flat(s: str) -> str:
    """Text without whitespace or punctuation, for 'comes from the transcript' checks."""
    return re.sub(r"[\W_]+", "", s).lower()


def check_chapters(chapters: list[dict], duration: float) -> None:
    assert chapters, "no chapters"
    assert chapters[0]["start"] == 0.0
    assert chapters[-1]["end"] == pytest.approx(duration, abs=0.05)
    for a, b in itertools.pairwise(chapters):
        assert a["end"] == pytest.approx(b["start"], abs=1e-6)  # no gaps, no overlaps
    assert all(c["title"].strip() for c in chapters)


@pytest.fixture(scope="module")
def bunny(tmp_path_factory):
    """summarize then chapters on the example video (tiny.en), in a fresh home."""
    root = tmp_path_factory.mktemp("bunny")
    home, out = root / "home", root / "out"
    r1 = vp(home, "summarize", str(EXAMPLE), "-m", "tiny.en", "-o", str(out))
    r2 = vp(home, "chapters", str(EXAMPLE), "-o", str(out))
    return home, out, r1, r2


def test_summarize_file(bunny):
    home, out, r, _ = bunny
    assert r.returncode == 0, r.stderr
    assert "(computed)" in r.stderr and "speech_bunny.summary.md" in r.stderr
    doc = json.loads((out / "speech_bunny.summary.json").read_text(encoding="utf-8"))
    md = (out / "speech_bunny.summary.md").read_text(encoding="utf-8")
    assert md.startswith("# speech_bunny") and "## Summary" in md
    assert doc["backend"] == "extractive" and doc["keywords"] and doc["chunks"]
    assert doc["overall"].strip() in r.stdout
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        (media,) = cat.all_media()
        tr = cat.get_transcript(media.id)
        assert tr.model == "tiny.en"
        stored = get_summary(cat, media.id)
    assert stored.model_dump(mode="json") == doc
    source = flat(" ".join(s.text for s in tr.segments))
    assert "fellowamericans" in source
    for sentence in [doc["overall"], *(c["summary"] for c in doc["chunks"])]:
        assert flat(sentence) and flat(sentence) in source  # extractive: from the transcript


def test_chapters_file_reuses_catalog_transcript(bunny):
    home, out, _, r = bunny
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines and lines[0].startswith("0:00 ")
    assert all(re.match(r"^\d+:\d\d(:\d\d)? \S", ln) for ln in lines)
    docs = json.loads((out / "speech_bunny.chapters.json").read_text(encoding="utf-8"))
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        (media,) = cat.all_media()  # the file was recognised by content, not added twice
        tr = cat.get_transcript(media.id)
        assert [c.model_dump(mode="json") for c in get_chapters(cat, media.id)] == docs
    check_chapters(docs, tr.duration)
    vtt = (out / "speech_bunny.chapters.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n\n1\n00:00:00.000 --> ")
    assert (out / "speech_bunny.chapters.txt").read_text(encoding="utf-8") == r.stdout


def test_rerun_uses_stored_results_and_item_ids(bunny, tmp_path):
    home, _, _, _ = bunny
    r = vp(home, "summarize", "1", "-o", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    assert "(stored)" in r.stderr
    assert json.loads(r.stdout)["backend"] == "extractive"
    r = vp(home, "chapters", "1", "-o", str(tmp_path), "--max-chunk", "10")
    assert r.returncode == 0 and "(computed)" in r.stderr  # other options: computed again
    # on an item, each ran as a job of its stage; a rerun with the same options makes none
    assert [j.status for j in item_jobs(home, "summarize", 1)] == ["succeeded"]
    (ch,) = item_jobs(home, "chapters", 1)
    assert ch.status == "succeeded" and ch.params["max_chunk"] == 10.0
    assert ch.result["computed"] is True and ch.result["chapters"]
    for args, word in (
        (("summarize", "1"), "(stored)"),
        (("chapters", "1", "--max-chunk", "10"), "(stored)"),
    ):
        r = vp(home, *args, "-o", str(tmp_path))
        assert r.returncode == 0 and word in r.stderr, r.stderr
    assert len(item_jobs(home, "summarize", 1)) == 1 and len(item_jobs(home, "chapters", 1)) == 1
    # --force recomputes, as a new job
    r = vp(home, "chapters", "1", "--max-chunk", "10", "--force", "-o", str(tmp_path))
    assert r.returncode == 0 and "(computed)" in r.stderr, r.stderr
    assert [j.status for j in item_jobs(home, "chapters", 1)] == ["succeeded"] * 2


def item_jobs(home: Path, kind: str, media_id: int) -> list[JobRow]:
    """The catalog's jobs of ``kind`` on item ``media_id``, oldest first."""
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat, cat.session() as s:
        rows = s.scalars(select(JobRow).where(JobRow.kind == kind).order_by(JobRow.created_at))
        return [r for r in rows if (r.input or {}).get("media_id") == media_id]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["summarize", "42"], 3, "no item with id 42"),
        (["chapters", "/nonexistent/x.mp4"], 3, "no such file"),
        (["summarize", "1", "--backend", "magic"], 2, "unknown text backend"),
    ],
)
def test_errors_are_one_line(bunny, args, code, words):
    home = bunny[0]
    r = vp(home, *args)
    assert r.returncode == code, r.stderr
    assert words in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_chinese_clips(tmp_path):
    """The Chinese clips through ``run`` (Whisper base), then one summary from the CLI."""
    home, out = tmp_path / "home", tmp_path / "out"
    steps = "ingest,probe,audio,transcribe,summarize,chapters"
    r = vp(home, "run", *map(str, ZH), "--steps", steps, "-m", "base", "-q")
    assert r.returncode == 0, r.stderr
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        media = cat.all_media()
        assert len(media) == len(ZH)
        for m in media:
            tr = cat.get_transcript(m.id)
            assert tr.language == "zh"
            summary = get_summary(cat, m.id)
            assert summary.language == "zh"
            assert flat(summary.overall) in flat("".join(s.text for s in tr.segments))
            assert any(re.search(r"[\u4e00-\u9fff]{2}", k) for k in summary.keywords)
            check_chapters([c.model_dump() for c in get_chapters(cat, m.id)], tr.duration)
    r = vp(home, "summarize", str(ZH[0]), "-o", str(out))
    assert r.returncode == 0 and "(stored)" in r.stderr, r.stderr
    doc = json.loads((out / f"{ZH[0].stem}.summary.json").read_text(encoding="utf-8"))
    assert doc["language"] == "zh" and re.search(r"[\u4e00-\u9fff]", doc["overall"])


def test_run_steps_then_rerun_does_nothing(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "bunny.mp4")
    shutil.copy(DATA / "en_dev" / "LJ001-0001.wav", folder / "lj.wav")
    home = tmp_path / "home"
    steps = "ingest,probe,audio,transcribe,summarize,chapters"
    r = vp(home, "run", str(folder), "--steps", steps, "-m", "tiny.en", "-q")
    assert r.returncode == 0, r.stderr
    r = vp(home, "run", str(folder), "--steps", steps, "-m", "tiny.en")
    assert r.returncode == 0, r.stderr
    assert "2 items: 2 done" in r.stderr and "nothing to do" in r.stderr
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        for m in cat.all_media():
            assert cat.stage(m.id, "summarize").status == "done"
            assert cat.stage(m.id, "chapters").status == "done"
            assert get_summary(cat, m.id).keywords
            check_chapters(
                [c.model_dump() for c in get_chapters(cat, m.id)],
                cat.get_transcript(m.id).duration,
            )
    # the same options from the command line find the stored results
    r = vp(home, "chapters", "1", "-o", str(tmp_path))
    assert r.returncode == 0 and "(stored)" in r.stderr


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'c.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("module_pg_url")
    )
    cat = Catalog(url)
    yield cat
    cat.close()


def test_storage_and_cache(catalog):
    sentences = [
        "Printing differs from most arts and crafts.",
        "It is comparatively modern.",
        "The Chinese took impressions from wood blocks.",
        "Movable types came later in Europe.",
    ]
    tr = Transcript(
        language="en",
        duration=40.0,
        segments=[
            Segment(id=i, start=i * 10.0, end=i * 10.0 + 9.0, text=s)
            for i, s in enumerate(sentences)
        ],
    )
    m, _ = catalog.add_media(f"/x/{os.getpid()}.wav", os.urandom(32).hex(), 1)
    catalog.save_transcript(m.id, tr, "h")
    opts = TextOptions(max_chunk=15.0)
    s1, computed = summarize_media(catalog, m.id, options=opts)
    assert computed and s1.chunks and s1.overall
    s2, computed = summarize_media(catalog, m.id, options=opts)
    assert not computed and s2 == s1
    ch, computed = chapters_media(catalog, m.id, options=opts)
    assert computed
    check_chapters([c.model_dump() for c in ch], 40.0)
    assert get_chapters(catalog, m.id) == ch
    # a new transcript invalidates the stored results
    catalog.save_transcript(m.id, tr, "h2")
    _, computed = summarize_media(catalog, m.id, options=opts)
    assert computed
    with catalog.session() as s:
        n = s.execute(text("SELECT count(*) FROM summaries WHERE media_id = :m"), {"m": m.id})
        assert n.scalar() == 2


def test_writers():
    chapters = [
        Chapter(start=0.0, end=65.5, title="Intro"),
        Chapter(start=65.5, end=3725.0, title="Main --> part"),
    ]
    assert youtube_lines(chapters) == "0:00 Intro\n1:05 Main --> part\n"
    vtt = chapters_vtt(chapters)
    assert "00:01:05.500 --> 01:02:05.000\nMain -> part" in vtt
    assert hms(3725.0) == "1:02:05" and hms(59.999) == "0:59"


def test_describe_example(bunny, tmp_path):
    """Scenes of the example video, with the catalog transcript as the "said" column."""
    from vidpipe.library.understanding import get_scenes

    home = bunny[0]
    r = vp(home, "describe", str(EXAMPLE), "-o", str(tmp_path / "d"), "--json")
    assert r.returncode == 0, r.stderr
    scenes = json.loads(r.stdout)
    assert len(scenes) >= 2 and scenes[0]["start"] == 0.0
    assert (tmp_path / "d" / "scenes.json").is_file() and (tmp_path / "d" / "scenes.md").is_file()
    said = " ".join(s["speech"] or "" for s in scenes)
    assert "fellow Americans" in said  # from the stored transcript
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        (media,) = cat.all_media()
        assert [s.model_dump(mode="json") for s in get_scenes(cat, media.id)] == scenes


SILENT = DATA / "video" / "moviepy_example.mp4"  # no audio track


def test_describe_silent_file_and_item(tmp_path):
    """A video without audio: describe works (no transcription, no "said" column), the
    file is recorded with its probe and its scenes; describing it again by item id
    (an item with no transcript) works too."""
    from vidpipe.library.understanding import get_scenes

    home = tmp_path / "home"
    r = vp(home, "describe", str(SILENT), "-o", str(tmp_path / "a"), "--json")
    assert r.returncode == 0, r.stderr
    scenes = json.loads(r.stdout)
    assert scenes and all(s["speech"] is None for s in scenes)
    assert "Photo JPEG" in " ".join(line for s in scenes for line in s["ocr_text"])
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        (media,) = cat.all_media()
        assert media.duration == pytest.approx(16.0, abs=0.05)
        assert media.video_codec == "h264" and media.audio_codec is None
        assert cat.get_transcript(media.id) is None
        assert [s.model_dump(mode="json") for s in get_scenes(cat, media.id)] == scenes
    r = vp(home, "describe", str(media.id), "-o", str(tmp_path / "b"))
    assert r.returncode == 0, r.stderr
    assert "said" not in (tmp_path / "b" / "scenes.md").read_text()
    assert "said" not in r.stdout and "on screen" in r.stdout
    # over a selection: one folder per item, audio-only items skipped
    r = vp(home, "run", str(DATA / "jfk.flac"), "--steps", "ingest,probe", "-q")
    assert r.returncode == 0, r.stderr
    r = vp(home, "describe", "--max-duration", "60", "-o", str(tmp_path / "c"), "--json")
    assert r.returncode == 0, r.stderr
    (doc,) = json.loads(r.stdout)
    assert doc["id"] == media.id
    assert [s["ocr_text"] for s in doc["scenes"]] == [s["ocr_text"] for s in scenes]
    assert (tmp_path / "c" / "moviepy_example.describe" / "scenes.json").is_file()
    assert "skipped #2 jfk.flac: audio only" in r.stderr
    # on the item, each describe ran as a describe job (the audio-only item got none);
    # the stored scenes point at the files of the folder the command wrote
    assert [j.status for j in item_jobs(home, "describe", media.id)] == ["succeeded"] * 2
    assert item_jobs(home, "describe", 2) == []
    folder = (tmp_path / "c" / "moviepy_example.describe").resolve()
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        stored = get_scenes(cat, media.id)
    assert [s.model_dump(mode="json") for s in stored] == doc["scenes"]
    assert all(Path(s.keyframe).parent == folder / "keyframes" for s in stored)
    assert all(Path(s.keyframe).is_file() for s in stored)


def test_describe_audio_only_file_is_refused_before_transcribing(tmp_path):
    r = vp(tmp_path / "home", "describe", str(DATA / "jfk.flac"), "-o", str(tmp_path / "d"))
    assert r.returncode == 4, r.stderr
    assert "has no video stream" in r.stderr and r.stderr.count("\n") == 1
    with Catalog(f"sqlite:///{tmp_path / 'home' / 'catalog.db'}") as cat:
        assert all(cat.get_transcript(m.id) is None for m in cat.all_media())
