"""The command line as a user runs it: real processes, real files, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pysubs2
import pytest

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "speech_bunny.mp4"


def run(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    for n in needles:
        assert n in errors[0]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_transcribe_example_video_writes_all_formats(tmp_path):
    proc = run("transcribe", str(EXAMPLE), "-o", str(tmp_path), "-m", "tiny.en")
    assert proc.returncode == 0, proc.stderr
    assert "ask not what your country can do for you" in proc.stdout.lower()
    assert "RTF" in proc.stderr and "language en" in proc.stderr
    for ext in ("txt", "srt", "vtt", "json"):
        assert (tmp_path / f"speech_bunny.{ext}").stat().st_size > 0
    doc = json.loads((tmp_path / "speech_bunny.json").read_text())
    assert doc["language"] == "en" and doc["duration"] == pytest.approx(24.33, abs=0.1)
    subs = pysubs2.load(str(tmp_path / "speech_bunny.srt"))
    assert len(subs) >= len(doc["segments"]) >= 2  # long segments become several cues
    assert subs[-1].end / 1000 <= doc["duration"] + 0.01


def test_several_inputs_one_fails(tmp_path):
    proc = run(
        "transcribe",
        str(DATA / "jfk.flac"),
        str(tmp_path / "missing.mp4"),
        "-o",
        str(tmp_path),
        "-m",
        "tiny.en",
        "-f",
        "json",
        "--quiet",
    )
    assert_one_line_error(proc, 1, "missing.mp4", "no such file")
    assert (tmp_path / "jfk.json").exists()


def test_same_file_twice_and_clips_packed_together(tmp_path):
    # several inputs go through one packed group (the progress display holds them all)
    clip = DATA / "en_dev" / "LJ001-0002.wav"
    proc = run(
        "transcribe", str(DATA / "jfk.flac"), str(DATA / "jfk.flac"), str(clip),
        "-o", str(tmp_path), "-m", "tiny.en", "-f", "json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["LJ001-0002.json", "jfk-2.json", "jfk.json"]
    first, second = (json.loads((tmp_path / n).read_text()) for n in ("jfk.json", "jfk-2.json"))
    assert [s["text"] for s in first["segments"]] == [s["text"] for s in second["segments"]]
    for a, b in zip(first["segments"], second["segments"], strict=True):  # aligned in one window
        assert abs(a["start"] - b["start"]) < 1.0 and abs(a["end"] - b["end"]) < 1.0
    assert "ask not what your country can do for you" in proc.stdout.lower()
    lone = json.loads((tmp_path / "LJ001-0002.json").read_text())
    text = " ".join(s["text"] for s in lone["segments"])
    assert text.strip().lower().rstrip(".") == "in being comparatively modern"


@pytest.mark.parametrize(
    ("make", "code", "needle"),
    [
        (lambda p: p / "nope.wav", 3, "no such file"),
        (lambda p: p, 3, "is a folder"),
        (lambda p: _write(p / "empty.mp4", b""), 4, "empty"),
        (lambda p: _write(p / "text.mp3", b"hello, this is not audio\n" * 20), 4, "text.mp3"),
    ],
)
def test_bad_single_input_exit_codes(tmp_path, make, code, needle):
    target = make(tmp_path)
    proc = run("transcribe", str(target), "-o", str(tmp_path), "-m", "tiny.en", "--quiet")
    assert_one_line_error(proc, code, needle)


def test_video_without_audio(tmp_path):
    video = DATA / "video"
    silent = [p for p in video.glob("*") if p.name in ("moviepy_example.mp4",)]
    if not silent:
        pytest.skip("no audio-less video shipped")
    proc = run("transcribe", str(silent[0]), "-o", str(tmp_path), "-m", "tiny.en", "--quiet")
    assert_one_line_error(proc, 4, "no audio")


def test_debug_shows_traceback(tmp_path):
    proc = run("--debug", "transcribe", str(tmp_path / "nope.wav"), "-m", "tiny.en")
    assert proc.returncode == 3 and "Traceback" in proc.stderr


def test_usage_errors(tmp_path):
    proc = run("transcribe", str(DATA / "jfk.flac"), "-f", "docx", "-o", str(tmp_path))
    assert_one_line_error(proc, 2, "unknown output format 'docx'")
    proc = run("transcribe", str(DATA / "jfk.flac"), "-m", "no-such-model", "-o", str(tmp_path))
    assert_one_line_error(proc, 5, "unknown model")
    proc = run("transcribe", str(DATA / "jfk.flac"), "--beam-size", "0")
    assert_one_line_error(proc, 2, "--beam-size", "(see vidpipe transcribe --help)")
    assert "╭" not in proc.stderr  # no boxed panel


def test_probe_json_and_table():
    proc = run("probe", str(EXAMPLE), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    kinds = sorted(s["type"] for s in info["streams"])
    assert kinds == ["audio", "video"]
    video = next(s for s in info["streams"] if s["type"] == "video")
    assert (video["codec"], video["width"], video["height"]) == ("h264", 640, 360)
    assert info["duration"] == pytest.approx(24.33, abs=0.05)
    proc = run("probe", str(EXAMPLE), str(DATA / "jfk.flac"))
    assert proc.returncode == 0 and "h264" in proc.stdout and "flac" in proc.stdout


def test_extract_audio_formats(tmp_path):
    for ext in ("wav", "flac", "mp3", "m4a"):
        out = tmp_path / f"a.{ext}"
        proc = run(
            "extract-audio",
            str(EXAMPLE),
            "-o",
            str(out),
            "--rate",
            "16000",
            "--channels",
            "1",
            "--quiet",
        )
        assert proc.returncode == 0, proc.stderr
        info = json.loads(run("probe", str(out), "--json").stdout)
        audio = info["streams"][0]
        assert audio["sample_rate"] == 16000 and audio["channels"] == 1
        assert info["duration"] == pytest.approx(24.33, abs=0.1)
    proc = run("extract-audio", str(EXAMPLE), "-o", str(tmp_path / "a.xyz"))
    assert_one_line_error(proc, 2, ".xyz")
