"""Drop-in for the clients of other OpenAI-compatible speech servers (issue 21, point 4),
with the official ``openai`` client and raw httpx against a real uvicorn server:

- the Hugging Face ids of the bundled models are aliases (``Systran/faster-whisper-tiny.en``
  transcribes as ``tiny.en``: the same text; listed and retrievable, ``/`` in the id);
- ``POST /v1/audio/speech`` with ``stream_format: "sse"``: ``speech.audio.delta`` events
  whose base64 audio concatenates to the same audio as the plain answer, then
  ``speech.audio.done`` with a usage;
- OpenAI's 400 answers with ``error.param`` and ``error.code``: an upload that is not
  media, a bad parameter (schema), an unknown voice; an unknown model is 404
  ``model_not_found``.
"""

from __future__ import annotations

import base64
import io
import json
import wave

import httpx
import numpy as np
import openai
import pytest

from conftest import DATA
from vidpipe.speech.models import ALIASES, BUNDLED, canonical_model, resolve_model

JFK = DATA / "jfk.flac"
NOT_SOUND = DATA / "broken" / "pisets_notsound.wav"
SENTENCE = "Hello there. This sentence was streamed by vidpipe."


@pytest.fixture(scope="module")
def client(service_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=service_url + "/v1", api_key="unused", max_retries=0)


def _transcribe(client: openai.OpenAI, path=JFK, **kwargs):
    kwargs.setdefault("model", "tiny.en")
    with path.open("rb") as fh:
        return client.audio.transcriptions.create(file=fh, **kwargs)


def _events(body: str) -> list[tuple[str | None, dict]]:
    """``(event name, data)`` of each server-sent event of ``body``."""
    out = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            out.append((name, json.loads("\n".join(data))))
    return out


# --------------------------------------------------------------------------- aliases


def test_every_bundled_model_has_its_hub_id_as_alias():
    assert ALIASES["Systran/faster-whisper-tiny.en"] == "tiny.en"
    assert ALIASES["Systran/faster-whisper-base"] == "base"
    assert set(ALIASES.values()) == set(BUNDLED)
    assert canonical_model("systran/Faster-Whisper-BASE") == "base"
    assert canonical_model("Systran/faster-whisper-small") == "Systran/faster-whisper-small"
    for alias, name in ALIASES.items():  # the bundled folder: nothing downloaded
        assert resolve_model(alias) == resolve_model(name)


def test_hub_ids_are_listed_retrievable_and_transcribe_as_the_bundled_model(client, service_url):
    ids = [m.id for m in client.models.list()]
    assert {"Systran/faster-whisper-tiny.en", "Systran/faster-whisper-base"} <= set(ids)
    card = client.models.retrieve("Systran/faster-whisper-tiny.en")
    assert card.id == "Systran/faster-whisper-tiny.en"
    r = httpx.get(service_url + "/v1/models/Systran/faster-whisper-base")
    assert r.status_code == 200 and r.json()["id"] == "Systran/faster-whisper-base"
    r = httpx.get(service_url + "/v1/models/Systran/faster-whisper-large-v9")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"
    assert r.json()["error"]["param"] == "model"
    same = _transcribe(client, model="tiny.en", response_format="verbose_json")
    alias = _transcribe(
        client, model="Systran/faster-whisper-tiny.en", response_format="verbose_json"
    )
    assert alias.text == same.text  # the same weights, the same decoding
    assert [s.start for s in alias.segments] == [s.start for s in same.segments]


# --------------------------------------------------------------------------- speech SSE


def test_speech_sse_deltas_concatenate_to_the_plain_audio(client):
    plain = client.audio.speech.create(
        model="tts-1", voice="alloy", input=SENTENCE, response_format="pcm"
    ).content
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=SENTENCE, response_format="pcm", stream_format="sse"
    ) as res:
        assert res.headers["content-type"].startswith("text/event-stream")
        events = _events(res.read().decode())
    kinds = [data["type"] for _, data in events]
    assert kinds[-1] == "speech.audio.done" and set(kinds[:-1]) == {"speech.audio.delta"}
    assert len(kinds) - 1 >= 2  # one delta per sentence for pcm
    assert all(name == data["type"] for name, data in events)
    done = events[-1][1]
    assert set(done["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}
    audio = b"".join(base64.b64decode(d["audio"]) for _, d in events[:-1])
    # Piper's synthesis is not deterministic (noise in its durations): compare lengths
    assert len(audio) % 2 == 0
    assert abs(len(audio) - len(plain)) <= 0.15 * len(plain), (len(audio), len(plain))
    pcm = np.frombuffer(audio, "<i2").astype(np.float32)
    assert np.abs(pcm).max() > 1000  # sound, not silence


def test_speech_sse_of_an_encoded_format_is_a_whole_file(client, service_url, tmp_path):
    body = {"model": "tts-1", "voice": "alloy", "input": SENTENCE, "response_format": "wav"}
    plain = httpx.post(service_url + "/v1/audio/speech", json=body, timeout=120)
    assert plain.status_code == 200
    sse = httpx.post(
        service_url + "/v1/audio/speech", json={**body, "stream_format": "sse"}, timeout=120
    )
    assert sse.status_code == 200
    events = _events(sse.text)
    assert events[-1][1]["type"] == "speech.audio.done"
    audio = b"".join(base64.b64decode(d["audio"]) for _, d in events if "audio" in d)
    with wave.open(io.BytesIO(audio)) as w, wave.open(io.BytesIO(plain.content)) as p:
        assert w.getframerate() == p.getframerate() and w.getnchannels() == 1
        got, want = w.getnframes(), p.getnframes()
        assert len(w.readframes(got)) == 2 * got  # the header's length is the data's
    assert abs(got - want) <= 0.15 * want, (got, want)
    path = tmp_path / "sse.wav"
    path.write_bytes(audio)
    text = _transcribe(client, path=path).text.lower()
    assert "streamed" in text and "hello" in text, text


def test_speech_sse_bad_input_is_an_http_error_not_a_stream(service_url):
    r = httpx.post(
        service_url + "/v1/audio/speech",
        json={"model": "tts-1", "voice": "alloy", "input": "...", "stream_format": "sse"},
        timeout=60,
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")


# --------------------------------------------------------------------------- 400 answers


def test_undecodable_upload_is_400_with_param_file(client, service_url):
    with pytest.raises(openai.BadRequestError) as err:
        _transcribe(client, path=NOT_SOUND)
    assert err.value.status_code == 400
    assert err.value.param == "file" and err.value.code == "invalid_value"
    assert err.value.body["type"] == "MediaError"  # the vidpipe envelope is kept
    r = httpx.post(
        service_url + "/v1/audio/transcriptions",
        files={"file": ("x.mp3", b"\x00\x01\x02" * 300, "audio/mpeg")},
        data={"model": "tiny.en"},
        timeout=60,
    )
    assert r.status_code == 400
    e = r.json()["error"]
    assert e["param"] == "file" and e["code"] == "invalid_value" and e["message"]
    assert e["request_id"] and e["type"] == "MediaError"


def test_bad_parameters_are_400_with_param_and_code(client, service_url):
    with pytest.raises(openai.BadRequestError) as err:
        _transcribe(client, response_format="xml")
    assert err.value.param == "response_format" and err.value.code == "invalid_value"
    with pytest.raises(openai.BadRequestError) as err:
        _transcribe(client, temperature=3.0)
    assert err.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as err:
        _transcribe(client, response_format="verbose_json", timestamp_granularities=["char"])
    assert err.value.param == "timestamp_granularities[]"
    r = httpx.post(service_url + "/v1/audio/transcriptions", data={"model": "tiny.en"}, timeout=30)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "file"
    assert r.json()["error"]["code"] == "missing_required_parameter"
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.speech.create(model="tts-1", voice="nobody", input="Hi.")
    assert err.value.param == "voice" and err.value.code == "invalid_value"
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hi.", speed=9)
    assert err.value.param == "speed"
    with pytest.raises(openai.NotFoundError) as err:
        _transcribe(client, model="large-v9")
    assert err.value.param == "model" and err.value.code == "model_not_found"


def test_other_routes_keep_their_statuses(service_url):
    r = httpx.post(
        service_url + "/v1/files",
        files={"file": ("x.mp4", b"\x00\x01\x02" * 100, "video/mp4")},
        timeout=30,
    )
    assert r.status_code == 415  # vidpipe's own upload route
    assert "param" not in r.json()["error"]
    r = httpx.post(service_url + "/v1/jobs", json={"params": {}}, timeout=30)
    assert r.status_code == 422
