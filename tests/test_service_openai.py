"""The OpenAI-compatible audio routes through the official ``openai`` client, on a real
uvicorn server with the bundled models (issue 12): transcriptions in every response
format, streaming, translations, speech in every format, models, errors."""

from __future__ import annotations

import io
import re
import wave
from pathlib import Path

import av
import httpx
import jiwer
import numpy as np
import openai
import pysubs2
import pytest
from whisper_normalizer.english import EnglishTextNormalizer

from conftest import DATA, start_service

JFK = DATA / "jfk.flac"
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
_norm = EnglishTextNormalizer()


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(_norm(reference), _norm(hypothesis))


@pytest.fixture(scope="module")
def client(service_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=service_url + "/v1", api_key="unused", max_retries=0)


def _transcribe(client: openai.OpenAI, path: Path = JFK, **kwargs):
    kwargs.setdefault("model", "tiny.en")
    with path.open("rb") as fh:
        return client.audio.transcriptions.create(file=fh, **kwargs)


# --------------------------------------------------------------------------- models


def test_models_list_the_alias_the_bundled_and_the_speech_models(client, service_url):
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "whisper-1"
    assert {"tiny.en", "base", "tts-1"} <= set(ids)
    assert client.models.retrieve("tiny.en").id == "tiny.en"
    r = httpx.get(service_url + "/v1/models/no-such-model")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "NotFoundError"


# --------------------------------------------------------------------------- transcriptions


def test_json_and_text_are_right_after_normalisation(client):
    res = _transcribe(client)
    assert wer(JFK_TEXT, res.text) <= 0.05, res.text
    text = _transcribe(client, response_format="text")
    assert isinstance(text, str)
    assert wer(JFK_TEXT, text) <= 0.05, text


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_parse_back_with_pysubs2(client, fmt):
    body = _transcribe(client, response_format=fmt)
    subs = pysubs2.SSAFile.from_string(body, format_=fmt)
    assert len(subs) >= 2  # cues split to two lines of 42 columns
    starts = [ev.start for ev in subs]
    assert starts == sorted(starts)
    assert all(ev.end > ev.start for ev in subs)
    assert subs[-1].end <= 11_100  # ms; the clip is 11.0 s
    assert wer(JFK_TEXT, " ".join(ev.plaintext.replace("\n", " ") for ev in subs)) <= 0.05


def test_verbose_json_with_word_and_segment_times(client):
    res = _transcribe(
        client, response_format="verbose_json", timestamp_granularities=["word", "segment"]
    )
    assert res.language == "english"
    assert res.duration == pytest.approx(11.0, abs=0.05)
    assert wer(JFK_TEXT, res.text) <= 0.05
    words = res.words
    assert len(words) >= 20
    assert [w.word for w in words][:3] == ["And", "so", "my"]
    ends = [0.0]
    for w in words:
        assert w.start >= ends[-1] - 1e-6 and w.end >= w.start
        ends.append(w.end)
    assert words[-1].end <= 11.0
    assert res.segments and res.segments[0].start <= words[0].start


def test_verbose_json_word_granularity_only_leaves_out_segments(client):
    res = _transcribe(client, response_format="verbose_json", timestamp_granularities=["word"])
    assert res.words and res.segments is None


def test_whisper_1_is_the_default_model(client):
    res = _transcribe(client, model="whisper-1", language="en", response_format="verbose_json")
    assert wer(JFK_TEXT, res.text) <= 0.1, res.text
    assert res.words is None  # no word granularity asked for


def test_streaming_sends_deltas_window_by_window(client, tmp_path):
    # five LJSpeech sentences with a second of silence between: over 30 s of speech
    rows = [line.split("\t") for line in (DATA / "en_dev/transcripts.tsv").read_text().splitlines()]
    names = {r[0]: r[2] for r in rows[1:]}
    chosen = [f"LJ001-00{i:02d}.wav" for i in (1, 3, 4, 5, 6)]
    pieces = []
    for name in chosen:
        with wave.open(str(DATA / "en_dev" / name)) as w:
            rate = w.getframerate()
            pieces.append(np.frombuffer(w.readframes(w.getnframes()), "<i2"))
            pieces.append(np.zeros(rate, "<i2"))
    path = tmp_path / "five.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.concatenate(pieces).tobytes())
    assert sum(len(p) for p in pieces) / rate > 40
    with path.open("rb") as fh:
        stream = client.audio.transcriptions.create(file=fh, model="tiny.en", stream=True)
        events = list(stream)
    deltas = [e for e in events if e.type == "transcript.text.delta"]
    assert len(deltas) >= 2, events  # more than one 30 s window
    assert events[-1].type == "transcript.text.done"
    assert events[-1].text == "".join(d.delta for d in deltas)
    assert wer(" ".join(names[n] for n in chosen), events[-1].text) <= 0.15


def test_streaming_error_is_an_error_event(client):
    with JFK.open("rb") as fh, pytest.raises(openai.APIError, match="English-only"):
        list(
            client.audio.transcriptions.create(file=fh, model="tiny.en", language="de", stream=True)
        )


@pytest.mark.slow
def test_translation_to_english(client):
    path = DATA / "ru" / "pisets_test_sound_ru.wav"  # "нейронные сети это хорошо"
    with path.open("rb") as fh:
        res = client.audio.translations.create(file=fh, model="base")
    assert res.text.strip()
    assert not re.search("[а-яА-Я]", res.text), res.text
    assert "network" in res.text.lower(), res.text  # base: "a natural network"
    with path.open("rb") as fh:
        verbose = client.audio.translations.create(
            file=fh, model="base", response_format="verbose_json"
        )
    assert verbose.language == "russian"


def test_english_only_model_cannot_translate(client):
    with JFK.open("rb") as fh, pytest.raises(openai.BadRequestError, match="English-only"):
        client.audio.translations.create(file=fh, model="tiny.en")


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError, match="unknown model"):
        _transcribe(client, model="large-v9")


def test_not_media_is_400_as_openai_answers(client):
    with pytest.raises(openai.BadRequestError) as err:
        _transcribe(client, path=DATA / "broken" / "pisets_notsound.wav")
    assert err.value.status_code == 400
    assert err.value.body["type"] == "MediaError"
    assert err.value.param == "file" and err.value.code == "invalid_value"


def test_upload_over_the_limit_is_413_and_nothing_stays(tmp_path):
    svc = start_service(tmp_path / "home", worker=False, max_audio_bytes=50_000)
    try:
        small = openai.OpenAI(base_url=svc.url + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.APIStatusError) as err:
            _transcribe(small)  # jfk.flac is 350 kB
        assert err.value.status_code == 413
        tmp = tmp_path / "home" / "tmp"
        assert not tmp.exists() or list(tmp.iterdir()) == []
    finally:
        svc.stop()


# --------------------------------------------------------------------------- speech

SENTENCE = "Hello there. This sentence was spoken by vidpipe."


def _decode(data: bytes) -> tuple[float, str]:
    with av.open(io.BytesIO(data)) as c:
        stream = c.streams.audio[0]
        samples = sum(f.samples for f in c.decode(stream))
        return samples / stream.rate, stream.codec_context.name


@pytest.mark.parametrize(
    ("fmt", "codec"),
    [("wav", "pcm_s16le"), ("mp3", "mp3"), ("flac", "flac"), ("aac", "aac"), ("opus", "opus")],
)
def test_speech_decodes_in_each_format(client, fmt, codec):
    res = client.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE,
                                     response_format=fmt)  # fmt: skip
    seconds, name = _decode(res.content)
    assert name.startswith(codec)
    assert 1.5 < seconds < 8.0


def test_speech_pcm_is_24khz_16bit(client):
    wav = client.audio.speech.create(model="tts-1", voice="joe", input=SENTENCE,
                                     response_format="wav")  # fmt: skip
    pcm = client.audio.speech.create(model="tts-1", voice="joe", input=SENTENCE,
                                     response_format="pcm")  # fmt: skip
    seconds, _ = _decode(wav.content)
    assert len(pcm.content) % 2 == 0
    # Piper samples its phoneme durations, so two syntheses differ by a few per cent
    assert len(pcm.content) / 2 / 24000 == pytest.approx(seconds, rel=0.2)
    samples = np.frombuffer(pcm.content, "<i2")
    assert np.abs(samples).max() > 3000  # speech, not silence


def test_speech_speed_and_round_trip(client, tmp_path):
    normal = client.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE,
                                        response_format="wav")  # fmt: skip
    fast = client.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE,
                                      response_format="wav", speed=2.0)  # fmt: skip
    ratio = _decode(fast.content)[0] / _decode(normal.content)[0]
    # the pause between the two sentences is not scaled, and Piper samples its phoneme
    # durations: 6 pairs measured 0.66-0.70, one CI run 0.754; speed ignored gives ~1.0
    assert 0.4 < ratio < 0.85, ratio
    plain = "The weather is nice today. We will go for a walk in the park."
    spoken = client.audio.speech.create(model="tts-1", voice="alloy", input=plain,
                                        response_format="wav")  # fmt: skip
    path = tmp_path / "spoken.wav"
    path.write_bytes(spoken.content)
    # Piper samples its durations: allow a word of the 14 to come back wrong
    assert wer(plain, _transcribe(client, path=path).text) <= 0.15


def test_speech_bad_voice_and_model(client):
    with pytest.raises(openai.BadRequestError, match="unknown voice"):
        client.audio.speech.create(model="tts-1", voice="/etc/passwd", input="hi")
    with pytest.raises(openai.NotFoundError, match="unknown speech model"):
        client.audio.speech.create(model="nope", voice="alloy", input="hi")
    with pytest.raises(openai.BadRequestError) as err:  # OpenAI's status for a bad parameter
        client.audio.speech.create(model="tts-1", voice="alloy", input="hi", speed=9)
    assert err.value.param == "speed"
