"""Realtime transcription sessions (issue 21, point 2): ``GET /v1/realtime?intent=transcription``
on a real uvicorn server on 127.0.0.1, driven by the official ``openai`` client (the GA and
the beta realtime connections) and by a raw ``websockets`` client; ``vidpipe listen``.

Recordings are streamed in 100 ms pieces at a pace faster than real time to save test
time (:data:`SPEED`, stated in each test); no latency is asserted here (see
``benchmarks/service.py --parts realtime``). Final texts are compared with the offline
transcript of the same audio from the same server in the same test (WER with
``tests/test_wer.py``'s normalisation).
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import websockets
from websockets.asyncio.client import connect as ws_connect

from conftest import DATA
from test_wer import _long_reference, _references, _wer

MODEL = "tiny.en"  # the smallest bundled model: the test's CPU time
#: pace of the streamed audio: 2 = twice real time (the issue allows 2-4x in tests); on
#: 2 busy cores 4x outruns the decoding of finished turns, and the open turn's partials
#: come after the turn has ended
SPEED = 2.0
#: pace of the client-commit test (no partials asserted there)
SPEED_COMMIT = 4.0
LONG = DATA / "en_long" / "bush_radio_address_2008-11-01_gb0.wav"
JFK = DATA / "jfk.flac"
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
DEV_CLIPS = ["LJ001-0001.wav", "LJ001-0003.wav", "LJ001-0005.wav"]


def _pcm(path: Path, rate: int) -> bytes:
    from vidpipe.media.audio import decode_audio

    audio = decode_audio(path, sample_rate=rate)
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def _offline(url: str, path: Path) -> str:
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    with path.open("rb") as fh:
        return client.audio.transcriptions.create(file=fh, model=MODEL, language="en").text


@dataclass
class Run:
    """What a streamed session received: ``events`` as ``(seconds since the start, event
    dict)``."""

    events: list[tuple[float, dict]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict]:
        return [e for _, e in self.events if e["type"] == kind]

    @property
    def completed(self) -> list[dict]:
        return self.of("conversation.item.input_audio_transcription.completed")

    @property
    def text(self) -> str:
        return " ".join(e["transcript"].strip() for e in self.completed if e["transcript"].strip())

    def done(self, sent_all: bool) -> bool:
        committed = {e["item_id"] for e in self.of("input_audio_buffer.committed")}
        finished = {e["item_id"] for e in self.completed} | {
            e["item_id"] for e in self.of("conversation.item.input_audio_transcription.failed")
        }
        open_turn = len(self.of("input_audio_buffer.speech_started")) > len(
            self.of("input_audio_buffer.speech_stopped")
        )
        return sent_all and bool(committed) and committed <= finished and not open_turn


async def _stream(conn, pieces: list[bytes | str], *, speed: float, timeout: float = 600) -> Run:
    """Send ``pieces`` (PCM bytes as ``input_audio_buffer.append``, or ``"commit"``) at
    ``speed`` times real time (24 kHz), collecting events until every committed turn is
    transcribed."""
    run = Run()
    t0 = time.monotonic()
    sent_all = asyncio.Event()

    async def sender() -> None:
        clock = 0.0
        for piece in pieces:
            if piece == "commit":
                await conn.send(json.dumps({"type": "input_audio_buffer.commit"}))
                continue
            audio = base64.b64encode(piece).decode()
            await conn.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
            clock += len(piece) / 2 / 24000 / speed
            await asyncio.sleep(max(0.0, t0 + clock - time.monotonic()))
        sent_all.set()

    task = asyncio.create_task(sender())
    try:
        async with asyncio.timeout(timeout):
            while not run.done(sent_all.is_set()):
                try:
                    raw = await asyncio.wait_for(conn.recv(), 0.5)
                except TimeoutError:
                    continue
                event = json.loads(raw)
                run.events.append((time.monotonic() - t0, event))
                assert event["type"] != "error", event
    finally:
        task.cancel()
    return run


def _pieces(pcm: bytes, ms: int = 100, rate: int = 24000) -> list[bytes]:
    step = rate * ms // 1000 * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


class _Official:
    """The official client's realtime connection seen as ``send(str)``/``recv()``."""

    def __init__(self, conn) -> None:
        self.conn = conn

    async def send(self, data: str) -> None:
        await self.conn.send(json.loads(data))

    async def recv(self) -> str:
        return (await self.conn.recv_bytes()).decode()


# --------------------------------------------------------------------------- official client


#: seconds of the radio address streamed by the server-VAD tests (cut at the quietest
#: 30 ms near this point, so no word is cut)
EXCERPT = 50.0


def _cut(seconds: float) -> float:
    """Where to cut the radio address near ``seconds``: the quietest 30 ms within 3 s
    of it (no word cut in two)."""
    from vidpipe.media.audio import decode_audio

    audio = decode_audio(LONG, sample_rate=16000)
    frame = 480
    lo, hi = int((seconds - 3) * 16000) // frame, int((seconds + 3) * 16000) // frame
    rms = [float(np.sqrt(np.mean(audio[i * frame : (i + 1) * frame] ** 2))) for i in range(lo, hi)]
    return (lo + int(np.argmin(rms))) * frame / 16000


def _excerpt(seconds: float, folder: Path) -> tuple[bytes, Path]:
    """The radio address's first ``seconds`` (cut by :func:`_cut`): 24 kHz PCM to stream
    (a second of silence after it ends the last turn), and the same audio as a 16 kHz
    WAV file to transcribe offline."""
    import wave

    cut = _cut(seconds)
    pcm24 = _pcm(LONG, 24000)[: int(cut * 24000) * 2] + bytes(24000 * 2)
    path = folder / f"radio_{cut:.2f}.wav"
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(16000)
        fh.writeframes(_pcm(LONG, 16000)[: int(cut * 16000) * 2])
    return pcm24, path


def _reference_for(offline: str) -> str:
    """The prefix of the radio address's reference text that the excerpt's ``offline``
    transcript is closest to (least WER): the excerpt's reference text, chosen without
    the realtime text."""
    words = _long_reference().split()
    n_off = len(offline.split())
    best = min(
        range(max(1, n_off - 20), min(len(words), n_off + 20) + 1),
        key=lambda n: _wer([" ".join(words[:n])], [offline]),
    )
    return " ".join(words[:best])


async def _official_session(url: str, pcm: bytes, speed: float) -> Run:
    """The official client's GA realtime connection with server VAD streaming ``pcm``."""
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused")
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        first = await conn.recv()
        assert first.type == "session.created"
        await conn.send(
            {"type": "session.update", "session": {"type": "transcription", "audio": {
                "input": {"transcription": {"model": MODEL, "language": "en"},
                          "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                             "prefix_padding_ms": 300,
                                             "silence_duration_ms": 500}}}}}
        )  # fmt: skip
        updated = await conn.recv()
        assert updated.type == "session.updated", updated
        assert updated.session.audio.input.transcription.model == MODEL
        assert updated.session.audio.input.turn_detection.silence_duration_ms == 500
        return await _stream(_Official(conn), _pieces(pcm), speed=speed)


def _early_deltas(run: Run) -> list[dict]:
    """Deltas of a turn that arrived before that turn's speech stopped (partials)."""
    stop_at = {e["item_id"]: t for t, e in run.events if e["type"].endswith("speech_stopped")}
    return [
        e for t, e in run.events
        if e["type"].endswith("transcription.delta") and t < stop_at.get(e["item_id"], 0)
    ]  # fmt: skip


def test_official_client_streams_a_recording_with_server_vad(service_url, service, tmp_path):
    """The radio address's first 50 s through ``client.realtime.connect`` with server
    VAD, at 2x real time: speech events, partial deltas while a turn goes on, one
    completed transcript per turn; all turns' text within 2 WER points of the offline
    transcript of the same excerpt."""
    pcm, path = _excerpt(EXCERPT, tmp_path)
    run = asyncio.run(_official_session(service_url, pcm, SPEED))
    offline = _offline(service_url, path)
    reference = _reference_for(offline)
    started = run.of("input_audio_buffer.speech_started")
    stopped = run.of("input_audio_buffer.speech_stopped")
    committed = run.of("input_audio_buffer.committed")
    assert len(started) == len(stopped) == len(committed) >= 3
    assert [e["item_id"] for e in committed] == [e["item_id"] for e in run.completed]
    assert committed[1]["previous_item_id"] == committed[0]["item_id"]
    assert all(
        a["audio_start_ms"] < b["audio_end_ms"] for a, b in zip(started, stopped, strict=True)
    )
    early = _early_deltas(run)
    assert early, "no partial text while a turn was going on"
    wer_rt, wer_off = _wer([reference], [run.text]), _wer([reference], [offline])
    print(f"\nturns {len(committed)}, early deltas {len(early)}, WER realtime {wer_rt:.3f} "
          f"offline {wer_off:.3f} (speed {SPEED}x, {len(reference.split())} words)")  # fmt: skip
    assert wer_rt <= wer_off + 0.02


def test_beta_client_with_client_commits(service_url):
    """``client.beta.realtime.connect`` with ``transcription_session.update`` and no turn
    detection: three LJSpeech clips, each committed by the client at 4x real time; one
    completed transcript per commit, as right as the offline transcripts."""
    clips = [DATA / "en_dev" / name for name in DEV_CLIPS]
    pieces: list[bytes | str] = []
    for clip in clips:
        pieces += [*_pieces(_pcm(clip, 24000)), "commit"]

    async def main() -> Run:
        # the beta connection always dials wss:// unless websocket_base_url is given
        client = openai.AsyncOpenAI(
            base_url=service_url + "/v1",
            websocket_base_url=service_url.replace("http://", "ws://") + "/v1",
            api_key="unused",
        )
        async with client.beta.realtime.connect(
            model="whisper-1", extra_query={"intent": "transcription"}
        ) as conn:
            created = json.loads(await conn.recv_bytes())
            assert created["type"] == "transcription_session.created"
            await conn.send(
                {"type": "transcription_session.update", "session": {
                    "input_audio_format": "pcm16",
                    "input_audio_transcription": {"model": MODEL, "language": "en"},
                    "turn_detection": None}}
            )  # fmt: skip
            updated = await conn.recv()
            assert updated.type == "transcription_session.updated"
            assert updated.session.turn_detection is None
            assert updated.session.input_audio_transcription.model == MODEL
            return await _stream(_Official(conn), pieces, speed=SPEED_COMMIT)

    run = asyncio.run(main())
    assert len(run.of("input_audio_buffer.committed")) == 3
    assert not run.of("input_audio_buffer.speech_started")  # no server VAD
    refs = _references()
    texts = [e["transcript"] for e in run.completed]
    offline = [_offline(service_url, clip) for clip in clips]
    truth = [refs[name] for name in DEV_CLIPS]
    assert _wer(truth, texts) <= _wer(truth, offline) + 0.02, (texts, offline)


# --------------------------------------------------------------------------- raw websocket


def _ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"


#: seconds to wait for the next server event: generous, so a busy machine (decoding
#: several turns on 2 shared cores) is slow, not a failure; a hang still ends the test
RECV_TIMEOUT = 300


async def _recv(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT))


def test_raw_websocket_16khz_commit_clear_and_error_events(service_url):
    """A raw websocket client: 16 kHz PCM, errors in OpenAI's shape (the session stays
    open), clear, and a committed clip transcribed."""

    async def main() -> tuple[list[dict], dict]:
        errors = []
        async with ws_connect(_ws_url(service_url)) as ws:
            created = await _recv(ws)
            assert created["type"] == "session.created"
            session = created["session"]
            assert session["type"] == "transcription"
            assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
            assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
            bad = [
                "not json",
                json.dumps({"type": "input_audio_buffer.append", "audio": "@@@", "event_id": "e1"}),
                json.dumps({"type": "response.create"}),
                json.dumps({"type": "input_audio_buffer.commit"}),
                json.dumps({"type": "session.update", "session": {"type": "transcription",
                            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 8000}}}}}),
                json.dumps({"type": "session.update", "session": {"type": "transcription",
                            "audio": {"input": {"transcription": {"model": "nope"}}}}}),
                json.dumps({"type": "session.update", "session": {"type": "realtime"}}),
            ]  # fmt: skip
            for message in bad:
                await ws.send(message)
                event = await _recv(ws)
                assert event["type"] == "error", event
                assert set(event["error"]) >= {"type", "code", "message", "param", "event_id"}
                errors.append(event["error"])
            await ws.send(json.dumps({"type": "session.update", "session": {
                "type": "transcription", "audio": {"input": {
                    "format": {"type": "audio/pcm", "rate": 16000},
                    "transcription": {"model": MODEL, "language": "en"},
                    "turn_detection": None}}}}))  # fmt: skip
            updated = await _recv(ws)
            assert updated["type"] == "session.updated"
            assert updated["session"]["audio"]["input"]["format"]["rate"] == 16000
            assert updated["session"]["audio"]["input"]["turn_detection"] is None
            # audio then clear: nothing is left to commit
            pcm = _pcm(JFK, 16000)
            await ws.send(
                json.dumps(
                    {
                        "type": "input_audio_buffer.append",
                        "audio": base64.b64encode(pcm[:32000]).decode(),
                    }
                )
            )
            await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
            assert (await _recv(ws))["type"] == "input_audio_buffer.cleared"
            for piece in _pieces(pcm, rate=16000):
                await ws.send(
                    json.dumps(
                        {
                            "type": "input_audio_buffer.append",
                            "audio": base64.b64encode(piece).decode(),
                        }
                    )
                )
            await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            while True:
                event = await _recv(ws)
                assert event["type"] != "error", event
                if event["type"].endswith("transcription.completed"):
                    return errors, event

    errors, done = asyncio.run(main())
    assert errors[0]["code"] == "invalid_json"
    assert errors[1]["param"] == "audio" and errors[1]["event_id"] == "e1"
    assert errors[2]["code"] == "unknown_event"
    assert errors[3]["code"] == "input_audio_buffer_commit_empty"
    assert errors[4]["param"] == "session.audio.input.format"
    assert errors[5]["code"] == "model_not_found"
    assert errors[6]["param"] == "session.type"
    assert done["usage"]["type"] == "duration"
    assert done["usage"]["seconds"] == pytest.approx(11.0, abs=0.2)
    assert _wer([JFK_TEXT], [done["transcript"]]) <= 0.1, done["transcript"]


def test_turns_of_concurrent_sessions_are_decoded_together(service_url, service):
    """Three raw websocket sessions commit a clip each at the same moment: the turns
    waiting for the model are decoded in one packed call (a group of 2 or more), and
    each text is as right as the clip's offline transcript."""
    clips = [DATA / "en_dev" / name for name in DEV_CLIPS]

    async def one(ws, clip: Path) -> None:
        await _recv(ws)  # session.created
        await ws.send(json.dumps({"type": "session.update", "session": {
            "type": "transcription", "audio": {"input": {
                "format": {"type": "audio/pcm", "rate": 16000},
                "transcription": {"model": MODEL, "language": "en"},
                "turn_detection": None}}}}))  # fmt: skip
        assert (await _recv(ws))["type"] == "session.updated"
        audio = base64.b64encode(_pcm(clip, 16000)).decode()
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))

    async def main() -> list[str]:
        socks = [await ws_connect(_ws_url(service_url)) for _ in clips]
        try:
            await asyncio.gather(*[one(ws, clip) for ws, clip in zip(socks, clips, strict=True)])
            await asyncio.sleep(0.5)  # the appends are in
            for ws in socks:
                await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            texts = []
            for ws in socks:
                while True:
                    event = await _recv(ws)
                    assert event["type"] != "error", event
                    if event["type"].endswith("transcription.completed"):
                        texts.append(event["transcript"])
                        break
            return texts
        finally:
            for ws in socks:
                await ws.close()

    before = len(getattr(service.app.state, "realtime_packer", None).groups) if getattr(
        service.app.state, "realtime_packer", None) else 0  # fmt: skip
    texts = asyncio.run(main())
    groups = service.app.state.realtime_packer.groups[before:]
    assert sum(groups) == len(clips) and max(groups) >= 2, groups
    refs = _references()
    truth = [refs[name] for name in DEV_CLIPS]
    offline = [_offline(service_url, clip) for clip in clips]
    assert _wer(truth, texts) <= _wer(truth, offline) + 0.02, (texts, offline)


def _open_sessions(url: str) -> float:
    body = httpx.get(url + "/metrics").text
    for line in body.splitlines():
        if line.startswith("vidpipe_realtime_sessions "):
            return float(line.split()[1])
    return -1.0


def test_a_dropped_connection_frees_its_session(service_url, service):
    """A client that vanishes mid-turn (TCP closed without a websocket close): the
    session is gone from ``app.state.realtime_sessions`` and the gauge."""
    pcm = _pcm(JFK, 24000)

    async def main() -> float:
        ws = await ws_connect(_ws_url(service_url))
        await _recv(ws)
        for piece in _pieces(pcm)[:50]:  # 5 s: a turn is open, decoding under way
            await ws.send(
                json.dumps(
                    {"type": "input_audio_buffer.append", "audio": base64.b64encode(piece).decode()}
                )
            )
        await _recv(ws)  # speech_started
        open_now = await asyncio.to_thread(_open_sessions, service_url)
        ws.transport.abort()  # no close frame
        return open_now

    assert asyncio.run(main()) >= 1
    deadline = time.monotonic() + 60
    while _open_sessions(service_url) != 0 or service.app.state.realtime_sessions:
        assert time.monotonic() < deadline, "the dropped session is still open"
        time.sleep(0.2)


@pytest.fixture
def served(tmp_path):
    """A real ``vidpipe serve`` process on 127.0.0.1 with a key, a 1 s header deadline
    (a websocket outlives it) and ``tiny.en`` as the default model."""
    import os
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "VIDPIPE_HOME": str(tmp_path),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "VIDPIPE_SERVICE_KEYS": "k-realtime",
        "VIDPIPE_SERVICE_HEADER_TIMEOUT": "1",
        "VIDPIPE_MODEL": MODEL,
    }
    log = tmp_path / "server.log"
    with open(log, "w") as fh:
        cmd = [sys.executable, "-m", "vidpipe", "serve", "--port", str(port), "--no-worker"]
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url + "/health", timeout=2)
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def test_keys_by_bearer_header_or_subprotocol_on_vidpipe_serve(served):
    """``vidpipe serve`` with a key: the bearer key (official client) or the
    ``openai-insecure-api-key.KEY`` subprotocol opens a session that lives past the
    server's 1 s header deadline and transcribes; none or a wrong key is refused with
    401, another intent with 400."""
    url = _ws_url(served)
    pieces = [*_pieces(_pcm(JFK, 24000)), "commit"]

    async def main() -> Run:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            with pytest.raises(websockets.exceptions.InvalidStatus) as info:
                await ws_connect(url, additional_headers=headers)
            assert info.value.response.status_code == 401
            assert json.loads(info.value.response.body)["error"]["message"]
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            await ws_connect(
                url.replace("transcription", "conversation"),
                additional_headers={"Authorization": "Bearer k-realtime"},
            )
        assert info.value.response.status_code == 400
        async with ws_connect(
            url, subprotocols=["realtime", "openai-insecure-api-key.k-realtime"]
        ) as ws:
            assert ws.subprotocol == "realtime"
            assert (await _recv(ws))["type"] == "session.created"
            await asyncio.sleep(1.5)  # past the header deadline
            await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
            assert (await _recv(ws))["type"] == "input_audio_buffer.cleared"
        client = openai.AsyncOpenAI(base_url=served + "/v1", api_key="k-realtime")
        async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
            assert (await conn.recv()).type == "session.created"
            await conn.send(
                {"type": "session.update", "session": {"type": "transcription", "audio": {
                    "input": {"turn_detection": None}}}}
            )  # fmt: skip
            assert (await conn.recv()).type == "session.updated"
            return await _stream(_Official(conn), pieces, speed=SPEED_COMMIT)

    run = asyncio.run(main())
    assert _wer([JFK_TEXT], [run.text]) <= 0.1, run.text


# --------------------------------------------------------------------------- vidpipe listen


def _listen(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", "listen", *args],
        input=stdin,
        capture_output=True,
        timeout=600,
    )


def test_listen_a_file_and_stdin_through_the_same_session():
    """``vidpipe listen FILE`` (no pacing) and ``vidpipe listen -`` (24 kHz PCM on stdin)
    print the turns as lines; bad input is one line with its exit code."""
    res = _listen(str(JFK), "-m", MODEL, "--speed", "0", "--silence-ms", "1500")
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stdout.decode().splitlines()
    assert lines and _wer([JFK_TEXT], [" ".join(lines)]) <= 0.15, lines
    res = _listen("-", "--rate", "24000", "-m", MODEL, "--no-vad", stdin=_pcm(JFK, 24000))
    assert res.returncode == 0, res.stderr.decode()
    assert _wer([JFK_TEXT], [res.stdout.decode()]) <= 0.1, res.stdout
    missing = _listen(str(JFK.with_name("nope.flac")))
    assert missing.returncode == 3 and missing.stderr.decode().count("\n") == 1
    bad = _listen("-", "--rate", "8000")
    assert bad.returncode == 2 and b"Traceback" not in bad.stderr
    bad = _listen(str(JFK), "--language", "xx")
    assert bad.returncode == 2 and bad.stderr.decode().count("\n") == 1


def test_model_calls_of_sessions_go_by_priority():
    """TurnPacker.call: while one call runs, the waiting ones go first partials, then
    finals, then other partials, each kind in arrival order; a waiter canceled before
    its turn is skipped."""
    import asyncio

    from vidpipe.service.realtime import FINAL, FIRST_PARTIAL, PARTIAL, TurnPacker

    async def main() -> list[str]:
        order: list[str] = []
        release = asyncio.Event()

        async def run_model(fn):
            return fn()

        packer = TurnPacker(run_model, lambda name: None)

        async def hold():
            await packer.call(lambda: order.append("running"), PARTIAL)

        async def first_in():  # holds the gate until released
            async def slow_run(fn):
                await release.wait()
                return fn()

            packer._run_model = slow_run
            await packer.call(lambda: order.append("held"), PARTIAL)
            packer._run_model = run_model

        holder = asyncio.create_task(first_in())
        await asyncio.sleep(0)
        tasks = {}
        for name, prio in [("partial-a", PARTIAL), ("final-a", FINAL), ("first-a", FIRST_PARTIAL),
                           ("partial-b", PARTIAL), ("final-b", FINAL), ("first-b", FIRST_PARTIAL),
                           ("gone", FIRST_PARTIAL)]:  # fmt: skip
            tasks[name] = asyncio.create_task(
                packer.call(lambda name=name: order.append(name), prio)
            )
            await asyncio.sleep(0)
        tasks["gone"].cancel()
        release.set()
        await holder
        await asyncio.gather(*(t for n, t in tasks.items() if n != "gone"))
        await hold()  # the gate is free again
        return order

    order = asyncio.run(main())
    assert order == [
        "held", "first-a", "first-b", "final-a", "final-b", "partial-a", "partial-b", "running",
    ]  # fmt: skip


def test_a_windows_first_hypothesis_is_a_pair_that_confirms_words_in_one_call():
    """The first partial of a turn needs one model call: the window is decoded with and
    without its last PAIR_OFFSET s, and the words the two agree on are sent at once; a
    later hypothesis of the window is one decode."""
    from vidpipe.media.audio import decode_audio
    from vidpipe.pipeline.models import asr_engine
    from vidpipe.speech.realtime import StreamTranscriber, TurnDetection

    engine = asr_engine(MODEL)
    audio = decode_audio(JFK)  # "And so my fellow Americans, ..." from 0.3 s on
    tr = StreamTranscriber(TurnDetection())
    tr.append(audio[: int(2.6 * 16000)])
    job = tr.partial_job()
    assert job is not None and not job.timed
    first = tr.decode_partials(engine, job)
    assert len(first) == 2
    assert first[0].words != first[1].words  # 0.3 s less audio: fewer words
    deltas = [tr.agree(job, h) for h in first]
    assert deltas[0] is None and deltas[1] is not None
    assert deltas[1].text.lower().startswith("and so"), deltas[1].text
    assert len(tr.decode_partials(engine, job)) == 1  # the window has a hypothesis now
