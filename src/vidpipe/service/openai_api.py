"""OpenAI-compatible audio routes: transcriptions, translations, speech, models.

The request and response shapes are OpenAI's (``/v1/audio/*`` of the OpenAI API
reference), so the official ``openai`` client, pointed at the service with
``base_url="http://HOST:PORT/v1"``, works unchanged:

- ``POST /v1/audio/transcriptions`` and ``/v1/audio/translations`` (multipart):
  ``file``, ``model`` (``whisper-1`` is the default model, ``settings.model``; the
  bundled ``base`` and ``tiny.en`` and the configured model by name), ``language``
  (transcriptions), ``prompt``, ``temperature``, ``response_format`` (``json``,
  ``text``, ``srt``, ``verbose_json``, ``vtt``), ``timestamp_granularities[]``
  (``word``, ``segment``; with ``verbose_json``), ``stream`` (server-sent events
  ``transcript.text.delta`` as each window of speech is decoded, then
  ``transcript.text.done``; :func:`vidpipe.speech.stream.iter_transcript`).
  Uploads over ``ServiceConfig.max_audio_bytes`` (25 MB, as OpenAI documents) are 413.
  Speakers: ``model=gpt-4o-transcribe-diarize`` (the default model plus diarization) or
  ``response_format=diarized_json`` with any model answer OpenAI's
  ``TranscriptionDiarized`` (``task``, ``text``, ``duration``, ``segments[]`` of
  ``{type: "transcript.text.segment", id, start, end, text, speaker}``, ``usage``;
  streamed, one ``transcript.text.segment`` event per segment then
  ``transcript.text.done``); ``known_speaker_names[]`` + ``known_speaker_references[]``
  (data-URL clips) name the speakers that sound like them
  (:mod:`vidpipe.service.speakers_api`). Speakers are ``SPEAKER_00``... (vidpipe's
  labels, not OpenAI's ``A``, ``B``) unless named; a segment no turn covers takes the
  nearest turn's speaker (``unknown`` when there are no turns). With the diarize model,
  ``srt``, ``vtt``, ``text``, ``json`` and ``verbose_json`` are the transcript with
  speakers as :mod:`vidpipe.writers` shows them. Without the ``diarize`` extra: 501.
- ``POST /v1/audio/speech`` (JSON): ``input``, ``model``, ``voice`` (OpenAI's voice
  names are the bundled ``joe``; ``joe`` and ``espeak:LANG`` by name),
  ``response_format`` (``wav``, ``mp3``, ``flac``, ``aac``, ``opus``, ``pcm``;
  :mod:`vidpipe.media.encode`), ``speed`` (0.25..4), ``stream_format`` (``audio``;
  ``sse``: ``speech.audio.delta`` events with base64 audio, then ``speech.audio.done``).
- ``GET /v1/models``: the bundled and configured ASR models, the Hugging Face ids of
  the bundled models (``Systran/faster-whisper-base`` is ``base``), the aliases and the
  speech models; ``GET /v1/models/{id}`` takes ids with ``/``.

Errors follow OpenAI's where its clients depend on them: an undecodable upload and a
bad parameter are 400 with ``error.param`` and ``error.code``
(:mod:`vidpipe.service.errors`).

Decoding and synthesis run in worker threads (never on the event loop), at most
:data:`MODEL_CONCURRENCY` at once per process; the models are loaded once
(:func:`vidpipe.pipeline.models.asr_engine`, :func:`~vidpipe.pipeline.models.voice`).
Short uploads (at most :data:`~vidpipe.speech.transcribe.HOLD_SECONDS` of audio) to
the transcription and translation routes are decoded to 16 kHz first, then packed with
the concurrent requests of the same model and options into shared Whisper windows and
decoded together (:mod:`vidpipe.service.batching`); a non-streamed answer names its
group in the ``X-Vidpipe-Group`` and ``X-Vidpipe-Group-Size`` headers. A streamed
short request gets its deltas (one per segment) when its group is decoded. Longer
files, and diarized requests, are decoded alone as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

import anyio
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from vidpipe.errors import MediaError, NotFoundError, TooLargeError, UsageError, VidpipeError
from vidpipe.service.errors import error_responses, with_param
from vidpipe.speech.engine import SAMPLE_RATE, TranscribeOptions
from vidpipe.types import Transcript

__all__ = [
    "DIARIZE_ALIAS",
    "MODEL_CONCURRENCY",
    "TRANSCRIPTION_ALIAS",
    "asr_models",
    "diarized_json",
    "router",
]

router = APIRouter(tags=["openai"])

#: The model name OpenAI clients send; it means vidpipe's default model (``settings.model``).
TRANSCRIPTION_ALIAS = "whisper-1"
#: OpenAI's diarizing model: vidpipe's default model plus speaker diarization.
DIARIZE_ALIAS = "gpt-4o-transcribe-diarize"
#: Speech model names accepted by ``/v1/audio/speech`` (all are the bundled Piper voice).
SPEECH_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "piper")
#: OpenAI's voice names; each speaks with the bundled voice ``joe``.
OPENAI_VOICES = (
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer",
    "verse", "marin", "cedar",
)  # fmt: skip
#: Model calls (decode + transcribe, or synthesis) running at once in this process. Each
#: call already uses every core (CTranslate2, Silero VAD and onnxruntime threads); with 2
#: slots, 4 concurrent clients on 2 cores took 2.6 times as long per request as one
#: client (benchmarks/service.py: threads oversubscribed), so calls queue here.
MODEL_CONCURRENCY = 1
#: Temperatures tried in turn from the one asked for (Whisper's fallback steps).
_TEMPERATURE_STEP = 0.2

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt", "diarized_json"]


# --------------------------------------------------------------------------- helpers


def _config(request: Request) -> Any:
    return request.app.state.config


def model_limiter(request: Request) -> anyio.CapacityLimiter:
    state = request.app.state
    limiter = getattr(state, "model_limiter", None)
    if limiter is None:
        limiter = state.model_limiter = anyio.CapacityLimiter(MODEL_CONCURRENCY)
    return limiter


def transcription_batcher(request: Request):
    """The app's :class:`~vidpipe.service.batching.TranscriptionBatcher` (built on first
    use, sharing :func:`model_limiter`); ``None`` when packing is off
    (``ServiceConfig.batch_max`` 1). ``request`` may be a websocket too (anything with
    ``.app``): other routes share the same groups through it."""
    from vidpipe.service.batching import TranscriptionBatcher

    state = request.app.state
    batcher = getattr(state, "batcher", None)
    if batcher is None:
        cfg = _config(request)
        if cfg.batch_max <= 1:
            return None
        batcher = state.batcher = TranscriptionBatcher(
            limiter=model_limiter(request),
            metrics=getattr(state, "metrics", None),
            max_group=cfg.batch_max,
            max_wait=cfg.batch_wait,
        )
    return batcher


def asr_models() -> list[str]:
    """ASR model names the routes accept besides :data:`TRANSCRIPTION_ALIAS`: the bundled
    models, the configured default (``VIDPIPE_MODEL``) and the Hugging Face ids of the
    bundled models (:data:`vidpipe.speech.models.ALIASES`), in that order."""
    from vidpipe.config import get_settings
    from vidpipe.speech.models import ALIASES, BUNDLED

    names = list(BUNDLED)
    configured = get_settings().model
    if configured not in names:
        names.append(configured)
    return names + [a for a in ALIASES if a not in names]


def _asr_model(name: str | None) -> str:
    """The model to load for the ``model`` field: the default for none or
    ``whisper-1``, the bundled name for a Hugging Face alias (one engine in memory).

    Raises:
        NotFoundError: not a model of :func:`asr_models` (404, ``model_not_found``).
    """
    from vidpipe.config import get_settings
    from vidpipe.speech.models import canonical_model

    name = (name or "").strip()
    if not name or name in (TRANSCRIPTION_ALIAS, DIARIZE_ALIAS):
        return get_settings().model
    if name in asr_models() or canonical_model(name) in asr_models():
        return canonical_model(name)
    raise with_param(
        NotFoundError(
            f"unknown model '{name}'",
            f"use {TRANSCRIPTION_ALIAS}, {DIARIZE_ALIAS} or one of {', '.join(asr_models())} "
            "(GET /v1/models)",
        ),
        "model",
        "model_not_found",
    )


def _temperatures(temperature: float | None) -> tuple[float, ...]:
    """OpenAI's ``temperature``: 0 (the default) means Whisper's fallback 0, 0.2 ... 1.0;
    a higher value starts the fallback there."""
    start = min(max(float(temperature or 0.0), 0.0), 1.0)
    steps = [round(start + i * _TEMPERATURE_STEP, 2) for i in range(6)]
    return tuple(t for t in steps if t <= 1.0) or (1.0,)


async def _save_upload(request: Request, file: UploadFile) -> Path:
    """The upload copied to a file of its own (removed by the caller), size-checked."""
    cfg = _config(request)
    limit = int(cfg.max_audio_bytes)
    if file.size is not None and file.size > limit:
        raise TooLargeError(
            f"the file is {file.size} bytes, over the limit of {limit} bytes",
            "send a smaller file (VIDPIPE_SERVICE_MAX_AUDIO_BYTES sets the limit)",
        )
    suffix = Path(file.filename or "").suffix.lower()
    if not suffix or len(suffix) > 8 or not suffix[1:].isalnum():
        suffix = ".bin"
    folder = Path(cfg.home) / "tmp"

    def copy() -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="openai-", suffix=suffix, dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                file.file.seek(0)
                shutil.copyfileobj(file.file, out, 1 << 20)
                size = out.tell()
        except BaseException:
            os.unlink(name)
            raise
        if size > limit:
            os.unlink(name)
            raise TooLargeError(
                f"the file is {size} bytes, over the limit of {limit} bytes",
                "send a smaller file (VIDPIPE_SERVICE_MAX_AUDIO_BYTES sets the limit)",
            )
        if size == 0:
            os.unlink(name)
            raise MediaError("the uploaded file is empty", "send an audio or video file")
        return Path(name)

    return await anyio.to_thread.run_sync(copy)


def _decode(path: Path):
    from vidpipe.files import check_readable_file
    from vidpipe.media.audio import decode_audio

    audio = decode_audio(check_readable_file(path), sample_rate=SAMPLE_RATE)
    if audio.size == 0:
        raise MediaError("the audio track holds no samples", "check the file plays")
    return audio


def _decode_short(path: Path):
    """``path``'s samples (16 kHz mono float32) when it holds at most
    :data:`~vidpipe.speech.transcribe.HOLD_SECONDS` of audio (the header says so, or
    the decoded samples do); ``None`` for a longer file, left to decode alone.

    Raises:
        MediaError / NoAudioError / InputError: as :func:`_decode`.
    """
    from vidpipe.files import check_readable_file
    from vidpipe.media.audio import audio_duration
    from vidpipe.speech.transcribe import HOLD_SECONDS

    seconds = audio_duration(check_readable_file(path))
    if seconds is not None and seconds > HOLD_SECONDS + 1.0:
        return None
    audio = _decode(path)
    return audio if audio.shape[0] <= HOLD_SECONDS * SAMPLE_RATE else None


def _finish(tr: Transcript, model: str) -> Transcript:
    from vidpipe.config import get_settings
    from vidpipe.text.script import transcript_to_script

    tr = transcript_to_script(tr, get_settings().zh_script)
    tr.model = model
    return tr


def _transcribe(path: Path, model: str, options: TranscribeOptions) -> Transcript:
    from vidpipe.pipeline.models import asr_engine

    engine = asr_engine(model)
    audio = _decode(path)
    return _finish(engine.transcribe(audio, options), model)


def _transcribe_diarized(
    path: Path, model: str, options: TranscribeOptions, known: Any, counts: dict
) -> Transcript:
    """Transcribe and diarize ``path``; ``known()`` gives the known voices (decoded in
    this worker thread). Every segment gets a speaker: a segment no turn covers within
    a second takes the nearest turn's."""
    from vidpipe.pipeline.models import asr_engine
    from vidpipe.pipeline.stages.diarize import diarize_transcript

    voices = known()
    engine = asr_engine(model)
    audio = _decode(path)
    tr = _finish(engine.transcribe(audio, options), model)
    done = diarize_transcript(audio, tr, voices, **counts)
    return _fill_speakers(done.transcript, done.diarization.turns)


def _fill_speakers(tr: Transcript, turns: list) -> Transcript:
    if not turns:
        return tr
    segments = []
    for seg in tr.segments:
        if seg.speaker is None:
            mid = (seg.start + seg.end) / 2
            near = min(turns, key=lambda t: max(t.start - mid, mid - t.end, 0.0))
            seg = seg.model_copy(update={"speaker": near.speaker})
        segments.append(seg)
    return tr.model_copy(update={"segments": segments})


def _sse_diarized(tr: Transcript) -> AsyncIterator[bytes]:
    """A diarized transcript as OpenAI's stream: one ``transcript.text.segment`` event
    per segment, then ``transcript.text.done``."""

    async def events() -> AsyncIterator[bytes]:
        for i, seg in enumerate(tr.segments):
            yield _sse(_diarized_segment(i, seg))
        yield _sse({"type": "transcript.text.done", "text": tr.text})

    return events()


def _language_name(code: str | None) -> str:
    """OpenAI's ``verbose_json`` names the language (``english``); unknown codes as given."""
    from vidpipe.speech.remote import _LANGUAGE_CODES_BY_NAME

    for name, c in _LANGUAGE_CODES_BY_NAME.items():
        if c == code:
            return name
    return code or ""


def verbose_json(tr: Transcript, *, segments: bool = True, words: bool = False) -> dict:
    """A Transcript as OpenAI's ``verbose_json`` (``TranscriptionVerbose``).

    Times in seconds; ``seek`` is the segment start in 10 ms frames (Whisper's unit);
    ``tokens`` is empty (CTranslate2 does not hand them on); ``words`` carry the word
    without its leading space. A diarized transcript's segments carry ``speaker`` too (a
    field OpenAI's shape does not have; clients ignore it).
    """
    out: dict[str, Any] = {
        "task": tr.task,
        "language": _language_name(tr.language),
        "duration": round(tr.duration, 3),
        "text": tr.text,
        "usage": {"type": "duration", "seconds": round(tr.duration, 3)},
    }
    if segments:
        out["segments"] = [
            {
                "id": s.id,
                "seek": round(s.start * 100),
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text,
                "tokens": [],
                "temperature": s.temperature or 0.0,
                "avg_logprob": s.avg_logprob or 0.0,
                "compression_ratio": s.compression_ratio or 0.0,
                "no_speech_prob": s.no_speech_prob or 0.0,
                **({"speaker": s.speaker} if s.speaker else {}),
            }
            for s in tr.segments
        ]
    if words:
        out["words"] = [
            {"word": w.word.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
            for w in tr.words
        ]
    return out


def diarized_json(tr: Transcript) -> dict:
    """A Transcript with speakers as OpenAI's ``diarized_json`` (``TranscriptionDiarized``).

    Segment ids are ``seg_0``, ``seg_1``...; times in seconds; ``text`` of each segment
    without its leading space; a segment without a speaker is ``unknown``.
    """
    return {
        "task": "transcribe",
        "duration": round(tr.duration, 3),
        "text": tr.text,
        "segments": [_diarized_segment(i, s) for i, s in enumerate(tr.segments)],
        "usage": {"type": "duration", "seconds": round(tr.duration, 3)},
    }


def _diarized_segment(i: int, s) -> dict:
    return {
        "type": "transcript.text.segment",
        "id": f"seg_{i}",
        "start": round(s.start, 3),
        "end": round(s.end, 3),
        "text": s.text.strip(),
        "speaker": s.speaker or "unknown",
    }


def _render(tr: Transcript, fmt: str, granularities: list[str]) -> Response:
    from vidpipe.writers import SrtWriter, VttWriter

    if fmt == "diarized_json":
        return JSONResponse(diarized_json(tr))
    if fmt == "json":
        return JSONResponse({"text": tr.text})
    if fmt == "text":
        return PlainTextResponse(tr.text + "\n")
    if fmt == "srt":
        return PlainTextResponse(SrtWriter().render(tr))
    if fmt == "vtt":
        return PlainTextResponse(VttWriter().render(tr), media_type="text/vtt")
    want_words = "word" in granularities
    want_segments = "segment" in granularities or not granularities
    return JSONResponse(verbose_json(tr, segments=want_segments, words=want_words))


def _sse(data: dict, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return (head + "data: " + json.dumps(data, ensure_ascii=False) + "\n\n").encode("utf-8")


def _error_body(exc: VidpipeError) -> dict:
    return {"error": {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}}


async def _stream(
    request: Request, path: Path, model: str, options: TranscribeOptions
) -> AsyncIterator[bytes]:
    """Server-sent events of one transcription; removes ``path`` at the end."""
    from starlette.concurrency import iterate_in_threadpool

    from vidpipe.pipeline.models import asr_engine
    from vidpipe.speech.stream import iter_transcript

    pieces: list[str] = []
    try:
        async with model_limiter(request):
            engine = await anyio.to_thread.run_sync(asr_engine, model)
            audio = await anyio.to_thread.run_sync(_decode, path)
            async for part in iterate_in_threadpool(iter_transcript(audio, engine, options)):
                text = _finish(part, model).text
                if not text:
                    continue
                delta = (" " if pieces and not _unspaced(part.language) else "") + text
                pieces.append(delta)
                yield _sse({"type": "transcript.text.delta", "delta": delta})
        yield _sse({"type": "transcript.text.done", "text": "".join(pieces)})
    except VidpipeError as exc:
        yield _sse(_error_body(exc), event="error")
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


async def _stream_packed(pending: Any, model: str) -> AsyncIterator[bytes]:
    """Server-sent events of a packed request: one ``transcript.text.delta`` per
    segment once its group is decoded, then ``transcript.text.done``."""
    try:
        packed = await pending
        tr = _finish(packed.transcript, model)
        pieces: list[str] = []
        for seg in tr.segments:
            if not seg.text:
                continue
            delta = (" " if pieces and not _unspaced(tr.language) else "") + seg.text
            pieces.append(delta)
            yield _sse({"type": "transcript.text.delta", "delta": delta})
        yield _sse({"type": "transcript.text.done", "text": "".join(pieces)})
    except VidpipeError as exc:
        yield _sse(_error_body(exc), event="error")
    finally:
        pending.cancel()  # the client left before its group: not decoded


def _unspaced(language: str | None) -> bool:
    return (language or "") in ("zh", "ja", "th", "lo", "km", "my", "bo", "yue")


async def _audio_route(
    request: Request,
    *,
    file: UploadFile,
    model: str | None,
    language: str | None,
    prompt: str | None,
    temperature: float | None,
    response_format: str,
    granularities: list[str] | None,
    stream: bool,
    task: Literal["transcribe", "translate"],
    known_names: list[str] | None = None,
    known_references: list[str] | None = None,
    counts: dict | None = None,
) -> Response:
    diarize = task == "transcribe" and (
        (model or "").strip() == DIARIZE_ALIAS or response_format == "diarized_json"
    )
    if response_format == "diarized_json" and task != "transcribe":
        raise UsageError("diarized_json is for transcriptions", "use json, text, srt or vtt")
    if not diarize and (known_names or known_references):
        raise UsageError(
            "known speakers need diarization",
            f"use model={DIARIZE_ALIAS} or response_format=diarized_json",
        )
    if diarize:
        from vidpipe.service.voices import require_diarization

        await require_diarization()
    name = _asr_model(model)
    granularities = [g.strip() for g in granularities or [] if g.strip()]
    bad = [g for g in granularities if g not in ("word", "segment")]
    if bad:
        raise with_param(
            UsageError(f"unknown timestamp granularity '{bad[0]}'", "use word or segment"),
            "timestamp_granularities[]",
            "invalid_value",
        )
    lang = (language or "").strip().lower() or None
    if lang == "auto":
        lang = None
    try:
        options = TranscribeOptions(
            language=lang,
            task=task,
            # diarization gives each word its speaker: words need their times
            word_timestamps="word" in granularities or diarize,
            # sentence-sized segments only matter when segments are shown; json and
            # text answers skip the word alignment (about 9 % of the decoding time)
            sentence_segments=diarize
            or (not stream and response_format in ("srt", "vtt", "verbose_json")),
            initial_prompt=prompt or None,
            temperature=_temperatures(temperature),
        )
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise UsageError(f"invalid options: {exc}", "see the OpenAI audio API") from None
    path = await _save_upload(request, file)
    if diarize:
        from vidpipe.service.voices import known_voices

        cfg = _config(request)
        catalog = getattr(request.app.state, "catalog", None)

        def known():
            return known_voices(
                catalog,
                known_names,
                known_references,
                Path(cfg.home) / "tmp",
                int(cfg.max_audio_bytes),
            )

        try:
            async with model_limiter(request):
                tr = await anyio.to_thread.run_sync(
                    _transcribe_diarized, path, name, options, known, dict(counts or {})
                )
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        if stream:
            return StreamingResponse(
                _sse_diarized(tr),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return _render(tr, response_format, granularities)
    batcher = transcription_batcher(request)
    audio = None
    if batcher is not None:
        try:
            audio = await anyio.to_thread.run_sync(_decode_short, path)
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()
            raise
    if audio is not None:  # short: packed with the requests that arrive with it
        with contextlib.suppress(OSError):
            path.unlink()
        if stream:
            pending = asyncio.ensure_future(batcher.submit(audio, name, options))
            # retrieved here if the client leaves before the stream starts
            pending.add_done_callback(lambda f: f.cancelled() or f.exception())
            return StreamingResponse(
                _stream_packed(pending, name),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        packed = await batcher.submit(audio, name, options)
        response = _render(_finish(packed.transcript, name), response_format, granularities)
        response.headers["X-Vidpipe-Group"] = str(packed.group)
        response.headers["X-Vidpipe-Group-Size"] = str(packed.size)
        return response
    if stream:
        return StreamingResponse(
            _stream(request, path, name, options),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        async with model_limiter(request):
            tr = await anyio.to_thread.run_sync(_transcribe, path, name, options)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
    return _render(tr, response_format, granularities)


_FORMAT_DOC = "json, text, srt, verbose_json, vtt or diarized_json (speakers)"


@router.post(
    "/v1/audio/transcriptions",
    summary="Transcribe audio (OpenAI-compatible)",
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/plain": {},
                "text/vtt": {},
                "text/event-stream": {},
            }
        },
        **error_responses(400, 404, 413, 415, 422, 501, 503),
    },
)
async def create_transcription(
    request: Request,
    file: UploadFile = File(..., description="audio or video file"),
    model: str = Form(
        TRANSCRIPTION_ALIAS, description="whisper-1, gpt-4o-transcribe-diarize, base, tiny.en"
    ),
    language: str | None = Form(None, description="ISO 639-1 code; empty: detected"),
    prompt: str | None = Form(None, description="text to prime the decoder"),
    temperature: float | None = Form(None, ge=0.0, le=1.0),
    response_format: ResponseFormat = Form("json", description=_FORMAT_DOC),
    timestamp_granularities: list[str] | None = Form(
        None, alias="timestamp_granularities[]", description="word and/or segment"
    ),
    stream: bool = Form(False, description="server-sent events as text is decoded"),
    known_speaker_names: list[str] | None = Form(
        None, alias="known_speaker_names[]", description="names of the reference clips"
    ),
    known_speaker_references: list[str] | None = Form(
        None,
        alias="known_speaker_references[]",
        description="data:audio/...;base64,... clips of each known speaker alone",
    ),
    chunking_strategy: str | None = Form(
        None, description="accepted and ignored (voice activity detection always chunks)"
    ),
    num_speakers: int | None = Form(None, ge=1, le=100, description="diarization: exactly"),
    min_speakers: int | None = Form(None, ge=1, le=100, description="diarization: at least"),
    max_speakers: int | None = Form(None, ge=1, le=100, description="diarization: at most"),
) -> Response:
    """Speech to text in the language spoken (OpenAI ``audio.transcriptions.create``);
    with ``model=gpt-4o-transcribe-diarize`` or ``response_format=diarized_json``, who
    said each segment too."""
    return await _audio_route(
        request,
        file=file,
        model=model,
        language=language,
        prompt=prompt,
        temperature=temperature,
        response_format=response_format,
        granularities=timestamp_granularities,
        stream=stream,
        task="transcribe",
        known_names=known_speaker_names,
        known_references=known_speaker_references,
        counts={
            "num_speakers": num_speakers,
            "min_speakers": min_speakers,
            "max_speakers": max_speakers,
        },
    )


@router.post(
    "/v1/audio/translations",
    summary="Translate audio to English text (OpenAI-compatible)",
    responses={
        200: {"content": {"application/json": {}, "text/plain": {}, "text/vtt": {}}},
        **error_responses(400, 404, 413, 415, 422, 503),
    },
)
async def create_translation(
    request: Request,
    file: UploadFile = File(..., description="audio or video file"),
    model: str = Form(TRANSCRIPTION_ALIAS, description="whisper-1 or base (multilingual)"),
    prompt: str | None = Form(None, description="text to prime the decoder (English)"),
    temperature: float | None = Form(None, ge=0.0, le=1.0),
    response_format: ResponseFormat = Form("json", description=_FORMAT_DOC),
) -> Response:
    """Speech in any language to English text (OpenAI ``audio.translations.create``)."""
    return await _audio_route(
        request,
        file=file,
        model=model,
        language=None,
        prompt=prompt,
        temperature=temperature,
        response_format=response_format,
        granularities=None,
        stream=False,
        task="translate",
    )


# --------------------------------------------------------------------------- speech

SpeechFormat = Literal["wav", "mp3", "flac", "aac", "opus", "pcm"]


class SpeechRequest(BaseModel):
    """The body of ``POST /v1/audio/speech`` (OpenAI's ``audio.speech.create``)."""

    model_config = ConfigDict(extra="ignore")

    input: str = Field(..., min_length=1, max_length=4096, description="text to speak")
    model: str = Field("tts-1", description=", ".join(SPEECH_MODELS))
    voice: str = Field("alloy", description="an OpenAI voice name (all are joe), joe, espeak:LANG")
    response_format: SpeechFormat = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0, description="1 = normal")
    instructions: str | None = Field(None, description="ignored (the voice has one style)")
    stream_format: Literal["audio", "sse"] = Field(
        "audio",
        description="audio: the file; sse: server-sent events speech.audio.delta (base64 "
        "audio of response_format, one a sentence for pcm) then speech.audio.done",
    )


def _voice_name(voice: str) -> str:
    from vidpipe.speech.tts import JOE_ALIASES

    v = voice.strip()
    if v.lower() in OPENAI_VOICES or v.lower() in (a.lower() for a in JOE_ALIASES):
        return "joe"
    if v.lower().startswith("espeak:") and v[7:].strip().replace("-", "").isalnum():
        return v
    raise with_param(
        UsageError(
            f"unknown voice '{voice}'",
            f"use joe, espeak:LANG or one of {', '.join(OPENAI_VOICES)}",
        ),
        "voice",
        "invalid_value",
    )


def _voice(voice_name: str, speed: float):
    from vidpipe.pipeline.models import voice
    from vidpipe.speech.tts import PiperVoice

    v = voice(voice_name, None)
    if speed != 1.0:
        if not isinstance(v, PiperVoice):
            raise with_param(
                UsageError(f"voice {voice_name} cannot change speed", "use speed 1 or joe"),
                "speed",
                "invalid_value",
            )
        v = v.with_speed(speed)
    return v


def _speak(text: str, voice_name: str, speed: float, fmt: str) -> bytes:
    from vidpipe.media.encode import encode_samples
    from vidpipe.speech.tts import speak

    result = speak(text, voice=_voice(voice_name, speed))
    return encode_samples(result.audio, result.sample_rate, fmt)


#: bytes of encoded audio per ``speech.audio.delta`` event (formats other than pcm)
SSE_CHUNK = 32 * 1024


def _speech_chunks(text: str, voice_name: str, speed: float, fmt: str) -> Iterator[bytes]:
    """The audio of ``text`` in pieces that concatenate to the file of ``fmt``: for
    ``pcm`` one piece per sentence as it is synthesized; for the other formats (whose
    files have headers) the whole file in :data:`SSE_CHUNK` byte pieces.

    Raises (at the first piece): InputError, UsageError, ModelError as ``_speak``.
    """
    from vidpipe.media.encode import encode_samples

    if fmt == "pcm":
        v = _voice(voice_name, speed)
        for _segment, samples in v.stream(text):
            yield encode_samples(samples, v.sample_rate, "pcm")
        return
    data = _speak(text, voice_name, speed, fmt)
    for i in range(0, len(data), SSE_CHUNK):
        yield data[i : i + SSE_CHUNK]


async def _speech_events(request: Request, chunks: Iterator[bytes], first: bytes | None, text: str):
    """``speech.audio.delta`` events (``audio``: base64) then ``speech.audio.done``
    (``usage`` in OpenAI's shape: characters of the input as input tokens, no output
    tokens); an ``error`` event when the synthesis fails after the first piece."""
    import base64

    done = object()
    try:
        async with model_limiter(request):
            piece = first
            while piece is not None:
                yield _sse(
                    {"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode()},
                    event="speech.audio.delta",
                )
                got = await anyio.to_thread.run_sync(next, chunks, done)
                piece = None if got is done else got
        usage = {"input_tokens": len(text), "output_tokens": 0, "total_tokens": len(text)}
        yield _sse({"type": "speech.audio.done", "usage": usage}, event="speech.audio.done")
    except VidpipeError as exc:
        yield _sse(_error_body(exc), event="error")


@router.post(
    "/v1/audio/speech",
    summary="Text to speech (OpenAI-compatible)",
    response_class=Response,
    responses={200: {"content": {"audio/mpeg": {}, "audio/wav": {}, "audio/flac": {},
                                 "audio/aac": {}, "audio/ogg": {}, "audio/pcm": {},
                                 "text/event-stream": {}}},
               **error_responses(400, 404, 422, 503)},
)  # fmt: skip
async def create_speech(request: Request, body: SpeechRequest) -> Response:
    """Speak ``input`` and answer with the audio file (OpenAI ``audio.speech.create``)."""
    from vidpipe.media.encode import MEDIA_TYPES

    if body.model not in SPEECH_MODELS:
        raise with_param(
            NotFoundError(
                f"unknown speech model '{body.model}'", f"use {', '.join(SPEECH_MODELS)}"
            ),
            "model",
            "model_not_found",
        )
    name = _voice_name(body.voice)
    if body.stream_format == "sse":
        chunks = _speech_chunks(body.input, name, body.speed, body.response_format)
        async with model_limiter(request):  # errors before the first piece: an HTTP status
            first = await anyio.to_thread.run_sync(next, chunks, None)
        return StreamingResponse(
            _speech_events(request, chunks, first, body.input),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    async with model_limiter(request):
        data = await anyio.to_thread.run_sync(
            _speak, body.input, name, body.speed, body.response_format
        )
    return Response(data, media_type=MEDIA_TYPES[body.response_format])


# --------------------------------------------------------------------------- models

_STARTED = int(time.time())


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


@router.get("/v1/models", response_model=ModelList, summary="Models (OpenAI-compatible)")
async def list_models() -> ModelList:
    """The ASR models (``whisper-1`` = the default; ``gpt-4o-transcribe-diarize`` = the
    default with speakers; the bundled and configured ones) and the speech models (all
    the bundled Piper voice)."""
    ids = [TRANSCRIPTION_ALIAS, DIARIZE_ALIAS, *asr_models(), *SPEECH_MODELS]
    return ModelList(data=[ModelCard(id=i, created=_STARTED, owned_by="vidpipe") for i in ids])


@router.get(
    "/v1/models/{model_id:path}",
    response_model=ModelCard,
    summary="One model",
    responses=error_responses(404),
)
async def get_model(model_id: str) -> ModelCard:
    """One model of :func:`list_models`; ids may hold ``/`` (the Hugging Face ids of
    the bundled models, ``Systran/faster-whisper-base``).

    Raises:
        NotFoundError: no such model (404, ``model_not_found``).
    """
    if model_id not in (TRANSCRIPTION_ALIAS, DIARIZE_ALIAS, *asr_models(), *SPEECH_MODELS):
        raise with_param(
            NotFoundError(f"unknown model '{model_id}'", "see GET /v1/models"),
            "model",
            "model_not_found",
        )
    return ModelCard(id=model_id, created=_STARTED, owned_by="vidpipe")
