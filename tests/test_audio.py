"""decode_audio() and extract_audio() on real files (no mocks, no ffmpeg binary)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import DATA
from vidpipe.errors import NoAudioError, OutputError, UsageError
from vidpipe.media import audio_duration, decode_audio, extract_audio, probe

VIDEO = DATA / "video"
BROKEN = DATA / "broken"
JFK_FLAC = DATA / "jfk.flac"
JFK_MP3 = DATA / "jfk.mp3"
BUNNY = VIDEO / "lhotse_big_buck_bunny_small.mp4"  # 5.312 s, AAC 5.1 at 48 kHz


def _envelope(x: np.ndarray, hop: int = 160) -> np.ndarray:
    n = len(x) // hop * hop
    return np.abs(x[:n]).reshape(-1, hop).mean(axis=1)


# --------------------------------------------------------------------------- decode_audio


def test_flac_stereo_44k_to_16k_mono():
    audio = decode_audio(JFK_FLAC)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == 11 * 16000
    assert 0.5 < np.abs(audio).max() <= 1.0
    assert 0.1 < float(np.sqrt(np.mean(audio**2))) < 0.2


def test_mp3_and_flac_of_the_same_speech_agree():
    flac, mp3 = decode_audio(JFK_FLAC), decode_audio(JFK_MP3)
    assert len(mp3) == len(flac) == 176000
    assert np.corrcoef(_envelope(flac), _envelope(mp3))[0, 1] > 0.99


def test_51_surround_downmixes_to_mono_with_exact_length():
    audio = decode_audio(BUNNY)
    assert len(audio) == round(5.312 * 16000)  # 84992
    peak = np.abs(audio).max()
    assert 0.01 < peak <= 1.0  # normalised down-mix: audible, not clipped


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000])
def test_output_rate(rate):
    audio = decode_audio(JFK_FLAC, sample_rate=rate)
    assert len(audio) == pytest.approx(11.0 * rate, abs=2)


def test_8khz_vorbis_silent_track_is_returned_not_an_error():
    audio = decode_audio(VIDEO / "tinytag_multi_stream.ogv")
    assert len(audio) == 30 * 16000
    assert np.abs(audio).max() < 1e-3  # ~ -91 dB


def test_8khz_stereo_mpeg4_als():
    audio = decode_audio(BROKEN / "tinytag_16bit_pcm_to_als.mp4")
    assert len(audio) == 1600  # 0.1 s


def test_22khz_wav_if_shipped():
    wav = DATA / "en_dev" / "LJ001-0002.wav"
    if not wav.exists():
        pytest.skip("en_dev not shipped")
    info = probe(wav)
    assert info.streams[0].sample_rate == 22050
    audio = decode_audio(wav)
    assert len(audio) == pytest.approx(info.duration * 16000, abs=2)


@pytest.mark.parametrize(
    ("name", "samples"),
    [("leopard_empty.wav", 131392), ("pisets_test_silence.wav", 159274)],
)
def test_no_speech_wavs_decode(name, samples):
    assert len(decode_audio(BROKEN / name)) == samples  # already 16 kHz: sample-exact


def test_progress_callback():
    calls: list[tuple[float, float]] = []
    audio = decode_audio(BUNNY, progress=lambda done, total: calls.append((done, total)))
    assert calls, "progress was never called"
    done = [c[0] for c in calls]
    assert done == sorted(done)
    assert done[-1] == pytest.approx(len(audio) / 16000, abs=0.05)
    assert calls[-1][1] == pytest.approx(5.312, abs=0.01)


def test_progress_total_is_zero_when_unknown():
    calls: list[tuple[float, float]] = []
    decode_audio(BROKEN / "moviepy_no_duration.webm", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][1] == 0.0
    assert calls[-1][0] == pytest.approx(4.86, abs=0.05)


def test_stream_selection():
    np.testing.assert_array_equal(decode_audio(BUNNY, stream=0), decode_audio(BUNNY))
    with pytest.raises(NoAudioError, match=r"no audio stream 1; it has 1 audio stream\b"):
        decode_audio(BUNNY, stream=1)
    with pytest.raises(UsageError):
        decode_audio(BUNNY, stream=-1)


def test_video_without_audio():
    with pytest.raises(NoAudioError, match="has no audio stream") as err:
        decode_audio(VIDEO / "moviepy_example.mp4")
    assert "\n" not in str(err.value) and err.value.hint


@pytest.mark.parametrize("rate", [0, -16000, 16000.5, True])
def test_bad_sample_rate(rate):
    with pytest.raises(UsageError):
        decode_audio(JFK_MP3, sample_rate=rate)


def test_audio_duration():
    assert audio_duration(BUNNY) == pytest.approx(5.312, abs=0.001)
    assert audio_duration(VIDEO / "moviepy_transparent.webm") == pytest.approx(4.943, abs=0.002)
    assert audio_duration(BROKEN / "moviepy_no_duration.webm") is None
    with pytest.raises(NoAudioError):
        audio_duration(VIDEO / "moviepy_example.mp4")


# --------------------------------------------------------------------------- extract_audio


@pytest.mark.parametrize(
    ("suffix", "codec", "channels"),
    [(".wav", "pcm_s16le", 6), (".flac", "flac", 6), (".mp3", "mp3", 2), (".m4a", "aac", 6)],
)
def test_extract_51_keeps_rate_and_duration(tmp_path, suffix, codec, channels):
    out = extract_audio(BUNNY, tmp_path / f"bunny{suffix}")
    assert out == tmp_path / f"bunny{suffix}"
    info = probe(out)
    (a,) = info.streams
    assert a.codec == codec
    assert a.sample_rate == 48000
    assert a.channels == channels  # mp3 holds at most stereo
    assert info.duration == pytest.approx(5.312, abs=0.05)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3", ".m4a"])
def test_extract_16k_mono_mp3_source(tmp_path, suffix):
    out = extract_audio(JFK_MP3, tmp_path / f"jfk{suffix}")
    info = probe(out)
    assert info.streams[0].sample_rate == 16000
    assert info.streams[0].channels == 1
    assert info.duration == pytest.approx(11.0, abs=0.05)


def test_extract_resample_and_downmix(tmp_path):
    out = extract_audio(BUNNY, tmp_path / "speech.wav", sample_rate=16000, channels=1)
    a = probe(out).streams[0]
    assert (a.sample_rate, a.channels) == (16000, 1)
    assert a.duration == pytest.approx(5.312, abs=0.01)
    # the wav holds the same signal decode_audio returns, to 16-bit precision
    direct, via_wav = decode_audio(BUNNY), decode_audio(out)
    assert len(via_wav) == pytest.approx(len(direct), abs=32)
    n = min(len(direct), len(via_wav))
    assert np.abs(direct[:n] - via_wav[:n]).max() < 1e-3


def test_extract_8khz_vorbis_to_m4a(tmp_path):
    info = probe(extract_audio(VIDEO / "tinytag_multi_stream.ogv", tmp_path / "a.m4a"))
    assert info.streams[0].sample_rate == 8000
    assert info.duration == pytest.approx(30.0, abs=0.05)


def test_extract_overwrites_atomically(tmp_path):
    out = tmp_path / "a.wav"
    out.write_bytes(b"old")
    extract_audio(JFK_MP3, out)
    assert probe(out).duration == pytest.approx(11.0, abs=0.01)


def test_extract_unknown_suffix(tmp_path):
    with pytest.raises(UsageError, match=r"\.ogg") as err:
        extract_audio(JFK_MP3, tmp_path / "a.ogg")
    assert ".wav" in err.value.hint and ".m4a" in err.value.hint
    assert not list(tmp_path.iterdir())


def test_extract_encoder_limits(tmp_path):
    with pytest.raises(UsageError, match="96000 Hz"):
        extract_audio(JFK_MP3, tmp_path / "a.mp3", sample_rate=96000)
    with pytest.raises(UsageError, match="at most 2 channels"):
        extract_audio(BUNNY, tmp_path / "a.mp3", channels=6)
    with pytest.raises(UsageError):
        extract_audio(BUNNY, tmp_path / "a.wav", channels=0)
    assert not list(tmp_path.iterdir())


def test_extract_missing_stream_and_no_audio(tmp_path):
    with pytest.raises(NoAudioError, match="it has 1 audio stream"):
        extract_audio(BUNNY, tmp_path / "a.wav", stream=3)
    with pytest.raises(NoAudioError):
        extract_audio(VIDEO / "moviepy_example.mp4", tmp_path / "a.wav")
    assert not list(tmp_path.iterdir())


def test_extract_unwritable_destination(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError):
        extract_audio(JFK_MP3, blocker / "out.wav")


# --------------------------------------------------------------------------- shared data


def test_shared_22khz_aac_in_3gpp2(shared_data):
    f = shared_data / "broken" / "mutagen_no-tags.3g2"
    audio = decode_audio(f)
    # 16.347 s in the header, minus 1024 samples of AAC priming that decoders drop
    assert len(audio) / 16000 == pytest.approx(16.347 - 1024 / 22050, abs=0.01)


@pytest.mark.parametrize(
    ("folder", "name", "duration"),
    [
        ("video", "issue-134-rotate.mp4", 10.008),
        ("video", "issue-195-aspect-ratio.mp4", 25.117),
        ("video", "moviepy_smpte-2997.mp4", 10.048),
        ("video", "sadtalker_WDA_KatieHill_000.mp4", 8.0),
        ("en_long", "bush_radio_address_2008-11-01_gb0.wav", 127.355),
    ],
)
def test_shared_decode_length_matches_header(shared_data, folder, name, duration):
    audio = decode_audio(shared_data / folder / name)
    assert len(audio) / 16000 == pytest.approx(duration, abs=0.05)


def test_shared_attached_picture_is_ignored(shared_data, tmp_path):
    f = shared_data / "video" / "moviepy_with-attached-pic.mp3"
    audio = decode_audio(f)
    assert len(audio) / 16000 == pytest.approx(1.007, abs=0.02)
    info = probe(extract_audio(f, tmp_path / "a.m4a"))
    assert [s.type for s in info.streams] == ["audio"]
    assert info.duration == pytest.approx(len(audio) / 16000, abs=0.05)


def test_filter_graphs_are_collected_at_most_once_per_period(monkeypatch):
    """A resampler's filter graph sat in a reference cycle in older PyAV (faster-whisper
    #390), so the decoder runs the cycle collector after a file, but at most once per
    ``COLLECT_EVERY`` seconds: a full collection per file cost every service upload up
    to 0.3 s. Counted here: a burst of files inside the period costs no collection,
    files further apart one each; after a collection no filter graph is left alive."""
    import gc
    import time

    import vidpipe.media.audio as audio_mod

    calls: list[int] = []

    class CountingGc:
        def collect(self, *args):
            calls.append(1)
            return gc.collect(*args)

    monkeypatch.setattr(audio_mod, "gc", CountingGc())
    monkeypatch.setattr(audio_mod, "_last_collect", time.monotonic())
    for _ in range(3):  # 44.1 kHz stereo: resampled
        decode_audio(JFK_FLAC)
    assert calls == []  # a burst: collected by the next file after the period
    monkeypatch.setattr(audio_mod, "COLLECT_EVERY", 0.0)
    for _ in range(2):
        decode_audio(JFK_FLAC)
    assert len(calls) == 2
    graphs = [
        o
        for o in gc.get_objects()
        if type(o).__name__ == "Graph" and str(type(o).__module__).startswith("av")
    ]
    assert graphs == []
