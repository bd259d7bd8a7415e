"""Bad input: every broken file gives a result or a one-line VidpipeError, never a hang.

Each call runs under :func:`conftest.call_with_timeout` (20 s), so a hang fails the
test instead of blocking the run.
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest

from conftest import DATA, SHARED, load_manifest
from vidpipe.errors import InputError, MediaError, NoAudioError, VidpipeError
from vidpipe.media import decode_audio, extract_audio, probe

BROKEN = DATA / "broken"
probe_module = importlib.import_module("vidpipe.media.probe")  # the function shadows it

OK = None  # the call succeeds

# file -> (probe outcome, decode_audio outcome); an outcome is OK or (error class, text)
EMPTY = (MediaError, "file is empty (0 bytes)")
NOT_MEDIA = (MediaError, "not a recognised audio or video file")
NO_SAMPLES = (MediaError, "the audio stream holds no samples")
EXPECTED: dict[str, tuple] = {
    "leopard_empty.wav": (OK, OK),
    "moviepy_no_duration.webm": (OK, OK),
    "moviepy_result.webm": (EMPTY, EMPTY),
    "moviepy_video_with_failing_audio.mp4": (OK, OK),
    "pisets_incorrect_sampling_freq.wav": (OK, NO_SAMPLES),
    "pisets_notsound.wav": (NOT_MEDIA, NOT_MEDIA),
    "pisets_test_silence.wav": (OK, OK),
    "pocketsphinx_awful.wav": (OK, (MediaError, "the audio is too short to use")),
    "pocketsphinx_bad.wav": (NOT_MEDIA, NOT_MEDIA),
    "pocketsphinx_evil.wav": (NOT_MEDIA, NOT_MEDIA),
    "pocketsphinx_null.wav": (OK, NO_SAMPLES),
    "tinytag_16bit_pcm_to_als.mp4": (OK, OK),
    "tinytag_detect_mp3_id3v1.x": (OK, OK),
    "tinytag_detect_mp4_m4a.x": (
        (MediaError, "contains no audio or video streams"),
        (NoAudioError, "has no audio stream"),
    ),
    "tinytag_detect_ogg.x": (OK, OK),
    "tinytag_empty_file.wav": (EMPTY, EMPTY),
    "tinytag_incomplete.mp3": (NOT_MEDIA, NOT_MEDIA),
    "tinytag_invalid_file.wav": (NOT_MEDIA, NOT_MEDIA),
    "tinytag_mp4_extended_size_truncated.m4a": (NOT_MEDIA, NOT_MEDIA),
    "tinytag_mp4_invalid_size_zero.m4a": (NOT_MEDIA, NOT_MEDIA),
    # only in ../shared/data (not redistributable)
    "mutagen_64bit.mp4": (
        (MediaError, "contains no audio or video streams"),
        (NoAudioError, "has no audio stream"),
    ),
    "mutagen_alac.m4a": (OK, OK),
    "mutagen_emptyfile.mp3": (EMPTY, EMPTY),
    "mutagen_no-tags.3g2": (OK, OK),
    "mutagen_no-tags.m4a": (OK, OK),
    "mutagen_silence-44-s.ac3": (OK, OK),
    "mutagen_too-short.mp3": (NOT_MEDIA, NOT_MEDIA),
    "mutagen_truncated-64bit.mp4": (OK, (MediaError, "could not decode any audio")),
    "whisper_timestamped_laugh1.mp3": (OK, OK),
}


def _check_outcome(fn, path, expected, no_hang):
    if expected is OK:
        return no_hang(fn, path)
    cls, text = expected
    with pytest.raises(VidpipeError) as err:
        no_hang(fn, path)
    assert type(err.value) is cls, f"{path.name}: {type(err.value).__name__}: {err.value}"
    assert text in str(err.value)
    _assert_one_line(err.value, path)
    return None


def _assert_one_line(exc: VidpipeError, path) -> None:
    assert "\n" not in str(exc) and "\n" not in exc.one_line()
    assert str(path.name) in str(exc)
    assert exc.hint, f"{type(exc).__name__} without a hint: {exc}"


def test_every_shipped_broken_file_is_in_the_table():
    shipped = {p.name for p in BROKEN.iterdir()}
    assert shipped and shipped <= set(EXPECTED)


@pytest.mark.parametrize("name", sorted(p.name for p in BROKEN.iterdir()))
def test_shipped_broken_files(name, no_hang):
    path = BROKEN / name
    probe_expected, decode_expected = EXPECTED[name]
    info = _check_outcome(probe, path, probe_expected, no_hang)
    if info is not None:
        assert info.streams
    audio = _check_outcome(decode_audio, path, decode_expected, no_hang)
    if audio is not None:
        assert audio.dtype == np.float32 and len(audio) > 0


def _shared_broken():
    folder = SHARED / "broken"
    if not (folder / "manifest.jsonl").is_file():
        return []
    return sorted(load_manifest(folder))


@pytest.mark.parametrize("name", _shared_broken())
def test_all_shared_broken_files(shared_data, name, no_hang, tmp_path):
    """All 29: probe, decode and extract give a result or a one-line VidpipeError."""
    path = shared_data / "broken" / name
    row = load_manifest(shared_data / "broken")[name]
    probe_expected, decode_expected = EXPECTED[name]
    info = _check_outcome(probe, path, probe_expected, no_hang)
    if info is not None and row.get("duration"):
        assert info.duration == pytest.approx(row["duration"], abs=0.1)
    audio = _check_outcome(decode_audio, path, decode_expected, no_hang)
    if audio is not None and row.get("duration"):
        # decoded length within 50 ms of ffprobe's (AAC priming may drop ~46 ms)
        assert len(audio) / 16000 == pytest.approx(row["duration"], abs=0.05)
    out = tmp_path / "out.wav"
    try:
        no_hang(extract_audio, path, out)
    except VidpipeError as exc:
        _assert_one_line(exc, path)
        assert not out.exists()
    else:
        written = probe(out)
        if audio is not None:
            assert written.duration == pytest.approx(len(audio) / 16000, abs=0.05)
        else:  # pocketsphinx_awful.wav: 441 samples at 1.09 MHz copy fine at that rate
            assert written.streams[0].sample_rate == info.streams[0].sample_rate
    assert [p.name for p in tmp_path.iterdir()] in ([], ["out.wav"])  # no temporaries


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize("fn", [probe, decode_audio])
def test_missing_file(tmp_path, fn):
    with pytest.raises(InputError, match="no such file"):
        fn(tmp_path / "nope.mp4")


@pytest.mark.parametrize("fn", [probe, decode_audio])
def test_directory(tmp_path, fn):
    with pytest.raises(InputError, match="is a folder"):
        fn(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this OS")
def test_named_pipe_is_refused_without_blocking(tmp_path, no_hang):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        no_hang(probe, fifo, timeout=5)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path):
    f = tmp_path / "secret.wav"
    f.write_bytes((DATA / "jfk.mp3").read_bytes())
    f.chmod(0)
    try:
        with pytest.raises(InputError, match="permission denied"):
            probe(f)
    finally:
        f.chmod(0o600)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.mp4", b"hello, this is a text file and not a video\n" * 20),
        ("zeros.wav", bytes(4096)),
    ],
)
def test_non_media_content(tmp_path, name, content, no_hang):
    f = tmp_path / name
    f.write_bytes(content)
    for fn in (probe, decode_audio):
        with pytest.raises(MediaError) as err:
            no_hang(fn, f)
        _assert_one_line(err.value, f)


# --------------------------------------------------------------------------- damaged copies


def test_truncated_flac_keeps_what_decodes(tmp_path):
    data = (DATA / "jfk.flac").read_bytes()
    f = tmp_path / "half.flac"
    f.write_bytes(data[: len(data) // 2])
    audio = decode_audio(f)
    assert 4.0 < len(audio) / 16000 < 7.0  # about half of 11 s, no error


def test_garbage_in_the_middle_of_an_mp3_is_skipped(tmp_path):
    data = bytearray((DATA / "jfk.mp3").read_bytes())
    data[30000:32000] = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    f = tmp_path / "damaged.mp3"
    f.write_bytes(bytes(data))
    audio = decode_audio(f)
    assert 10.0 < len(audio) / 16000 <= 11.0


def test_garbage_in_an_mp4_audio_track(tmp_path):
    data = bytearray((DATA / "video" / "lhotse_big_buck_bunny_small.mp4").read_bytes())
    data[200000:210000] = np.random.default_rng(1).integers(0, 256, 10000, np.uint8).tobytes()
    f = tmp_path / "damaged.mp4"
    f.write_bytes(bytes(data))
    assert 4.5 < len(decode_audio(f)) / 16000 <= 5.312
    out = extract_audio(f, tmp_path / "damaged.m4a")
    assert 4.5 < probe(out).duration <= 5.35


def test_mp4_cut_before_its_index(tmp_path, no_hang):
    data = (DATA / "video" / "lhotse_big_buck_bunny_small.mp4").read_bytes()
    f = tmp_path / "cut.mp4"
    f.write_bytes(data[: len(data) // 2])  # the moov atom is at the end
    for fn in (probe, decode_audio):
        with pytest.raises(MediaError, match="not a recognised") as err:
            no_hang(fn, f)
        _assert_one_line(err.value, f)


# --------------------------------------------------------------------------- timeouts


def test_open_timeout_becomes_media_error(monkeypatch):
    monkeypatch.setattr(probe_module, "OPEN_TIMEOUT", 1e-9)
    with pytest.raises(MediaError, match="timed out") as err:
        probe(DATA / "jfk.flac")
    _assert_one_line(err.value, DATA / "jfk.flac")


def test_read_timeout_becomes_media_error(monkeypatch):
    monkeypatch.setattr(probe_module, "READ_TIMEOUT", 1e-9)
    with pytest.raises(MediaError, match="timed out"):
        decode_audio(DATA / "jfk.flac")
