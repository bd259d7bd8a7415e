"""probe() on real files: shipped copies always, the shared evaluation set when present.

Expected numbers come from the data folders' MANIFEST.md (ffprobe 5.1 on the same
bytes); PyAV 18 bundles FFmpeg 8, whose container durations differ by a few tens
of ms on some mp3/mp4 files (gapless mp3 info, edit lists), hence the tolerances.
"""

from __future__ import annotations

import json
import time

import pytest

from conftest import DATA, load_manifest
from vidpipe.media import probe
from vidpipe.types import MediaInfo

VIDEO = DATA / "video"
BROKEN = DATA / "broken"


# --------------------------------------------------------------------------- shipped files


def test_lhotse_video_with_51_audio():
    info = probe(VIDEO / "lhotse_big_buck_bunny_small.mp4")
    assert info.format_name == "mov,mp4,m4a,3gp,3g2,mj2"
    assert info.duration == pytest.approx(5.312, abs=0.01)
    assert info.size == 417768
    assert info.bit_rate and 500_000 < info.bit_rate < 700_000
    assert [s.type for s in info.streams] == ["video", "audio"]
    v, a = info.streams
    assert (v.codec, v.width, v.height, v.pix_fmt) == ("h264", 320, 240, "yuv420p")
    assert (v.frame_rate, v.nominal_frame_rate, v.frames) == ("25/1", "25/1", 132)
    assert v.frame_rate_float == 25.0
    assert (v.sample_aspect_ratio, v.display_aspect_ratio) == ("4:3", "16:9")
    assert v.rotation == 0.0
    assert v.profile == "High"
    assert (a.codec, a.sample_rate, a.channels, a.channel_layout) == ("aac", 48000, 6, "5.1")
    assert a.profile == "LC"
    assert a.duration == pytest.approx(5.312, abs=0.01)
    assert a.language is None  # 'und' is reported as unknown
    assert info.has_audio and info.has_video
    assert info.tags.get("encoder", "").startswith("Lavf")


def test_ogg_theora_vorbis_8khz_multi_stream():
    info = probe(VIDEO / "tinytag_multi_stream.ogv")
    assert info.format_name == "ogg"
    assert info.duration == pytest.approx(30.0, abs=0.01)
    v, a = info.streams
    assert (v.type, v.codec, v.width, v.height) == ("video", "theora", 500, 500)
    # average rate is 0/0 in this file: fall back to the guessed/base rate
    assert v.frame_rate == "25/1"
    assert (a.type, a.codec, a.sample_rate, a.channels) == ("audio", "vorbis", 8000, 1)
    assert a.duration == pytest.approx(30.0, abs=0.01)


def test_webm_vp9_alpha_stream_duration_from_matroska_tags():
    info = probe(VIDEO / "moviepy_transparent.webm")
    assert info.format_name == "matroska,webm"
    assert info.duration == pytest.approx(5.0, abs=0.01)
    v, a = info.streams
    assert (v.codec, v.width, v.height, v.frame_rate) == ("vp9", 200, 200, "30/1")
    assert (a.codec, a.sample_rate, a.channels) == ("vorbis", 48000, 2)
    # Matroska keeps per-stream durations in DURATION statistics tags only
    assert a.duration == pytest.approx(4.943, abs=0.002)


def test_video_only_file():
    info = probe(VIDEO / "moviepy_example.mp4")
    assert not info.has_audio
    (v,) = info.streams
    assert (v.codec, v.width, v.height, v.frames) == ("h264", 640, 480, 400)
    assert info.duration == pytest.approx(16.0, abs=0.01)


@pytest.mark.parametrize(
    ("name", "codec", "rate", "channels", "duration"),
    [
        ("jfk.flac", "flac", 44100, 2, 11.0),
        ("jfk.mp3", "mp3", 16000, 1, 11.0),  # ffprobe 5.1 said 11.088 (pre-gapless)
    ],
)
def test_audio_only_files(name, codec, rate, channels, duration):
    info = probe(DATA / name)
    assert not info.has_video
    (a,) = info.streams
    assert (a.type, a.codec, a.sample_rate, a.channels) == ("audio", codec, rate, channels)
    assert info.duration == pytest.approx(duration, abs=0.1)
    assert a.duration == pytest.approx(duration, abs=0.1)


@pytest.mark.parametrize(
    ("name", "fmt", "codec", "rate", "duration"),
    [
        ("tinytag_detect_mp3_id3v1.x", "mp3", "mp3", 44100, 3.768),
        ("tinytag_detect_ogg.x", "ogg", "vorbis", 44100, 3.685),
        ("tinytag_16bit_pcm_to_als.mp4", "mov,mp4,m4a,3gp,3g2,mj2", "mp4als", 8000, 0.100),
        ("pisets_test_silence.wav", "wav", "pcm_s16le", 16000, 9.955),
        ("leopard_empty.wav", "wav", "pcm_s16le", 16000, 8.212),
    ],
)
def test_content_not_extension_decides(name, fmt, codec, rate, duration):
    info = probe(BROKEN / name)
    assert info.format_name == fmt
    assert [s.type for s in info.streams] == ["audio"]
    assert info.streams[0].codec == codec
    assert info.streams[0].sample_rate == rate
    assert info.duration == pytest.approx(duration, abs=0.01)


def test_webm_without_duration():
    info = probe(BROKEN / "moviepy_no_duration.webm")
    assert info.duration is None
    v, a = info.streams
    assert (v.codec, v.width, v.height, v.frame_rate) == ("vp9", 1280, 720, "15000/1001")
    assert (a.codec, a.sample_rate, a.channels) == ("opus", 48000, 2)
    assert v.language == "eng"


def test_result_is_json_serialisable_and_frozen():
    info = probe(VIDEO / "lhotse_big_buck_bunny_small.mp4")
    doc = json.loads(json.dumps(info.model_dump(mode="json")))
    assert doc["streams"][1]["channel_layout"] == "5.1"
    assert MediaInfo.model_validate(doc) == info
    with pytest.raises(ValueError):
        info.streams[0].width = 1  # type: ignore[misc]


def test_probe_reads_headers_only_fast():
    # A full decode of these files takes far longer than a header read would.
    files = [
        VIDEO / "moviepy_example.mp4",
        VIDEO / "lhotse_big_buck_bunny_small.mp4",
        DATA / "jfk.flac",
    ]
    start = time.perf_counter()
    for f in files * 3:
        probe(f)
    assert time.perf_counter() - start < 3.0


# --------------------------------------------------------------------------- shared data


def test_rotation_from_display_matrix(shared_data):
    info = probe(shared_data / "video" / "issue-134-rotate.mp4")
    v = info.video_streams[0]
    assert v.rotation == -90.0
    assert (v.width, v.height, v.frame_rate, v.frames) == (1280, 544, "24000/1001", 240)
    assert info.duration == pytest.approx(10.010, abs=0.01)
    assert info.audio_streams[0].sample_rate == 44100


def test_rotation_180_and_vfr_phone_clip(shared_data):
    v = probe(shared_data / "video" / "moviepy_fire2.mp4").video_streams[0]
    assert v.rotation == -180.0
    assert v.frame_rate == "750000/71393"
    assert v.nominal_frame_rate == "90000/1"


def test_non_square_pixels(shared_data):
    v = probe(shared_data / "video" / "issue-195-aspect-ratio.mp4").video_streams[0]
    assert (v.width, v.height) == (704, 576)
    assert v.sample_aspect_ratio == "16:11"
    assert v.display_aspect_ratio == "16:9"


def test_variable_frame_rate(shared_data):
    info = probe(shared_data / "video" / "goldeneye-vfr-drop3.mp4")
    (v,) = info.streams
    assert v.frame_rate == "3840000/239239"  # average: every 3rd frame dropped
    assert v.nominal_frame_rate == "24000/1001"
    assert v.frame_rate != v.nominal_frame_rate
    assert v.frame_rate_float == pytest.approx(16.05, abs=0.01)
    assert v.frames == 160
    assert not info.has_audio


def test_mkv_with_subtitles_and_fonts(shared_data):
    info = probe(shared_data / "video" / "issue-236-split-copy.mkv")
    assert [s.type for s in info.streams] == (
        ["video", "audio"] + ["subtitle"] * 3 + ["attachment"] * 6
    )
    assert [s.language for s in info.streams[:5]] == ["jpn", "jpn", "eng", "por", "spa"]
    subs = info.streams[2:5]
    assert {s.codec for s in subs} == {"ass"}
    assert [s.title for s in subs] == ["English", "Portuguese(Brazil)", "Spanish(Latin_America)"]
    fonts = info.streams[5:]
    assert {s.codec for s in fonts} == {"ttf"}
    assert fonts[0].title == "OpenSans-ExtraBold.ttf"
    v = info.streams[0]
    assert (v.codec, v.width, v.height, v.frame_rate) == ("h264", 1920, 1080, "24000/1001")
    # from mkvmerge's statistics tags
    assert v.duration == pytest.approx(2.002, abs=0.001)
    assert v.frames == 48
    assert v.bit_rate == 5393406


def test_mp3_with_attached_cover(shared_data):
    info = probe(shared_data / "video" / "moviepy_with-attached-pic.mp3")
    a, pic = info.streams
    assert (a.type, a.codec, a.sample_rate, a.channels) == ("audio", "mp3", 44100, 2)
    assert (pic.type, pic.codec, pic.width, pic.height) == ("video", "mjpeg", 1618, 1381)
    assert pic.frame_rate is None  # a still picture has no frame rate
    assert pic.attached_pic and not a.attached_pic
    assert info.has_audio and not info.has_video  # album art is not moving video
    assert info.duration == pytest.approx(1.019, abs=0.02)
    assert info.start_time == pytest.approx(0.012, abs=0.001)
    assert info.tags["artist"] == "Momotsuki Gakuen Ichinen C gumi"


def test_nonzero_start_time(shared_data):
    info = probe(shared_data / "video" / "delayed_start.mp4")
    assert info.start_time == pytest.approx(1.075, abs=0.001)
    assert info.streams[0].start_time == pytest.approx(1.075, abs=0.001)


def _manifest_cases():
    from conftest import SHARED

    folder = SHARED / "video"
    if not (folder / "manifest.jsonl").is_file():
        return []
    return sorted(load_manifest(folder))


@pytest.mark.parametrize("name", _manifest_cases())
def test_every_shared_video_matches_manifest(shared_data, name, no_hang):
    row = load_manifest(shared_data / "video")[name]
    info = no_hang(probe, shared_data / "video" / name)
    if row["duration"] is not None:
        # FFmpeg 8 may leave the start offset out of the container duration
        assert info.duration is not None
        assert (
            min(
                abs(info.duration - row["duration"]),
                abs(info.duration + (info.start_time or 0) - row["duration"]),
            )
            < 0.1
        )
    expected = row["streams"]
    assert [(s.type, s.codec) for s in info.streams] == [(m["type"], m["codec"]) for m in expected]
    for s, m in zip(info.streams, expected, strict=True):
        if m["type"] == "video":
            assert (s.width, s.height) == (m["width"], m["height"])
            assert s.pix_fmt == m["pix_fmt"]
            if m.get("nb_frames"):
                assert s.frames == int(m["nb_frames"])
            if m.get("rotation") is not None:
                assert s.rotation == float(m["rotation"])
            if m.get("sar") and m["sar"] != "0:1":
                assert s.sample_aspect_ratio == m["sar"]
                assert s.display_aspect_ratio == m["dar"]
            if m["avg_frame_rate"] != "0/0":
                assert s.frame_rate == m["avg_frame_rate"]
                assert s.nominal_frame_rate == m["r_frame_rate"]
        elif m["type"] == "audio":
            assert s.sample_rate == int(m["sample_rate"])
            assert s.channels == m["channels"]
            assert s.sample_format == m["sample_fmt"]
