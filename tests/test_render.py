"""The slideshow renderer on real photos (tests/data/photos) and real speech (JFK).

Outputs are decoded back with PyAV and checked: stream facts, the audio track against
the input audio, Ken Burns motion measured by phase correlation, the crossfade
midpoint, burned subtitles read back with the bundled OCR, the soft subtitle track.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from vidpipe.errors import InputError, MediaError, UsageError
from vidpipe.media.audio import decode_audio, mix_music
from vidpipe.media.render import RenderOptions, plan_slides, render_slideshow, view_rect
from vidpipe.media.subtitles import load_subtitles, wrap_text
from vidpipe.types import Segment, Transcript

DATA = Path(__file__).parent / "data"
PHOTOS = sorted((DATA / "photos").iterdir())
JFK = DATA / "jfk.flac"
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def _frames(path: Path, gray: bool = False) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="gray" if gray else "rgb24"))
    return out


def _small(**kw) -> RenderOptions:
    base = dict(width=320, height=180, preset="ultrafast", subtitles="none")
    base.update(kw)
    return RenderOptions(**base)


@pytest.fixture(scope="module")
def narrated(tmp_path_factory) -> tuple[Path, object]:
    """Four photos over JFK's 11 s, burned English subtitles, 640x360."""
    out = tmp_path_factory.mktemp("render") / "jfk.mp4"
    subs = Transcript(segments=[Segment(id=0, start=0.3, end=10.5, text=JFK_TEXT)])
    result = render_slideshow(
        PHOTOS[:4],
        out,
        audio=JFK,
        subtitles=subs,
        options=RenderOptions(width=640, height=360, preset="veryfast", subtitles="both"),
    )
    return out, result


def test_stream_facts_and_duration(narrated):
    out, result = narrated
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.name, v.format.name) == ("h264", "yuv420p")
        assert (v.width, v.height) == (640, 360)
        assert v.average_rate == 24
        assert a.codec_context.name == "aac" and a.sample_rate == 48000
        assert c.streams.subtitles[0].codec_context.name == "mov_text"
        v_dur = float(v.duration * v.time_base)
        a_dur = float(a.duration * a.time_base)
        n = sum(1 for _ in c.decode(video=0))
    audio_in = decode_audio(JFK, 48000).shape[0] / 48000
    assert n == result.frames == round(audio_in * 24)
    assert abs(v_dur - audio_in) <= 1 / 24
    assert abs(a_dur - audio_in) <= 1 / 24
    # faststart: the moov atom comes before mdat.
    head = out.read_bytes()[:200_000]
    assert 0 <= head.find(b"moov") < head.find(b"mdat")
    # Slides: equal split of the audio.
    assert result.plan.bounds == pytest.approx([0, 2.75, 5.5, 8.25, 11.0])


def test_audio_track_decodes_to_the_input(narrated):
    out, _ = narrated
    ref = decode_audio(JFK, 16000)
    got = decode_audio(out, 16000)
    assert abs(got.size - ref.size) <= 16000 // 24
    n = min(ref.size, got.size)
    ref, got = ref[:n], got[:n]
    # Aligned (no offset from AAC priming) and the same signal: correlation ~1.
    xc = np.correlate(got[16000:32000], ref[16000 - 80 : 32000 + 80], mode="valid")
    assert int(np.argmax(xc)) == 80
    corr = np.corrcoef(ref, got)[0, 1]
    assert corr > 0.99, corr


def test_sidecar_srt_and_soft_track(narrated):
    out, result = narrated
    assert result.srt == out.with_suffix(".srt")
    cues = load_subtitles(result.srt)
    assert " ".join(s.text for s in cues.segments) == JFK_TEXT
    with av.open(str(out)) as c:
        st = c.streams.subtitles[0]
        # movenc fills gaps between cues with empty samples (2 zero bytes).
        packets = [p for p in c.demux(st) if p.size > 2]
    texts = [bytes(p)[2:].decode() for p in packets]  # cues of up to two lines
    assert all(len(t.split("\n")) <= 2 for t in texts)
    assert " ".join(" ".join(t.split()) for t in texts) == JFK_TEXT
    assert float(packets[0].pts * packets[0].time_base) == pytest.approx(0.3, abs=0.002)


def test_burned_english_subtitle_is_read_back(narrated):
    from vidpipe.vision.ocr import ocr_image

    out, _ = narrated
    frames = _frames(out)
    lines = ocr_image(frames[24 * 5])  # 5 s in: the cue is on screen
    # RapidOCR's English model drops most spaces: compare letters only.
    text = "".join("".join(lines[-2:]).lower().split())
    for words in ("fellow americans", "ask not what your country"):
        assert "".join(words.split()) in text, lines


def test_burned_chinese_subtitle_is_read_back(tmp_path):
    from vidpipe.vision.ocr import ocr_image

    line = "我们今天在这里讨论环境保护"
    subs = Transcript(segments=[Segment(id=0, start=0.0, end=1.0, text=line)])
    out = render_slideshow(
        [PHOTOS[0]],
        tmp_path / "zh.mp4",
        durations=[1.0],
        subtitles=subs,
        options=RenderOptions(width=960, height=540, preset="veryfast", ken_burns=False),
    ).output
    frame = _frames(out)[12]
    read = "".join("".join(ocr_image(frame)).split())
    assert line in read, read


def test_ken_burns_pan_moves_steadily(tmp_path):
    out = render_slideshow(
        [DATA / "photos" / "rocket.jpg"],
        tmp_path / "pan.mp4",
        durations=[2.0],
        options=_small(width=640, height=360, motion="right", fit="fill", crf=12),
    ).output
    frames = [f.astype(np.float32) for f in _frames(out, gray=True)]
    shifts = []
    for a, b in itertools.pairwise(frames):
        (dx, dy), _ = cv2.phaseCorrelate(a, b)
        shifts.append((dx, dy))
    dx = np.array([s[0] for s in shifts])
    dy = np.array([s[1] for s in shifts])
    # The view crosses (canvas - frame) = 0.1 * 640 = 64 px of canvas in 47 steps:
    # the picture moves left by ~64/1.1/47 output px per frame, every frame alike.
    expected = -(704 - 640) / 1.1 / 47
    assert np.median(dx) == pytest.approx(expected, abs=0.15)
    assert np.all(np.abs(dx - np.median(dx)) < 0.35), dx
    assert np.all(np.abs(dy) < 0.2)


def test_ken_burns_zoom_changes_every_frame_alike(tmp_path):
    out = render_slideshow(
        [DATA / "photos" / "coffee.png"],
        tmp_path / "zoom.mp4",
        durations=[2.0],
        options=_small(width=640, height=360, motion="in", fit="fill", crf=12),
    ).output
    frames = [f.astype(np.float32) for f in _frames(out, gray=True)]
    diffs = np.array([np.abs(b - a).mean() for a, b in itertools.pairwise(frames)])
    assert diffs.min() > 0.05  # never a frozen frame
    assert diffs.std() / diffs.mean() < 0.35  # no jumps: steady change
    # Zooming in: the centre grows, so the edges of frame 0 leave the picture.
    first, last = frames[0], frames[-1]
    assert np.abs(first - last).mean() > 3


def test_view_rect_geometry():
    canvas, frame = (2112, 1188), (1920, 1080)
    assert view_rect("in", 0.0, canvas, frame, 1.1) == pytest.approx((0, 0, 2112, 1188))
    x0, y0, w, h = view_rect("in", 1.0, canvas, frame, 1.1)
    assert (w, h) == pytest.approx((1920, 1080))
    assert (x0, y0) == pytest.approx((96, 54))
    # Geometric zoom: equal scale ratios per step.
    widths = [view_rect("in", p, canvas, frame, 1.1)[2] for p in np.linspace(0, 1, 11)]
    ratios = np.array(widths[:-1]) / np.array(widths[1:])
    assert np.allclose(ratios, ratios[0])
    assert view_rect("left", 0.0, canvas, frame, 1.1)[0] == pytest.approx(192)
    assert view_rect("left", 1.0, canvas, frame, 1.1)[0] == pytest.approx(0)


def test_crossfade_midpoint_blends_both_images(tmp_path):
    out = render_slideshow(
        [DATA / "photos" / "astronaut.png", DATA / "photos" / "coffee.png"],
        tmp_path / "xfade.mp4",
        durations=[2.0, 2.0],
        options=_small(ken_burns=False, transition_duration=1.0, crf=10),
    ).output
    frames = [f.astype(np.float32) for f in _frames(out)]
    assert len(frames) == 96
    a, b, mid = frames[12], frames[84], frames[48]  # before, after, at the 2.0 s bound
    assert np.abs(a - b).mean() > 30  # two different pictures
    blend = (a + b) / 2
    assert np.abs(mid - blend).mean() < 3.0
    assert np.abs(mid - a).mean() > 10 and np.abs(mid - b).mean() > 10
    # Before the transition starts (1.5 s) the first picture is untouched.
    assert np.abs(frames[30] - a).mean() < 1.5


def test_fade_through_black(tmp_path):
    out = render_slideshow(
        PHOTOS[:2],
        tmp_path / "fade.mp4",
        durations=[2.0, 2.0],
        options=_small(ken_burns=False, transition="fade", transition_duration=1.0),
    ).output
    luma = [f.mean() for f in _frames(out, gray=True)]
    assert min(luma[44:53]) < 20  # black at the boundary (limited-range black is 16)
    assert luma[20] > 40 and luma[80] > 40


def test_fit_keeps_the_whole_image_and_fills_with_blur(tmp_path):
    # A tall image in a wide frame: fit shows it whole over a blurred fill.
    tall = tmp_path / "tall.png"
    Image.open(DATA / "photos" / "rocket.jpg").rotate(90, expand=True).save(tall)
    out = render_slideshow(
        [tall], tmp_path / "fit.mp4", durations=[1.0], options=_small(ken_burns=False)
    ).output
    f = _frames(out)[0].astype(np.float32)
    side = f[:, :40]
    assert side.std() > 2  # not a flat colour bar: the blurred picture
    assert np.abs(np.diff(side, axis=1)).mean() < 2  # ...and smooth (blurred)


def test_music_is_ducked_under_speech():
    from vidpipe.media.audio import speech_envelope

    speech = decode_audio(JFK, 48000, channels=2)
    # Big Buck Bunny's soundtrack is quiet (-44 dBFS): levelling makes it audible anyway.
    music = decode_audio(DATA / "video" / "lhotse_big_buck_bunny_small.mp4", 48000, channels=2)
    mixed = mix_music(speech, music, 48000, volume_db=-14, duck_db=-12)
    assert mixed.shape == speech.shape
    bed = (mixed - speech)[:, 0]
    mono = speech.mean(axis=1)
    active = np.repeat(speech_envelope(speech, 48000, window=0.01), 480)[: mono.size]
    speech_rms = np.sqrt((mono[active] ** 2).mean())
    loop = np.concatenate([music] * 3)[: mono.size]
    level = speech_rms / np.sqrt((loop**2).mean())  # music levelled to the speech

    def gain_db(a, b):  # the bed's gain against the levelled music, dB
        return 20 * np.log10(np.sqrt((bed[a:b] ** 2).mean()) / np.sqrt((loop[a:b, 0] ** 2).mean()))

    talking = gain_db(int(1.0 * 48000), int(2.0 * 48000)) - 20 * np.log10(level)
    assert talking == pytest.approx(-26, abs=1.5)  # volume -14 dB + ducking -12 dB
    before = gain_db(0, int(0.2 * 48000)) - 20 * np.log10(level)  # before the first word
    assert before == pytest.approx(-14, abs=1.5)


def test_render_with_music_end_to_end(tmp_path):
    out = render_slideshow(
        PHOTOS[:2],
        tmp_path / "music.mp4",
        audio=JFK,
        music=DATA / "video" / "lhotse_big_buck_bunny_small.mp4",
        options=_small(),
    ).output
    got = decode_audio(out, 16000)
    ref = decode_audio(JFK, 16000)
    n = min(got.size, ref.size)
    assert abs(got.size - ref.size) < 16000 // 24
    assert np.sqrt(((got[:n] - ref[:n]) ** 2).mean()) > 0.005  # music is in there


# --------------------------------------------------------------------------- planning


def test_plan_equal_split_starts_and_durations():
    assert plan_slides(4, total=10.0).bounds == pytest.approx([0, 2.5, 5, 7.5, 10])
    assert plan_slides(3).bounds == pytest.approx([0, 3, 6, 9])
    p = plan_slides(3, total=20.0, starts=[0.4, 6.0, 13.0])
    assert p.bounds == pytest.approx([0, 6, 13, 20])
    p = plan_slides(3, total=10.0, durations=[2, 3, 4])
    assert p.bounds == pytest.approx([0, 2, 5, 10])


def test_wrap_text_latin_and_cjk():
    from vidpipe.media.fonts import load_font

    font = load_font(None, 40)
    lines = wrap_text(JFK_TEXT, font, 700, balanced=True)
    assert " ".join(lines) == JFK_TEXT
    assert all(font.getlength(ln) <= 700 for ln in lines)
    zh = "我们今天在这里举行会议，讨论如何提高人民的生活水平。"
    lines = wrap_text(zh, font, 400)
    assert "".join(lines) == zh and len(lines) > 1
    assert not any(ln[0] in "，。" for ln in lines)  # punctuation never starts a line


# --------------------------------------------------------------------------- bad input


def test_missing_and_corrupt_images(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        render_slideshow([tmp_path / "nope.jpg"], tmp_path / "o.mp4", options=_small())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((DATA / "photos" / "rocket.jpg").read_bytes()[:5000])
    with pytest.raises(InputError, match=r"broken\.jpg: not a readable image"):
        render_slideshow([PHOTOS[0], broken], tmp_path / "o.mp4", options=_small())
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(InputError, match=r"notes\.png"):
        render_slideshow([text], tmp_path / "o.mp4", options=_small())
    assert not (tmp_path / "o.mp4").exists()


def test_zero_length_audio(tmp_path):
    with pytest.raises(MediaError):
        render_slideshow(
            PHOTOS[:2], tmp_path / "o.mp4", audio=DATA / "broken" / "tinytag_empty_file.wav"
        )


def test_more_slides_than_the_audio_allows(tmp_path):
    with pytest.raises(UsageError, match=r"10 slides do not fit in 11\.00 s") as info:
        render_slideshow(
            PHOTOS, tmp_path / "o.mp4", audio=JFK, options=_small(transition_duration=1.2)
        )
    assert "use at most 8 images" in info.value.one_line()


@pytest.mark.parametrize(
    ("opts", "pattern"),
    [
        (dict(width=641), "width 641 is odd"),
        (dict(height=181), "height 181 is odd"),
        (dict(width=10), "from 64 to"),
        (dict(transition="wipe"), "unknown transition"),
        (dict(zoom=3.0), "zoom"),
    ],
)
def test_bad_options(tmp_path, opts, pattern):
    with pytest.raises(UsageError, match=pattern):
        render_slideshow(PHOTOS[:1], tmp_path / "o.mp4", options=_small(**opts))


def test_unknown_font(tmp_path):
    from vidpipe.media.subtitles import SubtitleStyle

    subs = Transcript(segments=[Segment(id=0, start=0, end=1, text="hello")])
    with pytest.raises(InputError, match=r"font not found: NoSuchFont\.ttf"):
        render_slideshow(
            PHOTOS[:1],
            tmp_path / "o.mp4",
            subtitles=subs,
            options=_small(subtitles="burn", style=SubtitleStyle(font="NoSuchFont.ttf")),
        )


def test_cli_bad_input_is_one_line(tmp_path):
    """Exit codes and messages from the command line, with no traceback."""
    cases = [
        (["--size", "641x360"], 2, "width 641 is odd"),
        (["--font", "NoSuchFont.ttf"], 3, "font not found"),
        (["--audio", str(DATA / "broken" / "tinytag_empty_file.wav")], 4, "error:"),
    ]
    for extra, code, text in cases:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "vidpipe",
                "render",
                str(PHOTOS[0]),
                "-o",
                str(tmp_path / "o.mp4"),
                "--subtitles",
                "none",
                *extra,
            ],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == code, (extra, proc.stderr)
        assert text in proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_cli_render_image_dir(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vidpipe",
            "render",
            "--image-dir",
            str(DATA / "photos"),
            "--slide-duration",
            "0.5",
            "--transition-duration",
            "0.2",
            "--size",
            "320x180",
            "--preset",
            "ultrafast",
            "-o",
            str(tmp_path / "dir.mp4"),
            "-q",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "10 slides, 5.00 s, 120 frames 320x180@24" in proc.stderr
    info = json.loads(
        subprocess.run(
            [sys.executable, "-m", "vidpipe", "probe", str(tmp_path / "dir.mp4"), "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert info
