"""Text to speech with the bundled Piper voice (real model, no mocks), checked by our own ASR.

The English paragraph is the second sentence of the US Declaration of Independence
(1776, public domain), cut into four sentences. The voice is loaded once per module.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import tracemalloc
import wave

import jiwer
import numpy as np
import pytest
from whisper_normalizer.english import EnglishTextNormalizer

import vidpipe
from vidpipe.errors import EXIT_OUTPUT, InputError, ModelError, OutputError, UsageError
from vidpipe.speech.tts import (
    MAX_SENTENCE_CHARS,
    PARAGRAPH_PAUSE,
    SENTENCE_PAUSE,
    PiperVoice,
    SpeechResult,
    Voice,
    get_voice,
    iter_sentences,
    speak,
    write_audio,
    write_sentences,
)
from vidpipe.text.chunking import chunk_transcript

SENTENCES = [
    "We hold these truths to be self-evident, that all men are created equal.",
    "They are endowed by their Creator with certain unalienable Rights.",
    "Among these are Life, Liberty and the pursuit of Happiness.",
    "To secure these rights, Governments are instituted among Men.",
]
PARAGRAPH = " ".join(SENTENCES)
normalize = EnglishTextNormalizer()

SPEECH_RMS = 0.02  # a sentence's span: clearly audible (full scale = 1.0)
SILENCE_RMS = 1e-3  # a pause: -60 dBFS or quieter


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def span(result: SpeechResult, start: float, end: float) -> np.ndarray:
    rate = result.sample_rate
    return result.audio[round(start * rate) : round(end * rate)]


@pytest.fixture(scope="module")
def voice() -> Voice:
    return get_voice()


@pytest.fixture(scope="module")
def spoken(voice, tmp_path_factory):
    """The paragraph spoken to a WAV file (audio kept too), with the progress calls recorded."""
    out = tmp_path_factory.mktemp("tts") / "declaration.wav"
    calls: list[tuple[float, float]] = []
    result = speak(
        PARAGRAPH, out, voice=voice, progress=lambda d, t: calls.append((d, t)), keep_audio=True
    )
    return result, out, calls


def test_default_voice_is_bundled_joe(voice):
    assert isinstance(voice, PiperVoice) and isinstance(voice, Voice)
    assert voice.name == "joe" and voice.language == "en" and voice.sample_rate == 22050
    # aliases and the model path give the same loaded model (loaded once)
    for alias in ("en_US-joe-medium", "en", "JOE"):
        assert get_voice(alias)._voice is voice._voice
    assert get_voice(language="en-GB")._voice is voice._voice
    by_path = get_voice(str(voice.model_path))
    assert by_path._voice is voice._voice and by_path.name == str(voice.model_path)


def test_round_trip_wer(spoken):
    result, out, _ = spoken
    with wave.open(str(out)) as wf:
        assert (wf.getnchannels(), wf.getsampwidth(), wf.getframerate()) == (1, 2, 22050)
        assert wf.getnframes() == result.audio.shape[0]
    tr = vidpipe.transcribe(out, model="tiny.en", language="en")
    wer = jiwer.wer(normalize(PARAGRAPH), normalize(tr.text))
    print(f"\nTTS round trip WER (joe -> tiny.en): {wer:.4f}; heard: {tr.text}")
    # Piper samples its phoneme durations (14.43-14.58 s over 6 syntheses), so the audio
    # differs from run to run; all 6 came back with WER 0.0: 0.10 (4 of its 42 words) is
    # a margin for that, not a measured figure
    assert wer <= 0.10
    assert tr.duration == pytest.approx(result.duration, abs=0.01)


def test_sentence_timings(spoken):
    result, _, calls = spoken
    sents = result.sentences
    assert [s.text for s in sents] == SENTENCES
    assert [s.id for s in sents] == list(range(len(SENTENCES)))
    assert result.voice == "joe" and result.language == "en" and result.sample_rate == 22050
    assert result.audio.dtype == np.float32 and result.audio.ndim == 1
    assert np.abs(result.audio).max() <= 1.0
    assert result.duration == pytest.approx(result.audio.shape[0] / 22050)
    assert sents[0].start == 0.0
    for s in sents:
        assert 0.0 <= s.start < s.end <= result.duration
        assert s.end - s.start > 1.0  # each sentence is several words long
        assert rms(span(result, s.start, s.end)) > SPEECH_RMS, s.text
    for a, b in itertools.pairwise(sents):
        assert b.start - a.end == pytest.approx(SENTENCE_PAUSE, abs=1e-3)
        assert rms(span(result, a.end, b.start)) < SILENCE_RMS
    assert result.duration - sents[-1].end <= SENTENCE_PAUSE
    # progress: once before the first sentence, then once per sentence
    assert calls == [(float(i), 4.0) for i in range(5)]


def test_to_transcript_chunks_without_asr(spoken, tmp_path):
    result, _, _ = spoken
    tr = result.to_transcript()
    assert tr.language == "en" and tr.model == "joe" and tr.engine == "piper"
    assert tr.duration == pytest.approx(result.duration)
    assert [s.text for s in tr.segments] == SENTENCES
    chunks = chunk_transcript(tr, max_duration=8.0)
    assert len(chunks) >= 2
    assert [i for c in chunks for i in c.segment_ids] == list(range(len(SENTENCES)))
    assert all(c.end - c.start <= 8.0 for c in chunks)

    doc = json.loads(write_sentences(result, tmp_path / "t.json").read_text(encoding="utf-8"))
    assert doc["sample_rate"] == 22050 and doc["voice"] == "joe"
    assert [s["text"] for s in doc["sentences"]] == SENTENCES
    assert doc["sentences"][1]["start"] == round(result.sentences[1].start, 3)
    srt = write_sentences(result, tmp_path / "t.srt").read_text(encoding="utf-8")
    assert srt.count("-->") == 4 and SENTENCES[2] in " ".join(srt.split())  # cues may wrap


def test_paragraph_pause_and_compressed_output(voice, tmp_path):
    text = "The first paragraph ends here.\n\nA second paragraph follows. It is short."
    out = tmp_path / "two.flac"
    result = speak(text, out, voice=voice, keep_audio=True)
    s = result.sentences
    assert len(s) == 3
    assert s[1].start - s[0].end == pytest.approx(PARAGRAPH_PAUSE, abs=1e-3)
    assert s[2].start - s[1].end == pytest.approx(SENTENCE_PAUSE, abs=1e-3)
    info = vidpipe.probe(out)
    assert info.streams[0].codec == "flac" and info.streams[0].sample_rate == 22050
    decoded = vidpipe.decode_audio(out, sample_rate=22050)
    assert decoded.shape[0] == result.audio.shape[0]
    assert np.abs(decoded - result.audio).max() < 1e-3  # 16-bit lossless


def test_iter_sentences_numbers_paragraphs():
    """Sentences come from vidpipe.text.sentences (tests/test_sentences.py); paragraphs at
    blank lines."""
    assert [p for p, _ in iter_sentences("One. Two.\nThree.\n\n\nFour.")] == [0, 0, 0, 1]


def test_speak_streams_to_the_file(voice, tmp_path):
    """With an output file the audio is only in the file; its length is the timings'."""
    text = "The first paragraph ends here.\n\nA second paragraph follows. It is short."
    for suffix in (".wav", ".mp3", ".m4a"):
        out = tmp_path / f"stream{suffix}"
        result = speak(text, out, voice=voice)
        assert result.audio is None and result.num_samples > 0
        assert [s.id for s in result.sentences] == [0, 1, 2]
        assert result.sentences[-1].end == pytest.approx(result.duration)
        assert vidpipe.probe(out).duration == pytest.approx(result.duration, abs=0.05)
        decoded = vidpipe.decode_audio(out, sample_rate=22050)
        if suffix == ".wav":
            assert decoded.shape[0] == result.num_samples
        for s in result.sentences:  # speech where the timings say, silence between
            assert rms(decoded[round(s.start * 22050) : round(s.end * 22050)]) > SPEECH_RMS
        a, b = result.sentences[:2]
        assert rms(decoded[round(a.end * 22050) + 600 : round(b.start * 22050) - 600]) < 0.01
    assert sorted(f.name for f in tmp_path.iterdir()) == [
        "stream.m4a",
        "stream.mp3",
        "stream.wav",
    ]  # no temporaries left
    with pytest.raises(UsageError, match="holds no audio"):
        write_audio(result, tmp_path / "again.wav")


def test_streaming_memory_does_not_grow_with_text(voice, tmp_path):
    """Peak traced memory (Python and numpy allocations) of speak() to a file is about
    one sentence's, whatever the text's length; keeping the audio (the old behaviour)
    grows with it, which shows the measurement can see growth."""
    short = " ".join(SENTENCES[:2])
    long = "\n\n".join([PARAGRAPH] * 3)  # 12 sentences, about 45 s of speech

    def peak(text: str, **kwargs) -> tuple[int, SpeechResult]:
        tracemalloc.start()
        try:
            result = speak(text, tmp_path / "m.wav", voice=voice, **kwargs)
            return tracemalloc.get_traced_memory()[1], result
        finally:
            tracemalloc.stop()

    short_peak, _ = peak(short)
    long_peak, long_result = peak(long)
    keep_peak, _ = peak(long, keep_audio=True)
    audio_bytes = long_result.num_samples * 4  # float32
    print(
        f"\npeak traced MB: 2 sentences {short_peak / 1e6:.1f}, 12 sentences streamed "
        f"{long_peak / 1e6:.1f}, kept {keep_peak / 1e6:.1f} (audio {audio_bytes / 1e6:.1f})"
    )
    assert len(long_result.sentences) == 12
    assert keep_peak > long_peak + audio_bytes // 2
    assert long_peak < 1.5 * short_peak + 1_000_000


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (about 1.5 s of 16-bit 22050 Hz audio); skipped where mounting is refused."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_full_disk_is_an_output_error(voice, tiny_disk):
    text = " ".join(SENTENCES * 2)  # far more than 64 KiB of audio
    for suffix in (".wav", ".mp3"):
        out = tiny_disk / f"speech{suffix}"
        with pytest.raises(OutputError, match=f"cannot write {out}: No space left") as info:
            speak(text, out, voice=voice)
        assert info.value.exit_code == EXIT_OUTPUT
        assert list(tiny_disk.iterdir()) == []  # the partial temporary is gone


def test_long_sentences_are_cut():
    words = " ".join(f"word{i}" for i in range(400))  # about 3000 characters, no punctuation
    pieces = [s for _, s in iter_sentences(words)]
    assert len(pieces) > 1 and all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert " ".join(pieces) == words
    clauses = ", ".join(["a clause of several words"] * 40)
    pieces = [s for _, s in iter_sentences(clauses)]
    assert all(p.endswith(",") for p in pieces[:-1]) and all(len(p) <= 500 for p in pieces)
    cjk = [s for _, s in iter_sentences("字" * 1200)]
    assert [len(p) for p in cjk] == [500, 500, 200]


def test_errors(voice, tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="unknown voice 'nobody'") as info:
        get_voice("nobody")
    assert "joe" in info.value.hint and "espeak:" in info.value.hint and ".onnx" in info.value.hint
    for empty in ("", "   \n\t "):
        with pytest.raises(InputError, match="no text"):
            speak(empty, tmp_path / "x.wav", voice=voice)
    with pytest.raises(InputError, match="nothing speakable"):
        speak("... !!", voice=voice)
    with pytest.raises(UsageError, match=r"\.ogg"):
        speak("Hello.", tmp_path / "x.ogg", voice=voice)
    with pytest.raises(UsageError, match="speaks 'en'"):
        get_voice("joe", language="de")
    with pytest.raises(ModelError, match="no such voice model file"):
        get_voice(str(tmp_path / "missing.onnx"))
    assert not list(tmp_path.iterdir())  # nothing written on errors

    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(ModelError, match="espeak-ng is not installed") as info:
        get_voice(language="de")
    assert "espeak-ng" in info.value.hint and ".onnx" in info.value.hint
    with pytest.raises(ModelError, match="espeak-ng"):
        get_voice("espeak:fr")


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng is not installed")
def test_german_with_espeak(tmp_path):
    v = get_voice(language="de")
    assert v.name == "espeak:de" and v.language == "de"
    text = "Guten Morgen. Das Wetter ist heute sehr schön!"
    result = speak(text, tmp_path / "de.wav", voice=v, keep_audio=True)
    assert [s.text for s in result.sentences] == [
        "Guten Morgen.",
        "Das Wetter ist heute sehr schön!",
    ]
    assert result.language == "de" and result.to_transcript().engine == "espeak-ng"
    a, b = result.sentences
    assert rms(span(result, a.start, a.end)) > SPEECH_RMS
    assert rms(span(result, b.start, b.end)) > SPEECH_RMS
    assert b.start - a.end == pytest.approx(SENTENCE_PAUSE, abs=1e-3)
    assert b.end == pytest.approx(result.duration)
    with wave.open(str(tmp_path / "de.wav")) as wf:
        assert wf.getframerate() == result.sample_rate and wf.getnframes() == len(result.audio)
    with pytest.raises(ModelError, match="no voice for language 'xx'"):
        get_voice(language="xx")
