"""`narrate` end to end: a real text (LJ Speech sentences) and a real recording (the example
video), checked by decoding the output: playable, as long as the narration, slides that
change at chunk boundaries, and a rerun that the stage cache answers without any work."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from vidpipe.errors import InputError, MediaError, ModelError, UsageError
from vidpipe.media.audio import decode_audio
from vidpipe.media.render import RenderOptions
from vidpipe.pipeline.narrate import NarrateOptions, narrate
from vidpipe.vision.images import read_image_metadata

DATA = Path(__file__).parent / "data"
EXAMPLE = Path(__file__).parents[1] / "examples" / "speech_bunny.mp4"


def _lj_text(n: int = 6) -> str:
    with (DATA / "en_dev" / "transcripts.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    sentences = [r["transcript"].strip().rstrip(".") + "." for r in rows[:n]]
    return "# The art of printing\n\n" + " ".join(sentences[:3]) + "\n\n" + " ".join(sentences[3:])


def _small() -> RenderOptions:
    return RenderOptions(width=480, height=270, preset="ultrafast")


def _thumbs(path: Path) -> tuple[list[np.ndarray], float]:
    """Each frame's top three quarters (the bottom carries subtitles, which change by cue)
    as a 16x9 RGB thumbnail: Ken Burns drift barely moves it, a new slide does."""
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        frames = []
        for f in c.decode(st):
            rgb = f.to_ndarray(format="rgb24")
            top = rgb[: rgb.shape[0] * 3 // 4]
            frames.append(cv2.resize(top, (16, 9), interpolation=cv2.INTER_AREA).astype(float))
        fps = float(st.average_rate)
    return frames, fps


def _assert_slides_change_at(frames: list[np.ndarray], fps: float, bounds: list[float]) -> None:
    """Around each bound (outside the 0.5 s crossfade) the picture jumps; inside a slide it
    only drifts (Ken Burns)."""

    def at(t: float) -> np.ndarray:
        return frames[int(t * fps)]

    for b in bounds:
        before, after, within = at(b - 0.4), at(b + 0.4), at(b - 0.8)
        jump = np.abs(after - before).mean()
        drift = np.abs(before - within).mean()
        assert jump > 3 * drift and jump > 3, (b, jump, drift)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("narrate")
    src = folder / "printing.md"
    src.write_text(_lj_text(), encoding="utf-8")
    out = folder / "printing.mp4"
    opts = NarrateOptions(max_chunk=12.0, render=_small())
    from vidpipe.library.catalog import Catalog

    url = f"sqlite:///{folder / 'catalog.db'}"
    with Catalog(url) as cat:
        result = narrate(src, out, opts, catalog=cat)
        rows = cat.images()
    assert sorted(Path(r.path) for r in rows) == sorted(result.images)
    assert all(r.generator == "cards" and r.prompt for r in rows)
    return src, out, opts, result, url


def test_text_becomes_a_playable_video(text_run):
    _src, out, _opts, result, _url = text_run
    speech = result.work_dir / "speech.wav"
    seconds = decode_audio(speech, 16000).size / 16000
    frames, fps = _thumbs(out)
    assert len(frames) == round(seconds * 24)
    assert abs(result.render.duration - seconds) <= 1 / 24
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.audio[0].codec_context.name == "aac"
    assert len(result.chunks) >= 3
    assert len(result.images) == len(result.chunks)
    _assert_slides_change_at(frames, fps, [c.start for c in result.chunks[1:]])


def test_text_artifacts_and_prompts(text_run):
    _src, _out, _opts, result, _url = text_run
    work = result.work_dir
    for name in ("speech.wav", "transcript.json", "chunks.json", "prompts.json"):
        assert (work / name).is_file(), name
    assert not (work / "manifest.json").exists()  # the stage cache is in the catalog
    meta = read_image_metadata(result.images[0])
    assert meta["vidpipe:generator"] == "cards"
    # The narration was synthesized, not transcribed: the transcript is the text.
    assert result.transcript.segments[1].text.startswith("Printing, in the only sense")


def test_rerun_is_answered_by_the_stage_cache(text_run, monkeypatch):
    """A second run with the same input and options makes no speech, no image and no
    video (the stage functions are not called) and leaves every file as it was."""
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.models import StageCacheRow
    from vidpipe.pipeline import registry

    src, out, opts, first, url = text_run
    files = [out, first.work_dir / "speech.wav", first.work_dir / "transcript.json", *first.images]
    stamps = {p: p.stat().st_mtime_ns for p in files}
    calls: list[str] = []
    for cls in (registry.SpeakStage, registry.ImagesStage, registry.RenderStage):
        real = cls.run

        def counted(self, *args, real=real, **kwargs):
            calls.append(self.name)
            return real(self, *args, **kwargs)

        monkeypatch.setattr(cls, "run", counted)
    with Catalog(url) as cat:
        again = narrate(src, out, opts, catalog=cat)
        with cat.session(write=False) as s:
            kept = sorted(r.stage for r in s.query(StageCacheRow))
    assert calls == []
    assert again.reused == ["speak", "images", "render"]
    assert {p: p.stat().st_mtime_ns for p in files} == stamps  # nothing rewritten
    assert again.render.frames == first.render.frames
    assert again.chunks == first.chunks and again.images == first.images
    assert kept == ["images", "render", "speak"]  # one row per stage and folder

    # a new chunk length keeps the speech, redraws the images and re-renders
    with Catalog(url) as cat:
        changed = narrate(src, out, NarrateOptions(max_chunk=6.0, render=opts.render), catalog=cat)
    assert calls == ["images", "render"] and changed.reused == ["speak"]
    assert len(changed.chunks) > len(first.chunks)
    assert (first.work_dir / "speech.wav").stat().st_mtime_ns == stamps[
        first.work_dir / "speech.wav"
    ]


def test_text_narration_is_searchable_in_the_catalog(text_run):
    """The narrated video is a catalog item with the narration's transcript, listed with
    where it came from; its words are found by search."""
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.search import search

    src, out, _opts, result, url = text_run
    with Catalog(url) as cat:
        assert set(result.items) == {"video"}
        # the video's source (a rerun test may have narrated it again since: the source
        # then names the new content's item)
        row = cat.find_source(str(out.resolve()))
        vid = cat.get_media(row.media_id)
        assert Path(vid.path) == out.resolve()
        assert (row.kind, row.state, row.reason) == ("narration", "done", f"narrated from {src}")
        word = next(w for w in result.transcript.text.split() if len(w) > 6).strip(".,;")
        assert vid.id in {h.media_id for h in search(cat, word)}


def test_recording_with_keyframes_becomes_a_video(tmp_path):
    """A recording's narration: the recording and the video are catalog items, the
    recording's words searchable without transcribing it again."""
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.search import search

    out = tmp_path / "bunny.mp4"
    opts = NarrateOptions(images="frames", model="tiny.en", max_chunk=8.0, render=_small())
    with Catalog(f"sqlite:///{tmp_path / 'catalog.db'}") as cat:
        result = narrate(EXAMPLE, out, opts, catalog=cat)
        assert set(result.items) == {"recording", "video"}
        hits = {h.media_id for h in search(cat, "americans")}
        assert hits == {result.items["recording"], result.items["video"]}
        assert cat.get_media(result.items["recording"]).path == str(EXAMPLE.resolve())
    assert len(result.chunks) >= 2
    frames, fps = _thumbs(out)
    seconds = decode_audio(EXAMPLE, 16000).size / 16000
    assert abs(len(frames) / fps - seconds) <= 1 / 24
    _assert_slides_change_at(frames, fps, [c.start for c in result.chunks[1:]])
    assert "fellow americans" in result.transcript.text.lower()


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        narrate(tmp_path / "missing.md", tmp_path / "o.mp4")
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n", encoding="utf-8")
    with pytest.raises(InputError):
        narrate(empty, tmp_path / "o.mp4", NarrateOptions(render=_small()))
    text = tmp_path / "t.txt"
    text.write_text("A short text to speak.", encoding="utf-8")
    with pytest.raises(UsageError, match="needs a video input"):
        narrate(text, tmp_path / "o.mp4", NarrateOptions(images="frames", render=_small()))
    with pytest.raises(ModelError):
        narrate(text, tmp_path / "o.mp4", NarrateOptions(voice="nobody", render=_small()))
    assert not (tmp_path / "o.mp4").exists()


def test_cli_narrate_errors_are_one_line(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("A short text to speak.", encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vidpipe",
            "narrate",
            str(text),
            "-o",
            str(tmp_path / "o.mp4"),
            "--voice",
            "nobody",
        ],
        capture_output=True,
        text=True,
        env={"VIDPIPE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 5, proc.stderr
    assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr


def test_cli_narrate_runs_a_narrate_job(tmp_path):
    """``vidpipe narrate`` runs a narrate job: the video at ``-o``, the work files in
    ``<output>.work``, the narration searchable; a rerun is a new job answered by the
    stage cache."""
    import os

    from sqlalchemy import select

    from vidpipe.library.catalog import Catalog
    from vidpipe.library.models import JobRow
    from vidpipe.library.search import search

    text = tmp_path / "t.txt"
    text.write_text("Printing differs from most arts and crafts represented here.\n")
    out = tmp_path / "out" / "t.mp4"
    env = dict(os.environ, VIDPIPE_HOME=str(tmp_path / "home"), VIDPIPE_DATABASE_URL="")
    args = [sys.executable, "-m", "vidpipe", "narrate", str(text), "-o", str(out),
            "--size", "320x180", "--fps", "12", "--preset", "ultrafast", "-q"]  # fmt: skip
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"{out}: 1 slides" in r.stderr and f"work folder {out}.work" in r.stderr
    assert out.is_file() and (tmp_path / "out" / "t.mp4.work" / "speech.wav").is_file()
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and "reused speak, images, render" in r.stderr, r.stderr
    with Catalog(f"sqlite:///{tmp_path / 'home' / 'catalog.db'}") as cat:
        with cat.session() as s:
            jobs = list(s.scalars(select(JobRow).where(JobRow.kind == "narrate")))
        (vid,) = [m for m in cat.all_media() if Path(m.path) == out.resolve()]
        assert vid.id in {h.media_id for h in search(cat, "printing")}
    assert [j.status for j in jobs] == ["succeeded", "succeeded"]
    assert jobs[0].input["output"] == str(out) and jobs[0].result["output"] == str(out)
    assert jobs[0].params["render"]["width"] == 320


def test_pdf_inputs_are_read_as_documents(tmp_path):
    """narrate reads PDFs with the shared document reader (vidpipe.text.documents): a PDF
    is known by its header even without a .pdf name, and a locked, truncated or scanned
    PDF is one MediaError before anything is synthesized or rendered."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pypdf import PdfWriter

    fig = plt.figure(figsize=(8.5, 11))
    fig.text(0.1, 0.9, "The art of printing.")
    pdf = tmp_path / "printing.pdf"
    fig.savefig(pdf)
    plt.close(fig)
    locked = tmp_path / "locked-paper"  # no suffix: sniffed by its %PDF- header
    writer = PdfWriter(clone_from=pdf)
    writer.encrypt(user_password="secret", algorithm="AES-256")
    writer.write(locked)
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(pdf.read_bytes()[:3000])
    scan = tmp_path / "scan.pdf"
    fig = plt.figure()
    fig.savefig(scan)
    plt.close(fig)
    for src, message in (
        (locked, "needs a password"),
        (truncated, "damaged or truncated"),
        (scan, "no text layer"),
    ):
        out = tmp_path / f"{src.stem}.mp4"
        with pytest.raises(MediaError, match=message):
            narrate(src, out, NarrateOptions(render=_small()))
        assert not out.exists()
        assert not (tmp_path / f"{out.name}.work").exists()  # refused before writing
