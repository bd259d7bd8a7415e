"""Vision: scene cuts, keyframes, OCR, frame descriptions and ``describe`` on real media.

Scene goldens come from PySceneDetect's own test resources (``../shared/data/video``,
evaluation only, skipped when absent). The vision-model tests run a real HTTP server
(``tests/servers/vlm_server.py``) that speaks the chat-completions protocol and
checks that only downscaled JPEG frames are sent.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from conftest import DATA, call_with_timeout
from vidpipe.errors import InputError, MediaError, RemoteError, UsageError, VidpipeError
from vidpipe.types import Scene
from vidpipe.vision import vlm as vlm_module
from vidpipe.vision.describe import describe
from vidpipe.vision.keyframes import extract_keyframes, read_frames
from vidpipe.vision.ocr import ocr_image
from vidpipe.vision.scenes import detect_scenes
from vidpipe.vision.vlm import describe_frames

TESTS = Path(__file__).parent
EXAMPLE = TESTS.parent / "examples" / "speech_bunny.mp4"
SMALL = DATA / "video" / "lhotse_big_buck_bunny_small.mp4"  # 320x240, SAR 4:3, 5.3 s
# Known content of the example (examples/README.md): cuts at frames 284, 377, 552
# (24 fps); the caption "The Peach Open Movie Project presents" shows from ~21 s.
EXAMPLE_CUTS = [284, 377, 552]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------- scenes


@pytest.mark.parametrize("name", ["testvideo.mp4", "goldeneye-vfr-drop3.mp4"])
def test_scene_cuts_match_pyscenedetect_goldens(shared_data: Path, name: str) -> None:
    folder = shared_data / "video"
    goldens = json.loads((folder / "scene_goldens.json").read_text())
    expected = goldens["videos"][name]["ContentDetector.default"]
    scenes = call_with_timeout(detect_scenes, folder / name)
    cuts = [start for start, _end, _s, _e in scenes[1:]]
    assert len(cuts) == len(expected), (cuts, expected)
    for got, want in zip(cuts, expected, strict=True):
        assert abs(got - want) <= 1, (cuts, expected)
    # Scenes tile the video: contiguous, increasing, starting at 0.
    assert scenes[0][0] == 0 and scenes[0][2] == 0.0
    for (_a, end_f, _s, end_s), (start_f, _b, start_s, _e) in itertools.pairwise(scenes):
        assert end_f == start_f and end_s == pytest.approx(start_s)
    assert all(s[1] > s[0] and s[3] > s[2] for s in scenes)


def test_scene_cuts_on_the_example() -> None:
    scenes = detect_scenes(EXAMPLE)
    assert [s[0] for s in scenes[1:]] == pytest.approx(EXAMPLE_CUTS, abs=1)
    assert scenes[-1][3] == pytest.approx(24.333, abs=0.05)


def test_unknown_detector_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown scene detector"):
        detect_scenes(SMALL, detector="nope")


@pytest.mark.parametrize(
    "path, error, message",
    [
        (DATA / "jfk.flac", MediaError, "has no video stream"),
        (DATA / "broken" / "tinytag_empty_file.wav", MediaError, "empty"),
        (DATA / "broken" / "pisets_notsound.wav", MediaError, "pisets_notsound"),
        (DATA / "no-such-file.mp4", InputError, "no such file"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path: Path, path: Path, error, message: str) -> None:
    with pytest.raises(error, match=message) as info:
        call_with_timeout(describe, path, tmp_path / "out")
    assert "\n" not in info.value.one_line()
    assert not (tmp_path / "out" / "scenes.json").exists()


def test_cover_art_mp3_has_no_video_stream(shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="has no video stream"):
        detect_scenes(shared_data / "video" / "moviepy_with-attached-pic.mp3")


# ---------------------------------------------------------------------- keyframes


def test_keyframes_apply_sample_aspect_ratio(tmp_path: Path) -> None:
    paths = extract_keyframes(SMALL, [0.0, 2.5, 99.0], tmp_path, prefix="k")
    assert [p.name for p in paths] == ["k-001.jpg", "k-002.jpg", "k-003.jpg"]
    for p in paths:
        with Image.open(p) as img:
            assert img.format == "JPEG"
            # 320x240 coded with 4:3 pixels displays as 16:9: 427x240.
            assert img.size == (427, 240)
    assert not list(tmp_path.glob(".*part"))


def test_keyframes_apply_rotation(shared_data: Path, tmp_path: Path) -> None:
    # 1280x544 coded, display matrix -90 degrees: shown as a 544x1280 portrait picture.
    (path,) = extract_keyframes(shared_data / "video" / "issue-134-rotate.mp4", [5.0], tmp_path)
    with Image.open(path) as img:
        assert img.size == (544, 1280)


def test_keyframe_is_the_frame_at_the_time() -> None:
    # Frames just before and after the cut at 11.833 s belong to different shots.
    before, after, after2 = read_frames(EXAMPLE, [11.79, 11.84, 11.90])
    a, b, c = (np.asarray(x, dtype=np.float32) for x in (before, after, after2))
    assert np.abs(a - b).mean() > 3 * np.abs(b - c).mean()


# ---------------------------------------------------------------------- OCR


def test_ocr_reads_the_caption_of_the_example() -> None:
    (frame,) = read_frames(EXAMPLE, [22.0])
    lines = call_with_timeout(ocr_image, np.asarray(frame), timeout=60)
    text = " ".join(lines).lower()
    for word in ("peach", "open", "movie", "project", "presents"):
        assert word in text, lines
    # Reading order: the caption's first line before "presents".
    assert text.index("peach") < text.index("presents")


def test_ocr_of_a_blank_picture_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "black.png"
    Image.new("RGB", (320, 240)).save(path)
    assert ocr_image(path) == []
    with pytest.raises(InputError):
        ocr_image(tmp_path / "missing.png")


# ---------------------------------------------------------------------- vision server


class VlmServer:
    def __init__(self, port: int, log: Path) -> None:
        self.root = f"http://127.0.0.1:{port}"
        self.log = log

    def base(self, *prefixes: str) -> str:
        return "/".join([self.root, *prefixes, "v1"])

    def requests(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]


@pytest.fixture(scope="module")
def vlm_server(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("vlm_server")
    log = folder / "requests.jsonl"
    port = _free_port()
    cmd = [sys.executable, str(TESTS / "servers" / "vlm_server.py"), "--port", str(port)]
    cmd += ["--log", str(log)]
    output = (folder / "server.out").open("wb")
    proc = subprocess.Popen(cmd, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"VLM server exited: {(folder / 'server.out').read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("VLM server did not answer /health within 20 s")
            time.sleep(0.05)
        yield VlmServer(port, log)
    finally:
        proc.terminate()
        proc.wait(10)
        output.close()


def _new(server: VlmServer, since: int, path_part: str) -> list[dict]:
    return [r for r in server.requests()[since:] if path_part in r["path"]]


def test_describe_frames_sends_small_jpegs_and_respects_rpm(
    vlm_server: VlmServer, tmp_path: Path
) -> None:
    big = tmp_path / "big.jpg"
    Image.new("RGB", (1280, 720), (30, 90, 200)).save(big)
    mark = len(vlm_server.requests())
    base = vlm_server.base("rpm")
    answers = [
        describe_frames([big, big], "what is seen?", base, "test-vlm", "k", rpm=120)
        for _ in range(4)
    ]
    assert answers == ["Canned description of 2 frame(s): 768x432, 768x432"] * 4
    log = _new(vlm_server, mark, "/rpm/")
    assert [r["status"] for r in log] == [200] * 4
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(log)]
    # 120 requests per minute: starts 0.5 s apart. The server logs arrival times, which
    # carry each request's own connection latency (0.08 s of jitter seen on a busy
    # machine); without the limiter the gap is ~0, so 0.3 still tells the two apart.
    assert min(gaps) >= 0.3, gaps


def test_describe_frames_retries_429(vlm_server: VlmServer, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(vlm_module, "BACKOFF", 0.01)
    frame = tmp_path / "f.jpg"
    Image.new("RGB", (64, 48)).save(frame)
    mark = len(vlm_server.requests())
    text = describe_frames([frame], "p", vlm_server.base("fail/2"), "m", None, rpm=6000)
    assert text.startswith("Canned description of 1 frame(s): 64x48")
    assert [r["status"] for r in _new(vlm_server, mark, "/fail/2/")] == [429, 429, 200]


def test_describe_frames_errors_are_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(vlm_module, "BACKOFF", 0.01)
    frame = tmp_path / "f.jpg"
    Image.new("RGB", (64, 48)).save(frame)
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    with pytest.raises(RemoteError, match="cannot reach vision model") as info:
        describe_frames([frame], "p", dead, "m", None, rpm=6000)
    assert "\n" not in info.value.one_line()
    with pytest.raises(UsageError):
        describe_frames([frame], "p", None, "m", None, rpm=60)


# ---------------------------------------------------------------------- describe


@pytest.fixture(scope="module")
def described(vlm_server: VlmServer, tmp_path_factory: pytest.TempPathFactory):
    """``describe`` on the example with its transcript and the test vision server."""
    import vidpipe

    out = tmp_path_factory.mktemp("describe")
    transcript = vidpipe.transcribe(EXAMPLE, model="tiny.en", word_timestamps=True)
    mark = len(vlm_server.requests())
    calls: list[tuple[float, float]] = []
    vlm = {"base_url": vlm_server.base("describe"), "model": "test-vlm", "rpm": 120}
    scenes = call_with_timeout(
        describe,
        EXAMPLE,
        out,
        transcript=transcript,
        vlm=vlm,
        frames_per_scene=2,
        progress=lambda done, total: calls.append((done, total)),
        timeout=60,
    )
    return scenes, out, _new(vlm_server, mark, "/describe/"), calls


def test_describe_scenes_cover_the_video(described) -> None:
    scenes, _out, _log, calls = described
    assert all(isinstance(s, Scene) for s in scenes)
    assert [s.start_frame for s in scenes[1:]] == pytest.approx(EXAMPLE_CUTS, abs=1)
    assert scenes[0].start == 0.0
    assert scenes[-1].end == pytest.approx(24.333, abs=0.05)
    for a, b in itertools.pairwise(scenes):
        assert a.end == pytest.approx(b.start) and a.end_frame == b.start_frame
    assert [s.index for s in scenes] == list(range(len(scenes)))
    assert calls[0] == (0, len(scenes)) and calls[-1] == (len(scenes), len(scenes))


def test_describe_keyframes_are_jpegs_of_display_size(described) -> None:
    scenes, out, _log, _calls = described
    for s in scenes:
        path = Path(s.keyframe)
        assert path.parent == out / "keyframes"
        with Image.open(path) as img:
            assert img.format == "JPEG" and img.size == (640, 360)


def test_describe_speech_and_ocr_columns(described) -> None:
    scenes, _out, _log, _calls = described
    said = [(s.speech or "").lower() for s in scenes]
    assert "americans" in said[0] and "country" in said[0]
    assert "printing" in said[1]
    assert "modern" in " ".join(said[2:])
    assert "americans" not in " ".join(said[1:])  # each word in exactly one scene
    # On-screen text is the keyframe's: the caption at 22 s (read by
    # test_ocr_reads_the_caption_of_the_example) is not on scene 3's keyframe (19.4 s).
    for s in scenes:
        assert s.ocr_text == ocr_image(s.keyframe)
    assert "peach" not in " ".join(scenes[2].ocr_text).lower()


def test_describe_vision_descriptions_and_rate(described) -> None:
    scenes, _out, log, _calls = described
    assert len(log) == len(scenes)
    assert all(r["status"] == 200 and len(r["images"]) == 2 for r in log)
    assert all(max(size) <= 768 for r in log for size in r["images"])
    for s in scenes:
        assert s.description == "Canned description of 2 frame(s): 640x360, 640x360"
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(log)]
    assert min(gaps) >= 0.5 - 0.05, gaps


def test_describe_writes_json_and_markdown(described) -> None:
    scenes, out, _log, _calls = described
    data = json.loads((out / "scenes.json").read_text())
    assert data["vision_model"] == "test-vlm"
    assert [Scene(**s) for s in data["scenes"]] == scenes
    md = (out / "scenes.md").read_text()
    assert "| # | time | keyframe | on screen | seen | said |" in md
    assert "](keyframes/scene-001.jpg)" in md
    assert "0:11.8–0:15.7" in md
    assert "Canned description" in md and "Americans" in md
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]


def test_describe_without_transcript_or_vision(tmp_path: Path, monkeypatch) -> None:
    scenes = describe(SMALL, tmp_path)
    assert len(scenes) == 1
    s = scenes[0]
    assert (s.start, s.start_frame) == (0.0, 0)
    assert s.description is None and s.speech is None
    with Image.open(s.keyframe) as img:
        assert img.size == (427, 240)
    assert (tmp_path / "scenes.md").is_file()


def test_describe_needs_a_configured_endpoint(tmp_path: Path, monkeypatch) -> None:
    from vidpipe.config import reset_settings

    for name in ("VIDPIPE_VLM_BASE", "VIDPIPE_VLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    try:
        with pytest.raises(UsageError, match="vision endpoint"):
            describe(SMALL, tmp_path, vlm={})
    finally:
        reset_settings()
    assert isinstance(UsageError("x"), VidpipeError)
    assert os.path.exists(SMALL)


def test_describe_writes_offline_columns_when_the_vision_endpoint_fails(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(vlm_module, "BACKOFF", 0.01)
    dead = {"base_url": f"http://127.0.0.1:{_free_port()}/v1", "model": "m", "rpm": 6000}
    with pytest.raises(RemoteError, match="cannot reach vision model"):
        describe(SMALL, tmp_path, vlm=dead)
    data = json.loads((tmp_path / "scenes.json").read_text())
    assert len(data["scenes"]) == 1 and data["scenes"][0]["description"] is None
    assert Path(data["scenes"][0]["keyframe"]).is_file()


# ---------------------------------------------------------------------- silent videos

SILENT = DATA / "video" / "moviepy_example.mp4"  # 640x480, 16 s, video stream only


def test_describe_a_silent_video(vlm_server: VlmServer, tmp_path: Path) -> None:
    """No audio track: scenes, keyframes, on-screen text and frame descriptions, and no
    speech column (``has_speech`` false, ``speech`` null)."""
    import av

    with av.open(str(SILENT)) as c:
        assert not c.streams.audio  # the premise
    vlm = {"base_url": vlm_server.base("silent"), "model": "test-vlm", "rpm": 6000}
    scenes = call_with_timeout(describe, SILENT, tmp_path, vlm=vlm, timeout=60)
    assert scenes and scenes[0].start == 0.0
    assert scenes[-1].end == pytest.approx(16.0, abs=0.05)
    assert all(s.speech is None for s in scenes)
    for s in scenes:
        with Image.open(s.keyframe) as img:
            assert img.format == "JPEG" and img.size == (640, 480)
        assert s.description == "Canned description of 1 frame(s): 640x480"
    ocr = " ".join(line for s in scenes for line in s.ocr_text)
    assert "Photo JPEG" in ocr and "25 fps" in ocr  # the clip's burned-in caption
    data = json.loads((tmp_path / "scenes.json").read_text())
    assert data["has_speech"] is False and data["vision_model"] == "test-vlm"
    assert all(s["speech"] is None for s in data["scenes"])
    md = (tmp_path / "scenes.md").read_text()
    assert "| # | time | keyframe | on screen | seen |\n" in md
    assert "said" not in md and "No speech" in md
    assert "Photo JPEG" in md and "Canned description" in md


def test_describe_testvideo_has_no_speech_column(shared_data: Path, tmp_path: Path) -> None:
    """The issue's example: PySceneDetect's testvideo.mp4 (no audio) through the CLI."""
    env = dict(os.environ, VIDPIPE_HOME=str(tmp_path / "home"), VIDPIPE_DATABASE_URL="")
    env["COLUMNS"] = "200"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vidpipe",
            "describe",
            str(shared_data / "video" / "testvideo.mp4"),
            "-o",
            str(tmp_path / "d"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "has no audio stream" not in r.stderr
    data = json.loads((tmp_path / "d" / "scenes.json").read_text())
    assert data["has_speech"] is False and len(data["scenes"]) >= 2
    assert all(Path(s["keyframe"]).is_file() for s in data["scenes"])
    header = next(line for line in r.stdout.splitlines() if "on screen" in line)
    assert "seen" in header and "said" not in header
    assert "said" not in (tmp_path / "d" / "scenes.md").read_text()


# ----------------------------------------------------------- on-screen text worth reading


def test_ocr_lines_worth_reading() -> None:
    from vidpipe.vision.ocr import worth_reading

    for noise in ("★★★ ★★★★", "11 11", "福", "A", "---", "· · ·", ""):
        assert not worth_reading(noise), noise
    for text in ("Frame = 16", "PTS = 1.5s", "你好", "Photo JPEG 75%", "www.bcastell.com"):
        assert worth_reading(text), text


def test_ocr_drops_symbols_glyphs_and_repeats_on_a_real_photo() -> None:
    """A real photo with a caption, a row of stars (a flag), line numbers (a code
    editor), a lone glyph (an anime frame) and the caption again: only the caption,
    once, is read; the same picture with ``keep_all`` shows the noise was there to drop."""
    from PIL import ImageDraw

    from vidpipe.media.fonts import load_font

    with Image.open(DATA / "photos" / "coffee.png") as im:
        img = im.convert("RGB").resize((800, 600))
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 20, 780, 360), fill=(250, 250, 250))  # a panel; the photo below
    draw.rectangle((20, 410, 780, 480), fill=(250, 250, 250))
    font = load_font(None, 44)
    draw.text((40, 40), "Fresh coffee every morning", font=font, fill=(0, 0, 0))
    draw.text((40, 150), "★★★ ★★★★", font=font, fill=(0, 0, 0))
    draw.text((40, 260), "11 11", font=font, fill=(0, 0, 0))
    draw.text((600, 260), "福", font=load_font(None, 90), fill=(200, 0, 0))
    draw.text((40, 420), "Fresh coffee every morning", font=font, fill=(0, 0, 0))
    raw = call_with_timeout(ocr_image, img, keep_all=True, timeout=60)
    assert len(raw) > 2, raw  # the noise is read when nothing is dropped
    lines = call_with_timeout(ocr_image, img, timeout=60)
    assert len(lines) == 1, lines
    assert "".join(lines[0].lower().split()) == "freshcoffeeeverymorning"


def test_describe_ocr_comes_from_the_shown_keyframe(shared_data: Path, tmp_path: Path) -> None:
    """PySceneDetect's counter.mp4 prints its frame number and time on each frame: the
    scene's on-screen text must be the one of its keyframe (the scene's middle), not of
    another frame of the scene."""
    import re

    path = shared_data / "video" / "counter.mp4"
    scenes = call_with_timeout(describe, path, tmp_path, timeout=120)
    for s in scenes:
        text = " ".join(s.ocr_text)
        shown = " ".join(ocr_image(s.keyframe, keep_all=True))
        assert text and text == shown, (text, shown)
        m = re.search(r"PTS\s*=\s*([\d.]+)", text)
        assert m, text
        assert float(m.group(1)) == pytest.approx((s.start + s.end) / 2, abs=0.1)
