"""Bad and odd input through the whole transcription path: a correct result or one clear error.

Silence and laughter must give an empty transcript (no invented text), music must not
become a repetition loop, broken files raise a one-line VidpipeError, and nothing hangs.
"""

from __future__ import annotations

import pytest
from whisper_normalizer.english import EnglishTextNormalizer

import vidpipe
from conftest import DATA, SHARED, call_with_timeout
from vidpipe.errors import MediaError, NoAudioError, VidpipeError
from vidpipe.speech.whisper import FasterWhisperEngine

normalize = EnglishTextNormalizer()

# Files whose audio holds no speech: the transcript must be empty.
NO_SPEECH = {
    "leopard_empty.wav",
    "pisets_test_silence.wav",
    "moviepy_no_duration.webm",
    "moviepy_video_with_failing_audio.mp4",
    "tinytag_16bit_pcm_to_als.mp4",
    "tinytag_detect_mp3_id3v1.x",
    "tinytag_detect_ogg.x",
    "mutagen_alac.m4a",
    "mutagen_no-tags.m4a",
    "mutagen_no-tags.3g2",
    "mutagen_silence-44-s.ac3",
    "whisper_timestamped_laugh1.mp3",  # laughter only
}
ERRORS = {
    "moviepy_result.webm": MediaError,
    "tinytag_empty_file.wav": MediaError,
    "mutagen_emptyfile.mp3": MediaError,
    "pisets_notsound.wav": MediaError,
    "pocketsphinx_bad.wav": MediaError,
    "pocketsphinx_evil.wav": MediaError,
    "tinytag_incomplete.mp3": MediaError,
    "tinytag_invalid_file.wav": MediaError,
    "tinytag_mp4_extended_size_truncated.m4a": MediaError,
    "tinytag_mp4_invalid_size_zero.m4a": MediaError,
    "mutagen_too-short.mp3": MediaError,
    "pisets_incorrect_sampling_freq.wav": MediaError,
    "pocketsphinx_null.wav": MediaError,
    "pocketsphinx_awful.wav": MediaError,
    "mutagen_truncated-64bit.mp4": MediaError,
    "tinytag_detect_mp4_m4a.x": NoAudioError,
    "mutagen_64bit.mp4": NoAudioError,
}


@pytest.fixture(scope="module")
def base() -> FasterWhisperEngine:
    return FasterWhisperEngine("base")


def _broken_files() -> list:
    shipped = {p.name: p for p in sorted((DATA / "broken").iterdir())}
    shared = SHARED / "broken"
    names = sorted(set(NO_SPEECH) | set(ERRORS))
    params = []
    for name in names:
        path = shipped.get(name) or shared / name
        marks = (
            []
            if name in shipped
            else [
                pytest.mark.skipif(
                    not path.is_file(), reason=f"{name} is evaluation-only; ../shared/data absent"
                )
            ]
        )
        params.append(pytest.param(path, id=name, marks=marks))
    return params


def test_every_broken_file_is_classified():
    if (SHARED / "broken").is_dir():
        present = {
            p.name for p in (SHARED / "broken").iterdir() if p.suffix not in (".md", ".jsonl")
        }
        assert present == set(NO_SPEECH) | set(ERRORS)


@pytest.mark.parametrize("path", _broken_files())
def test_broken_file(base, path):
    if path.name in ERRORS:
        with pytest.raises(ERRORS[path.name]) as info:
            call_with_timeout(vidpipe.transcribe, path, engine=base)
        line = info.value.one_line()
        assert "\n" not in line and path.name in line and info.value.hint
    else:
        tr = call_with_timeout(vidpipe.transcribe, path, engine=base, timeout=60)
        assert tr.segments == [], f"invented text over non-speech: {tr.text!r}"
        assert tr.duration > 0


def test_six_channel_music_gives_no_repetition_loop(base):
    # Big Buck Bunny, 5.1 AAC, music only. The batched pipeline alone returns
    # "Hmmmm..." (compression ratio 27); the temperature fallback removes it.
    tr = vidpipe.transcribe(DATA / "video" / "lhotse_big_buck_bunny_small.mp4", engine=base)
    assert all((s.compression_ratio or 0) <= 2.4 for s in tr.segments), tr.text
    assert "mmmmm" not in tr.text.lower()


def test_8khz_telephone_band_speech(base, tmp_path):
    phone = vidpipe.extract_audio(
        DATA / "jfk.flac", tmp_path / "jfk_8k.wav", sample_rate=8000, channels=1
    )
    assert vidpipe.probe(phone).audio_streams[0].sample_rate == 8000
    tr = vidpipe.transcribe(phone, engine=base)
    assert "ask not what your country can do for you" in normalize(tr.text)


def test_video_without_audio_stream(base):
    with pytest.raises(NoAudioError, match="has no audio stream"):
        vidpipe.transcribe(DATA / "video" / "moviepy_example.mp4", engine=base)


def test_audio_stream_out_of_range(base):
    with pytest.raises(NoAudioError) as info:
        vidpipe.transcribe(DATA / "jfk.flac", engine=base, audio_stream=3)
    assert "1" in info.value.one_line()


@pytest.mark.parametrize(
    ("name", "expect_speech"),
    [
        ("issue-134-rotate.mp4", True),  # rotation metadata, speech
        ("issue-195-aspect-ratio.mp4", True),  # non-square pixels, speech
        ("goldeneye-vfr-drop3.mp4", None),  # VFR, no audio stream
        ("issue-236-split-copy.mkv", False),  # multi-stream mkv
        ("tinytag_multi_stream.ogv", False),  # several streams, silent track
        ("sadtalker_WDA_KatieHill_000.mp4", True),
    ],
)
def test_odd_videos(base, shared_data, name, expect_speech):
    path = shared_data / "video" / name
    if expect_speech is None:
        with pytest.raises(NoAudioError):
            vidpipe.transcribe(path, engine=base)
        return
    tr = call_with_timeout(vidpipe.transcribe, path, engine=base, timeout=120)
    assert bool(tr.segments) == expect_speech
    assert all(0 <= s.start <= s.end <= tr.duration + 1e-6 for s in tr.segments)


def test_every_error_is_a_vidpipe_error(tmp_path, base):
    fake = tmp_path / "movie.mp4"
    fake.write_text("<html><body>404 not found</body></html>")
    with pytest.raises(VidpipeError):
        vidpipe.transcribe(fake, engine=base)
