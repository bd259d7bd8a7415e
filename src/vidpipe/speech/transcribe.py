"""Transcribe a media file: decode its audio in memory, run an ASR engine, return a Transcript."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import ValidationError

from vidpipe.errors import MediaError, UsageError, VidpipeError
from vidpipe.files import check_readable_file
from vidpipe.speech.engine import SAMPLE_RATE, ASREngine, ProgressCallback, TranscribeOptions
from vidpipe.types import Transcript

if TYPE_CHECKING:
    from vidpipe.config import Settings

HOLD_SECONDS = 120.0
#: files transcribed together in one call by a local engine (their short clips share
#: Whisper windows, see :mod:`vidpipe.speech.packing`): ``vidpipe transcribe FILE...``,
#: ``vidpipe run``'s packing groups and a worker's packed jobs. Each group's audio is held
#: in memory (32 files of at most ``HOLD_SECONDS``: at most 246 MB of float32 at 16 kHz).
PACK_GROUP = 32
""":func:`transcribe_many` keeps in memory, for packing, only the files of at most this
many seconds (7.7 MB of samples each); longer ones are transcribed as soon as they are
decoded (a file needs under 20 s of speech to be packed, so little is lost)."""

ENGINES = ("faster-whisper", "openai", "iflytek")
"""Engine names accepted by :func:`get_engine` (``local`` is an alias of faster-whisper)."""


def get_engine(
    name: str = "faster-whisper",
    *,
    model: str | None = None,
    threads: int | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    max_upload_bytes: int | None = None,
    settings: Settings | None = None,
) -> ASREngine:
    """Build an ASR engine by name (the factory keyed by configuration).

    Args:
        name: ``"faster-whisper"`` (alias ``"local"``), ``"openai"`` (any
            OpenAI-compatible ``/v1/audio/transcriptions`` endpoint) or ``"iflytek"``
            (iFLYTEK long-form ASR; ``VIDPIPE_IFLYTEK_APPID``/``_SECRET``/``_BASE``...).
        model: local model name/path, or the model name sent to the remote endpoint.
        threads: CPU threads for the local engine.
        api_base: base URL of the remote endpoint (``VIDPIPE_API_BASE`` otherwise;
            for iflytek it overrides ``VIDPIPE_IFLYTEK_BASE``).
        api_key: key for the remote endpoint (``VIDPIPE_API_KEY``/``OPENAI_API_KEY``).
        max_upload_bytes: remote upload limit in bytes (``VIDPIPE_MAX_UPLOAD_BYTES``).
        settings: the settings the caller resolved (front ends:
            :func:`vidpipe.config.get_settings`) for what the arguments leave open;
            None: each engine's own defaults (no settings or environment read here;
            the iflytek engine needs them).

    Raises:
        UsageError: unknown engine, the openai engine without a base URL, or the
            iflytek engine without an app id and secret.
        ModelError: the local model cannot be loaded.
    """
    s = settings
    if name in ("faster-whisper", "local", "whisper"):
        from vidpipe.speech.whisper import FasterWhisperEngine

        if s is None:
            return FasterWhisperEngine(model=model, threads=threads)
        return FasterWhisperEngine(
            model=model or s.model,
            device=s.device,
            compute_type=s.compute_type,
            threads=threads,
            cache_dir=s.cache_dir,
        )
    if name == "openai":
        from vidpipe.speech.remote import OpenAIEngine

        if s is None:
            from vidpipe.speech.remote import OPENAI_MAX_UPLOAD_BYTES

            if not api_base:
                raise UsageError(
                    "the openai engine needs an endpoint",
                    "pass --api-base http://HOST:PORT/v1 or set VIDPIPE_API_BASE",
                )
            return OpenAIEngine(
                api_base=api_base,
                api_key=api_key,
                model=model or "whisper-1",
                max_upload_bytes=max_upload_bytes or OPENAI_MAX_UPLOAD_BYTES,
            )
        settings = s
        base = api_base or settings.api_base
        if not base:
            raise UsageError(
                "the openai engine needs an endpoint",
                "pass --api-base http://HOST:PORT/v1 or set VIDPIPE_API_BASE",
            )
        return OpenAIEngine(
            api_base=base,
            api_key=api_key or settings.api_key,
            model=model if model and model != settings.model else settings.api_model,
            max_upload_bytes=max_upload_bytes or settings.max_upload_bytes,
        )
    if name == "iflytek":
        from vidpipe.speech.iflytek import IflytekEngine

        if settings is None:
            raise UsageError(
                "the iflytek engine needs an app id and a secret",
                "set VIDPIPE_IFLYTEK_APPID and VIDPIPE_IFLYTEK_SECRET",
            )
        return IflytekEngine.from_settings(
            settings, base_url=api_base, max_upload_bytes=max_upload_bytes
        )
    raise UsageError(f"unknown engine '{name}'", f"use one of: {', '.join(ENGINES)}")


def transcribe(
    path: str | os.PathLike[str],
    *,
    model: str | None = None,
    engine: str | ASREngine = "faster-whisper",
    language: str | None = None,
    task: Literal["transcribe", "translate"] = "transcribe",
    word_timestamps: bool = False,
    sentence_segments: bool = True,
    vad: bool = True,
    beam_size: int = 5,
    batch_size: int = 8,
    threads: int | None = None,
    initial_prompt: str | None = None,
    audio_stream: int | None = None,
    api_base: str | None = None,
    progress: ProgressCallback | None = None,
    on_decoded: Callable[[float], None] | None = None,
    zh_script: str = "simplified",
    settings: Settings | None = None,
) -> Transcript:
    """Transcribe the speech in a video or audio file.

    The audio track is decoded by PyAV straight from the container to 16 kHz mono
    float32 in memory (no temporary files), then passed to the engine.

    Args:
        path: any file FFmpeg can demux (mp4, mkv, webm, mov, mp3, wav, flac, m4a, ogg...).
        model: ``"base"`` (default, multilingual), ``"tiny.en"``, a CTranslate2 folder,
            or a hub id ``org/name`` (the only case that downloads).
        engine: engine name (see :func:`get_engine`) or an engine instance to reuse.
        language: ISO 639-1 code, or ``None``/``"auto"`` to detect it.
        task: ``"transcribe"`` or ``"translate"`` (to English).
        word_timestamps: also return per-word start/end times and probabilities.
        sentence_segments: split long segments into sentences using word times
            (the batched decoder yields one segment per VAD chunk, up to 30 s; this
            costs about 9 % more time; words are aligned but not returned unless
            ``word_timestamps``).
        vad: skip non-speech with Silero VAD before decoding.
        beam_size: beam width (1 = greedy).
        batch_size: chunks decoded together by the batched pipeline (1 = sequential).
        threads: CPU threads (default: available cores).
        initial_prompt: text to prime the decoder (names, spelling, style).
        audio_stream: index among the file's audio streams (0-based); default the best one.
        api_base: endpoint of the ``openai`` engine.
        progress: called with ``(audio_seconds_done, audio_seconds_total)``.
        on_decoded: called once with the decoded audio duration in seconds.
        zh_script: for Chinese (``zh``, given or detected), the script of segment and
            word text: ``"simplified"`` (default), ``"traditional"`` or ``"keep"``
            (Whisper's own mix); see :mod:`vidpipe.text.script`.
        settings: the resolved settings for an engine given by name (see
            :func:`get_engine`; front ends pass :func:`vidpipe.config.get_settings`).

    Returns:
        A :class:`~vidpipe.types.Transcript`; times in seconds from the start of the audio.

    Raises:
        InputError: missing, directory or unreadable path.
        MediaError / NoAudioError: not media, truncated, or without audio.
        ModelError, RemoteError, UsageError: see :func:`get_engine`.
    """
    (result,) = transcribe_many(
        [path],
        model=model,
        engine=engine,
        language=language,
        task=task,
        word_timestamps=word_timestamps,
        sentence_segments=sentence_segments,
        vad=vad,
        beam_size=beam_size,
        batch_size=batch_size,
        threads=threads,
        initial_prompt=initial_prompt,
        audio_stream=audio_stream,
        api_base=api_base,
        progress=(lambda _i, done, total: progress(done, total)) if progress else None,
        on_decoded=(lambda _i, seconds: on_decoded(seconds)) if on_decoded else None,
        zh_script=zh_script,
        settings=settings,
    )
    if isinstance(result, VidpipeError):
        raise result
    return result


def make_options(
    *,
    language: str | None = None,
    task: str = "transcribe",
    word_timestamps: bool = False,
    sentence_segments: bool = True,
    vad: bool = True,
    beam_size: int = 5,
    batch_size: int = 8,
    initial_prompt: str | None = None,
) -> TranscribeOptions:
    """:class:`TranscribeOptions` from :func:`transcribe`'s arguments (``auto`` or an
    empty language detects it).

    Raises:
        UsageError: a value out of range, naming the field.
    """
    if language in ("auto", ""):
        language = None
    try:
        return TranscribeOptions(
            language=language.lower() if language else None,
            task=task,
            word_timestamps=word_timestamps,
            sentence_segments=sentence_segments,
            vad=vad,
            beam_size=beam_size,
            batch_size=batch_size,
            initial_prompt=initial_prompt,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise UsageError(f"invalid {field}: {err['msg']}", "see vidpipe transcribe --help") from exc


def decode_file(src: os.PathLike[str], audio_stream: int | None = None) -> np.ndarray:
    """A checked file's audio as 16 kHz mono float32 samples, shape ``(n,)``.

    Raises:
        MediaError / NoAudioError: not media, truncated, without audio or without samples.
    """
    from vidpipe.media.audio import decode_audio

    audio = decode_audio(src, sample_rate=SAMPLE_RATE, stream=audio_stream)
    if audio.size == 0:
        raise MediaError(f"{src}: the audio track holds no samples", "check the file plays")
    return audio


def transcribe_many(
    paths: Sequence[str | os.PathLike[str]],
    *,
    model: str | None = None,
    engine: str | ASREngine = "faster-whisper",
    language: str | None = None,
    task: Literal["transcribe", "translate"] = "transcribe",
    word_timestamps: bool = False,
    sentence_segments: bool = True,
    vad: bool = True,
    beam_size: int = 5,
    batch_size: int = 8,
    threads: int | None = None,
    initial_prompt: str | None = None,
    audio_stream: int | None = None,
    api_base: str | None = None,
    progress: Callable[[int, float, float], None] | None = None,
    on_decoded: Callable[[int, float], None] | None = None,
    zh_script: str = "simplified",
    settings: Settings | None = None,
) -> list[Transcript | VidpipeError]:
    """Transcribe several files together: short ones share Whisper windows.

    The same arguments as :func:`transcribe`, for every file. With the local engine,
    files whose speech lasts at most 20 s are packed by language into shared 30 s
    windows and decoded together (:mod:`vidpipe.speech.packing`; about 3.5x the
    throughput of one file at a time on short clips, see ``benchmarks/asr.py``);
    each file keeps its own language, text and times. Other engines, and longer
    files, are transcribed one by one as :func:`transcribe` does.

    Args:
        paths: media files, decoded one by one; those of at most
            :data:`HOLD_SECONDS` are kept in memory for the packed decode (64 KB per
            audio second), so give long lists in groups (the CLI takes 32 at a time).
        progress: called as ``progress(file index, seconds done, seconds total)``.
        on_decoded: called as ``on_decoded(file index, audio seconds)``.

    Returns:
        Per path, in order, its Transcript (``source`` set) or the
        :class:`~vidpipe.errors.VidpipeError` that file failed with (missing, not
        media, no audio...).

    Raises:
        ModelError, RemoteError, UsageError: the engine or options are wrong (before
            any file is decoded).
    """
    from vidpipe.text.script import check_script, transcript_to_script

    zh_script = check_script(zh_script)
    options = make_options(
        language=language,
        task=task,
        word_timestamps=word_timestamps,
        sentence_segments=sentence_segments,
        vad=vad,
        beam_size=beam_size,
        batch_size=batch_size,
        initial_prompt=initial_prompt,
    )
    eng = (
        get_engine(engine, model=model, threads=threads, api_base=api_base, settings=settings)
        if isinstance(engine, str)
        else engine
    )
    out: list[Transcript | VidpipeError | None] = [None] * len(paths)
    many = getattr(eng, "transcribe_many", None) if len(paths) > 1 else None

    def one(i: int, audio: np.ndarray) -> Transcript | VidpipeError:
        relay = (lambda d, t: progress(i, d, t)) if progress else None
        try:
            return eng.transcribe(audio, options, relay)
        except VidpipeError as exc:
            return exc

    def finish(i: int, result: Transcript | VidpipeError) -> None:
        if not isinstance(result, VidpipeError):
            result = transcript_to_script(result, zh_script)
            result.source = str(srcs[i])
        out[i] = result

    held: list[np.ndarray] = []  # the short files' audio, for the packed decode
    where: list[int] = []
    srcs: dict[int, Path] = {}
    for i, path in enumerate(paths):
        try:
            srcs[i] = check_readable_file(path)
            audio = decode_file(srcs[i], audio_stream)
        except VidpipeError as exc:
            out[i] = exc
            continue
        if on_decoded:
            on_decoded(i, audio.shape[0] / SAMPLE_RATE)
        if many is None or audio.shape[0] > HOLD_SECONDS * SAMPLE_RATE:
            finish(i, one(i, audio))  # now, so a long file's samples are not kept
            continue
        held.append(audio)
        where.append(i)
    if held:
        relay = (lambda k, d, t: progress(where[k], d, t)) if progress else None
        for k, result in enumerate(many(held, options, relay)):
            finish(where[k], result)
    return [r for r in out if r is not None]
