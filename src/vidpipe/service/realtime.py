"""Realtime transcription: the OpenAI Realtime API's transcription sessions over a websocket.

``GET /v1/realtime?intent=transcription`` (websocket) speaks the event protocol of
OpenAI's transcription sessions, so the official ``openai`` client's realtime connection
(``client.realtime.connect(extra_query={"intent": "transcription"})``, or the beta
``client.beta.realtime.connect(model=..., extra_query=...)``) works unchanged:

- the server opens with ``session.created`` (``transcription_session.created`` when
  the client sends ``OpenAI-Beta: realtime=v1``, as the beta client does);
- client events: ``session.update`` with a ``"type": "transcription"`` session
  (``audio.input.format`` ``{"type": "audio/pcm", "rate": 24000 | 16000}``,
  ``audio.input.transcription`` ``{model, language, prompt}``,
  ``audio.input.turn_detection`` ``{"type": "server_vad", threshold,
  prefix_padding_ms, silence_duration_ms}`` or ``null``), answered by
  ``session.updated``; the beta ``transcription_session.update``
  (``input_audio_format`` ``pcm16``, ``input_audio_transcription``,
  ``turn_detection``), answered by ``transcription_session.updated``;
  ``input_audio_buffer.append`` (``audio``: base64 16-bit little-endian mono PCM),
  ``input_audio_buffer.commit``, ``input_audio_buffer.clear``;
- server events: ``input_audio_buffer.speech_started`` / ``speech_stopped`` (server
  VAD), ``input_audio_buffer.committed``, ``input_audio_buffer.cleared``,
  ``conversation.item.input_audio_transcription.delta`` (confirmed partial text while
  the turn goes on, :mod:`vidpipe.speech.realtime`) and ``.completed`` per turn
  (``.failed`` when decoding fails), ``error`` (``{"type", "code", "message", "param",
  "event_id"}``, the session stays open).

Models: ``whisper-1`` and OpenAI's transcription model names mean vidpipe's default
model (``VIDPIPE_MODEL``); the bundled ``base``, ``tiny.en`` by name. The model is the
process's shared one (:func:`vidpipe.pipeline.models.asr_engine`); its calls run in
worker threads, one at a time with the other audio routes
(:func:`vidpipe.service.openai_api.model_limiter`); the finished turns of all sessions
waiting for the model are decoded together, short ones packed into shared windows
(:class:`TurnPacker`). Keys: with ``VIDPIPE_SERVICE_KEYS``
set, ``Authorization: Bearer KEY`` or the subprotocol ``openai-insecure-api-key.KEY``
(as OpenAI's browser clients send it; the ``realtime`` subprotocol is echoed); without,
the service listens on loopback only. A session ends with its connection: its decoding
task stops and ``vidpipe_realtime_sessions`` (``/metrics``) counts it no more.

:class:`RealtimeSession` is the protocol without the websocket: ``vidpipe listen``
drives the same class in-process.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from vidpipe.errors import VidpipeError
from vidpipe.speech.realtime import (
    MIN_COMMIT_SECONDS,
    PARTIAL_STEP,
    PcmResampler,
    StreamTranscriber,
    Turn,
    TurnDetection,
    new_id,
    pcm16_to_float,
)

__all__ = ["OPENAI_TRANSCRIPTION_MODELS", "RATES", "RealtimeSession", "TurnPacker", "router"]

router = APIRouter(tags=["realtime"])
_log = logging.getLogger("vidpipe.service")

#: Input sample rates accepted (Hz): OpenAI's 24 kHz and Whisper's 16 kHz.
RATES = (24000, 16000)
#: OpenAI's transcription model names: each means vidpipe's default model.
OPENAI_TRANSCRIPTION_MODELS = (
    "whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-transcribe",
    "gpt-live-transcribe", "gpt-realtime-whisper", "gpt-4o-transcribe-diarize",
    "gpt-4o-mini-transcribe-2025-12-15",
)  # fmt: skip
_SUBPROTOCOL_KEY = "openai-insecure-api-key."
#: Seconds after which an open turn's partial hypothesis goes before waiting finals.
PARTIAL_EVERY = 1.0
#: Seconds of new audio between partial hypotheses of a turn that has shown text, while
#: other sessions share the model (alone: :data:`~vidpipe.speech.realtime.PARTIAL_STEP`).
#: Partials of 4 sessions every 0.4 s kept the model busy enough that finals lagged
#: (``base``, 4 sessions: first partial p50 6.7 s, real-time factor 1.10); a turn's first
#: words still come at the fast step, and text is still confirmed at least once a second.
PARTIAL_SHARED_STEP = 1.0

RunModel = Callable[[Callable[[], Any]], Awaitable[Any]]


class _Invalid(Exception):
    def __init__(self, message: str, param: str | None = None, code: str = "invalid_value"):
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def default_model() -> str:
    """vidpipe's default ASR model (``VIDPIPE_MODEL``)."""
    from vidpipe.config import get_settings

    return get_settings().model


def resolve_model(name: str | None) -> str:
    """The ASR model for a session's ``transcription.model``: OpenAI's names (and none)
    mean :func:`default_model`; the bundled and configured models by name or by their
    Hugging Face ids (``Systran/faster-whisper-base``).

    Raises:
        _Invalid: an unknown model.
    """
    from vidpipe.service.openai_api import asr_models
    from vidpipe.speech.models import canonical_model

    name = (name or "").strip()
    if not name or name in OPENAI_TRANSCRIPTION_MODELS:
        return default_model()
    if canonical_model(name) in asr_models():  # Hugging Face ids of the bundled models too
        return canonical_model(name)
    raise _Invalid(
        f"unknown model '{name}': use whisper-1 or one of {', '.join(asr_models())}",
        "session.audio.input.transcription.model",
        "model_not_found",
    )


def _language(value: Any, param: str) -> str | None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    if value is None or value == "":
        return None
    code = str(value).strip().lower()
    if code == "auto":
        return None
    if code not in _LANGUAGE_CODES:
        raise _Invalid(f"unknown language code '{value}': use an ISO 639-1 code", param)
    return code


#: Priorities of realtime model calls (lower first): a turn's first partial hypotheses
#: (the latency a speaker notices), finished turns' finals, other partials.
FIRST_PARTIAL, FINAL, PARTIAL = 0, 1, 2


class _PriorityGate:
    """One holder at a time; waiters enter by priority, then arrival (asyncio only)."""

    def __init__(self) -> None:
        self._busy = False
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._serial = itertools.count()

    async def acquire(self, priority: int) -> None:
        if not self._busy and not self._waiters:
            self._busy = True
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._serial), future))
        try:
            await future
        except asyncio.CancelledError:
            if not future.cancelled():  # handed over, then canceled: hand it on
                self.release()
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # stays busy: the waiter holds it now
                return
        self._busy = False


class TurnPacker:
    """Final transcripts of finished turns, from every session of a process, decoded
    together: the turns waiting when the model comes free (same model and options)
    go through one ``engine.transcribe_many`` call, which packs short ones into shared
    30 s Whisper windows (:mod:`vidpipe.speech.packing`, as ``vidpipe transcribe
    FILE…`` does); a longer turn, or a lone one, is decoded alone, as
    ``engine.transcribe`` would.

    The sessions' model calls go through :meth:`call` by priority: a turn's first
    partials, then finals, then other partials (with the calls in arrival order, 4
    ``base`` sessions' first partials waited behind the others' finals and partials:
    p50 4.7 s).

    Args:
        run_model: coroutine function running a blocking callable off the event loop
            (holding the process's model slot).
        get_engine: ASR engine for a model name (blocking).
    """

    def __init__(self, run_model: RunModel, get_engine: Callable[[str], Any]) -> None:
        self._run_model = run_model
        self._get_engine = get_engine
        self._pending: list[tuple[tuple[str, str], Any, Any, asyncio.Future]] = []
        self._guard = threading.Lock()  # _pending, read in the model's thread
        self._task: asyncio.Task | None = None
        self.groups: list[int] = []  # sizes of the groups decoded (the last 1000)
        self.sessions = 0  # open sessions sharing the model through this packer
        self._gate = _PriorityGate()

    async def call(self, fn: Callable[[], Any], priority: int) -> Any:
        """Run the blocking model call ``fn`` (through ``run_model``) when no realtime
        call of a higher ``priority`` (:data:`FIRST_PARTIAL`, :data:`FINAL`,
        :data:`PARTIAL`) waits; returns its result."""
        await self._gate.acquire(priority)
        try:
            return await self._run_model(fn)
        finally:
            self._gate.release()

    async def transcribe(self, model: str, options: Any, audio: Any) -> str:
        """The text of one turn's audio (16 kHz float32) decoded with ``options``.

        Raises:
            VidpipeError: the decoding failed (this turn only).
        """
        future = asyncio.get_running_loop().create_future()
        key = (model, options.model_dump_json())
        with self._guard:
            self._pending.append((key, options, audio, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    def _take(self) -> tuple[str, Any, list]:
        with self._guard:
            key, options = self._pending[0][0], self._pending[0][1]
            group = [p for p in self._pending if p[0] == key]
            self._pending = [p for p in self._pending if p[0] != key]
        return key[0], options, group

    async def _drain(self) -> None:
        while self._pending:
            taken: list = []

            def decode(taken: list = taken) -> list:
                model, options, group = self._take()  # the turns waiting now
                taken.extend(group)
                engine = self._get_engine(model)
                audios = [a for _, _, a, _ in group]
                many = getattr(engine, "transcribe_many", None)
                if many is None or len(audios) == 1:
                    out: list = []
                    for a in audios:
                        try:
                            out.append(engine.transcribe(a, options))
                        except VidpipeError as exc:
                            out.append(exc)
                    return out
                return many(audios, options)

            try:
                results = await self.call(decode, FINAL)
            except Exception as exc:  # the whole call failed: each turn gets the error
                results = [exc] * len(taken)
            self.groups = [*self.groups[-999:], len(taken)]
            for (_, _, _, future), res in zip(taken, results, strict=False):
                if future.done():
                    continue
                if isinstance(res, BaseException):
                    future.set_exception(res)
                else:
                    future.set_result(res.text)


class RealtimeSession:
    """One transcription session of the Realtime protocol (see the module doc).

    Args:
        send: coroutine function that delivers one server event (a JSON-able dict).
        run_model: coroutine function that runs a blocking callable (a model call) off
            the event loop and returns its result.
        get_engine: ASR engine for a model name (blocking; called inside ``run_model``).
        beta: speak the beta form first (``transcription_session.created``).
        packer: the :class:`TurnPacker` shared by the process's sessions (default: one
            of its own).

    Use: ``await start()``; ``await handle(message)`` per client message (JSON text);
    ``await drain()`` to wait for pending turns; ``await close()`` at the end.
    """

    def __init__(
        self,
        send: Callable[[dict], Awaitable[None]],
        *,
        run_model: RunModel,
        get_engine: Callable[[str], Any],
        beta: bool = False,
        packer: TurnPacker | None = None,
    ) -> None:
        self.id = new_id("sess")
        self._packer = packer or TurnPacker(run_model, get_engine)
        self._send_raw = send
        self._run_model = run_model
        self._get_engine = get_engine
        self.beta = beta
        self.requested_model = "whisper-1"
        self.model = default_model()
        self.rate = 24000
        self.resampler = PcmResampler(self.rate)
        self.tr = StreamTranscriber(TurnDetection())
        self._lock = asyncio.Lock()  # the transcriber's state
        self._send_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task | None = None
        self.closed = False
        self.turns = 0
        self._partial_at = 0.0  # monotonic time of the last partial hypothesis taken

    # ------------------------------------------------------------------ events out

    async def _send(self, event: dict) -> None:
        event = {"event_id": new_id("event"), **event}
        async with self._send_lock:
            await self._send_raw(event)

    async def error(
        self, message: str, *, code: str | None = None, param: str | None = None,
        event_id: str | None = None, type_: str = "invalid_request_error",
    ) -> None:  # fmt: skip
        """Send an ``error`` event (OpenAI's shape); the session goes on."""
        await self._send(
            {
                "type": "error",
                "error": {
                    "type": type_,
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": event_id,
                },
            }
        )

    def _turn_detection(self) -> dict | None:
        td = self.tr.turn_detection
        if td is None:
            return None
        return {"type": "server_vad", **td.model_dump()}

    def _transcription(self) -> dict:
        return {
            "model": self.requested_model,
            "language": self.tr.language,
            "prompt": self.tr.prompt or "",
        }

    def session_object(self, beta: bool) -> dict:
        """The session's configuration as OpenAI shows it (GA transcription session, or
        the beta ``TranscriptionSession``)."""
        if beta:
            return {
                "id": self.id,
                "object": "realtime.transcription_session",
                "input_audio_format": "pcm16" if self.rate == 24000 else
                {"type": "audio/pcm", "rate": self.rate},
                "input_audio_transcription": self._transcription(),
                "turn_detection": self._turn_detection(),
                "input_audio_noise_reduction": None,
                "modalities": ["text"],
                "include": None,
            }  # fmt: skip
        return {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": self.id,
            "expires_at": 0,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": self.rate},
                    "transcription": self._transcription(),
                    "noise_reduction": None,
                    "turn_detection": self._turn_detection(),
                }
            },
            "include": None,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Send ``session.created`` (or the beta ``transcription_session.created``) and
        start the decoding task."""
        kind = "transcription_session.created" if self.beta else "session.created"
        await self._send({"type": kind, "session": self.session_object(self.beta)})
        self._packer.sessions += 1
        self._task = asyncio.create_task(self._work(), name=f"realtime {self.id}")

    async def close(self) -> None:
        """Stop the decoding task (a model call in flight finishes in its thread; its
        result is dropped) and free the session's audio."""
        if self._task is not None and not self.closed:
            self._packer.sessions -= 1
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self.tr.clear()
        self.tr.finals.clear()

    async def drain(self) -> None:
        """Wait until every committed turn is transcribed and no decoding runs."""
        while not self.closed:
            if not self.tr.finals and self._idle.is_set():
                return
            self._wake.set()
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ events in

    async def handle(self, message: str | bytes | dict) -> None:
        """Act on one client message (JSON text, or its parsed dict). Bad events get an
        ``error`` event; nothing raises."""
        event: Any = message
        if isinstance(message, str | bytes):
            try:
                event = json.loads(message)
            except (ValueError, UnicodeDecodeError):
                await self.error("the message is not JSON", code="invalid_json")
                return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            await self.error("an event is a JSON object with a 'type'", param="type")
            return
        kind, event_id = event["type"], event.get("event_id")
        try:
            if kind == "input_audio_buffer.append":
                await self._append(event)
            elif kind == "input_audio_buffer.commit":
                await self._commit()
            elif kind == "input_audio_buffer.clear":
                async with self._lock:
                    self.tr.clear()
                await self._send({"type": "input_audio_buffer.cleared"})
            elif kind == "session.update":
                await self._update(event.get("session"), beta=False)
            elif kind == "transcription_session.update":
                await self._update(event.get("session"), beta=True)
            else:
                raise _Invalid(
                    f"event type '{kind}' is not supported by a transcription session",
                    "type",
                    "unknown_event",
                )
        except _Invalid as exc:
            await self.error(exc.message, code=exc.code, param=exc.param, event_id=event_id)

    async def _append(self, event: dict) -> None:
        audio = event.get("audio")
        if not isinstance(audio, str):
            raise _Invalid("'audio' must be base64-encoded 16-bit PCM", "audio")
        try:
            data = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise _Invalid("'audio' is not valid base64", "audio") from None
        async with self._lock:
            resampler = self.resampler

            def work():
                return self.tr.append(resampler(pcm16_to_float(data)))

            events = await anyio.to_thread.run_sync(work)
        for ev in events:
            await self._turn_event(ev)
        self._wake.set()

    async def _commit(self) -> None:
        async with self._lock:
            try:
                events = self.tr.commit()
            except ValueError as exc:
                raise _Invalid(str(exc), None, "input_audio_buffer_commit_empty") from None
        for ev in events:
            await self._turn_event(ev)
        self._wake.set()

    async def _turn_event(self, ev) -> None:
        if ev.kind == "speech_started":
            await self._send(
                {"type": "input_audio_buffer.speech_started", "audio_start_ms": ev.ms,
                 "item_id": ev.item_id}
            )  # fmt: skip
        elif ev.kind == "speech_stopped":
            await self._send(
                {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": ev.ms,
                 "item_id": ev.item_id}
            )  # fmt: skip
        elif ev.kind == "committed":
            self.turns += 1
            await self._send(
                {"type": "input_audio_buffer.committed", "item_id": ev.item_id,
                 "previous_item_id": ev.previous_item_id}
            )  # fmt: skip

    async def _update(self, session: Any, beta: bool) -> None:
        if not isinstance(session, dict):
            raise _Invalid("'session' must be an object", "session")
        where = "session" if beta else "session.audio.input"
        if beta:
            fmt = session.get("input_audio_format", ...)
            tr_cfg = session.get("input_audio_transcription", ...)
            td_cfg = session.get("turn_detection", ...)
        else:
            kind = session.get("type", "transcription")
            if kind != "transcription":
                raise _Invalid(
                    "only transcription sessions are served here: send "
                    "session.type 'transcription'", "session.type",
                )  # fmt: skip
            audio = session.get("audio") or {}
            inp = (audio.get("input") or {}) if isinstance(audio, dict) else {}
            if not isinstance(inp, dict):
                raise _Invalid("'session.audio.input' must be an object", where)
            fmt = inp.get("format", ...)
            tr_cfg = inp.get("transcription", ...)
            td_cfg = inp.get("turn_detection", ...)
        rate = self.rate
        if fmt is not ...:
            rate = self._rate(fmt, f"{where}.{'input_audio_format' if beta else 'format'}")
        model, requested = self.model, self.requested_model
        language, prompt = self.tr.language, self.tr.prompt
        if tr_cfg is not ... and tr_cfg is not None:
            if not isinstance(tr_cfg, dict):
                raise _Invalid("the transcription settings must be an object", where)
            name = "input_audio_transcription" if beta else "transcription"
            if "model" in tr_cfg:
                try:
                    model = resolve_model(tr_cfg.get("model"))
                except _Invalid as exc:
                    exc.param = f"{where}.{name}.model"
                    raise
                requested = str(tr_cfg.get("model") or "whisper-1")
            if "language" in tr_cfg:
                language = _language(tr_cfg.get("language"), f"{where}.{name}.language")
            if "prompt" in tr_cfg:
                prompt = str(tr_cfg.get("prompt") or "") or None
        td = self.tr.turn_detection
        if td_cfg is not ...:
            td = self._td(td_cfg, f"{where}.turn_detection")
        async with self._lock:  # all checked: apply
            if rate != self.rate:
                self.rate, self.resampler = rate, PcmResampler(rate)
            self.model, self.requested_model = model, requested
            self.tr.language, self.tr.prompt = language, prompt
            if (td is None) != (self.tr.turn_detection is None):
                self.tr.in_speech = False
            self.tr.turn_detection = td
        kind = "transcription_session.updated" if beta else "session.updated"
        await self._send({"type": kind, "session": self.session_object(beta)})

    @staticmethod
    def _rate(fmt: Any, param: str) -> int:
        if fmt in ("pcm16", None):
            return 24000
        if isinstance(fmt, dict) and fmt.get("type", "audio/pcm") == "audio/pcm":
            rate = fmt.get("rate", 24000)
            if rate in RATES:
                return int(rate)
            raise _Invalid(f"sample rate {rate} is not supported: use 24000 or 16000", param)
        raise _Invalid(
            f"audio format {json.dumps(fmt)} is not supported: use pcm16 "
            "(audio/pcm, 24000 or 16000 Hz mono)", param,
        )  # fmt: skip

    @staticmethod
    def _td(cfg: Any, param: str) -> TurnDetection | None:
        if cfg is None:
            return None
        if not isinstance(cfg, dict):
            raise _Invalid("turn_detection must be an object or null", param)
        kind = cfg.get("type", "server_vad")
        if kind != "server_vad":
            raise _Invalid(
                f"turn detection '{kind}' is not supported: use server_vad or null",
                f"{param}.type",
            )
        values = {k: cfg[k] for k in TurnDetection.model_fields if cfg.get(k) is not None}
        try:
            return TurnDetection(**values)
        except ValueError as exc:  # pydantic's ValidationError
            first = exc.errors()[0] if hasattr(exc, "errors") else {}
            field = ".".join(str(p) for p in first.get("loc", ()))
            raise _Invalid(
                f"invalid turn_detection: {first.get('msg', exc)}",
                f"{param}.{field}" if field else param,
            ) from None

    # ------------------------------------------------------------------ decoding

    async def _work(self) -> None:
        """Decode committed turns (first) and partial hypotheses of the open turn, one
        model call at a time, for as long as there is work; then wait for more."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._idle.clear()
            try:
                while await self._step():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not kill the connection silently
                _log.exception("realtime session %s: decoding failed", self.id)
                with contextlib.suppress(Exception):
                    await self.error(f"decoding failed: {exc}", type_="server_error")
            finally:
                self._idle.set()

    async def _step(self) -> bool:
        """One model call: a committed turn's final text; or a partial hypothesis of
        the open turn when no final is waiting, when the open turn has shown no text
        yet (its first words first), or when the last partial is over
        :data:`PARTIAL_EVERY` s old (partials go on while turns queue up). With other
        sessions open, a turn that has shown text takes its next partial after
        :data:`PARTIAL_SHARED_STEP` s of new audio."""
        async with self._lock:
            model = self.model
            turn = job = None
            now = time.monotonic()
            open_turn = self.tr.turn
            fresh = open_turn is not None and not open_turn.sent  # no text shown yet
            if not self.tr.finals or fresh or now - self._partial_at >= PARTIAL_EVERY:
                shared = self._packer.sessions > 1 and not fresh
                job = self.tr.partial_job(PARTIAL_SHARED_STEP if shared else PARTIAL_STEP)
            if job is None:
                turn = self.tr.next_final()
            else:
                self._partial_at = now
        if turn is not None:
            await self._final(turn, model)
            return True
        if job is None:
            return False
        if job.turn.audio is not None:
            return True  # committed meanwhile: its final text comes next

        def decode():
            return self.tr.decode_partials(self._get_engine(model), job)

        try:
            hyps = await self._packer.call(decode, FIRST_PARTIAL if not job.turn.sent else PARTIAL)
        except VidpipeError as exc:
            _log.warning("realtime partial failed: %s", exc.message)
            return True
        for hyp in hyps:
            async with self._lock:
                delta = self.tr.agree(job, hyp)
            if delta is not None and delta.text:
                await self._send(
                    {"type": "conversation.item.input_audio_transcription.delta",
                     "item_id": delta.item_id, "content_index": 0, "delta": delta.text}
                )  # fmt: skip
        return True

    async def _final(self, turn: Turn, model: str) -> None:
        audio = turn.audio if turn.audio is not None else turn.data()
        try:
            if audio.size < int(MIN_COMMIT_SECONDS * 16000):
                text = ""
            else:
                text = await self._packer.transcribe(model, self.tr.final_options(), audio)
        except VidpipeError as exc:
            await self._send(
                {"type": "conversation.item.input_audio_transcription.failed",
                 "item_id": turn.item_id, "content_index": 0,
                 "error": {"type": "transcription_error", "code": type(exc).__name__,
                           "message": exc.message, "param": None}}
            )  # fmt: skip
            return
        rest = StreamTranscriber.rest_of(turn, text)
        if rest.strip():
            await self._send(
                {"type": "conversation.item.input_audio_transcription.delta",
                 "item_id": turn.item_id, "content_index": 0, "delta": rest}
            )  # fmt: skip
        seconds = (turn.audio.size if turn.audio is not None else turn.samples) / 16000
        await self._send(
            {"type": "conversation.item.input_audio_transcription.completed",
             "item_id": turn.item_id, "content_index": 0, "transcript": text,
             "usage": {"type": "duration", "seconds": round(seconds, 3)}}
        )  # fmt: skip
        turn.audio = None


# --------------------------------------------------------------------------- the route


def _sessions(app) -> set:
    """The app's open sessions (``app.state.realtime_sessions``), counted by the gauge
    ``vidpipe_realtime_sessions`` of ``/metrics``."""
    sessions = getattr(app.state, "realtime_sessions", None)
    if sessions is None:
        sessions = app.state.realtime_sessions = set()
        metrics = getattr(app.state, "metrics", None)
        if metrics is not None:
            from prometheus_client import Gauge

            gauge = Gauge(
                "vidpipe_realtime_sessions",
                "Realtime transcription sessions open",
                registry=metrics.registry,
            )
            gauge.set_function(lambda: len(sessions))
    return sessions


def _given_key(ws: WebSocket) -> str | None:
    auth = ws.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    for proto in ws.scope.get("subprotocols") or []:
        if proto.startswith(_SUBPROTOCOL_KEY):
            return proto[len(_SUBPROTOCOL_KEY) :]
    return None


async def _deny(ws: WebSocket, status: int, message: str, hint: str) -> None:
    body = {"error": {"type": "AuthenticationError" if status == 401 else "UsageError",
                      "message": message, "hint": hint}}  # fmt: skip
    if "websocket.http.response" in (ws.scope.get("extensions") or {}):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        await ws.send_denial_response(JSONResponse(body, status, headers=headers))
    else:  # pragma: no cover - servers without the denial-response extension
        await ws.close(code=1008, reason=message[:120])


@router.websocket("/v1/realtime")
async def realtime(websocket: WebSocket) -> None:
    """A Realtime API transcription session (see the module doc)."""
    from vidpipe.pipeline.models import asr_engine
    from vidpipe.service.auth import key_ok
    from vidpipe.service.openai_api import model_limiter

    keys = websocket.app.state.config.keys
    if keys:
        given = _given_key(websocket)
        if not given or not key_ok(given, keys):
            await _deny(
                websocket, 401, "missing API key" if not given else "wrong API key",
                "send 'Authorization: Bearer KEY' or the subprotocol openai-insecure-api-key.KEY",
            )  # fmt: skip
            return
    intent = websocket.query_params.get("intent", "transcription")
    if intent != "transcription":
        await _deny(
            websocket, 400, f"intent '{intent}' is not served: only transcription sessions",
            "connect to /v1/realtime?intent=transcription",
        )  # fmt: skip
        return
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)

    limiter = model_limiter(websocket)  # type: ignore[arg-type]

    async def run_model(fn):
        async with limiter:
            return await anyio.to_thread.run_sync(fn)

    async def send(event: dict) -> None:
        await websocket.send_text(json.dumps(event, ensure_ascii=False))

    state = websocket.app.state
    packer = getattr(state, "realtime_packer", None)
    if packer is None:
        packer = state.realtime_packer = TurnPacker(run_model, asr_engine)
    beta = "realtime=v1" in websocket.headers.get("openai-beta", "")
    session = RealtimeSession(
        send, run_model=run_model, get_engine=asr_engine, beta=beta, packer=packer
    )
    sessions = _sessions(websocket.app)
    sessions.add(session)
    started = time.monotonic()
    try:
        await session.start()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            await session.handle(data)
    except Exception as exc:  # the client went away mid-send, or the socket broke
        _log.info("realtime session %s ended: %s", session.id, type(exc).__name__)
    finally:
        sessions.discard(session)
        await session.close()
        _log.info(
            "realtime session %s closed after %.1f s, %d turn(s)",
            session.id, time.monotonic() - started, session.turns,
        )  # fmt: skip
