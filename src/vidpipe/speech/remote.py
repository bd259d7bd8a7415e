"""The remote ASR engine: any OpenAI-compatible ``/audio/transcriptions`` endpoint.

Works with OpenAI itself, faster-whisper-server / speaches, LocalAI, vLLM, the
whisper.cpp server in OpenAI mode, and anything else that speaks the same API.

How a transcription travels:

1. The 16 kHz mono float32 audio is encoded in memory (FLAC through PyAV by default,
   about 18 kB per second of speech; or 16-bit PCM WAV through the stdlib ``wave``
   module, exactly 32 kB per second), no temporary files.
2. If the encoded file is larger than the upload budget (``max_upload_bytes``
   minus room for the multipart form, see :func:`upload_budget`), the audio is cut
   into pieces at silences (:func:`vidpipe.media.silence.split_points`) so that
   each encoded piece fits; a piece that still does not fit is cut again.
3. Each piece is sent as one ``POST {api_base}/audio/transcriptions`` (or
   ``/audio/translations`` for ``task="translate"``) with ``response_format=verbose_json``.
4. The answers are stitched into one :class:`~vidpipe.types.Transcript`: every time
   is shifted by its piece's start, segments are renumbered, the language is the
   one heard longest.

Connection errors, timeouts and the statuses :func:`vidpipe.retry.retryable_status`
names (408, 409, 429, 5xx...) are retried as :class:`vidpipe.retry.RetryPolicy` waits
(``max_retries``; the ``openai`` client's own retries are off); every other failure is
a :class:`~vidpipe.errors.RemoteError` with a one-line message. Client, retries and
error mapping are the one OpenAI-compatible client helper's, :mod:`vidpipe.remote`.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import math
import warnings
import wave
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from vidpipe import remote
from vidpipe.errors import RemoteError, UsageError, excerpt
from vidpipe.media.silence import find_silences, split_points
from vidpipe.retry import PLACEHOLDER_API_KEY as PLACEHOLDER_API_KEY  # re-exported
from vidpipe.retry import RetryPolicy
from vidpipe.speech.engine import (
    SAMPLE_RATE,
    ProgressCallback,
    TranscribeOptions,
    enforce_monotonic,
)
from vidpipe.types import Segment, Transcript, Word

if TYPE_CHECKING:
    from vidpipe.config import Settings

log = logging.getLogger(__name__)

OPENAI_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
"""OpenAI's documented file limit for ``/v1/audio/transcriptions``: 25 MB."""

RETRY_BACKOFF = 0.5
"""Seconds: the first retry's longest wait, doubled for each further retry."""
RETRY_MAX_BACKOFF = 8.0
"""Seconds: the cap on a retry's backoff."""
RETRY_MAX_AFTER = 120.0
"""Seconds: the longest ``Retry-After`` honoured."""

FORM_OVERHEAD_BYTES = 2048
"""Bytes reserved for the multipart boundaries, part headers and small form fields
(model, model_name, language, response_format, temperature, granularities: under 1 kB)."""

MIN_PIECE_SECONDS = 1.0
"""Audio is never cut into pieces shorter than this; a smaller limit is a usage error."""

PREVIOUS_TEXT_CHARS = 800
"""With ``condition_on_previous_text``, the tail of the previous piece's text sent as
``prompt`` (OpenAI reads at most the last 224 tokens of a prompt, about 900 characters)."""

AudioFormat = Literal["flac", "wav"]

_MIME = {"flac": "audio/flac", "wav": "audio/wav"}

# Whisper's language names (openai/whisper tokenizer.py LANGUAGES plus its aliases),
# because OpenAI's verbose_json answers "english" where vidpipe wants "en".
_LANGUAGE_CODES_BY_NAME: dict[str, str] = {
    "english": "en", "chinese": "zh", "german": "de", "spanish": "es", "russian": "ru",
    "korean": "ko", "french": "fr", "japanese": "ja", "portuguese": "pt", "turkish": "tr",
    "polish": "pl", "catalan": "ca", "dutch": "nl", "arabic": "ar", "swedish": "sv",
    "italian": "it", "indonesian": "id", "hindi": "hi", "finnish": "fi", "vietnamese": "vi",
    "hebrew": "he", "ukrainian": "uk", "greek": "el", "malay": "ms", "czech": "cs",
    "romanian": "ro", "danish": "da", "hungarian": "hu", "tamil": "ta", "norwegian": "no",
    "thai": "th", "urdu": "ur", "croatian": "hr", "bulgarian": "bg", "lithuanian": "lt",
    "latin": "la", "maori": "mi", "malayalam": "ml", "welsh": "cy", "slovak": "sk",
    "telugu": "te", "persian": "fa", "latvian": "lv", "bengali": "bn", "serbian": "sr",
    "azerbaijani": "az", "slovenian": "sl", "kannada": "kn", "estonian": "et",
    "macedonian": "mk", "breton": "br", "basque": "eu", "icelandic": "is", "armenian": "hy",
    "nepali": "ne", "mongolian": "mn", "bosnian": "bs", "kazakh": "kk", "albanian": "sq",
    "swahili": "sw", "galician": "gl", "marathi": "mr", "punjabi": "pa", "sinhala": "si",
    "khmer": "km", "shona": "sn", "yoruba": "yo", "somali": "so", "afrikaans": "af",
    "occitan": "oc", "georgian": "ka", "belarusian": "be", "tajik": "tg", "sindhi": "sd",
    "gujarati": "gu", "amharic": "am", "yiddish": "yi", "lao": "lo", "uzbek": "uz",
    "faroese": "fo", "haitian creole": "ht", "pashto": "ps", "turkmen": "tk", "nynorsk": "nn",
    "maltese": "mt", "sanskrit": "sa", "luxembourgish": "lb", "myanmar": "my", "tibetan": "bo",
    "tagalog": "tl", "malagasy": "mg", "assamese": "as", "tatar": "tt", "hawaiian": "haw",
    "lingala": "ln", "hausa": "ha", "bashkir": "ba", "javanese": "jw", "sundanese": "su",
    "cantonese": "yue",
    # aliases accepted by openai/whisper
    "burmese": "my", "valencian": "ca", "flemish": "nl", "haitian": "ht",
    "letzeburgesch": "lb", "pushto": "ps", "panjabi": "pa", "moldavian": "ro",
    "moldovan": "ro", "sinhalese": "si", "castilian": "es", "mandarin": "zh",
}  # fmt: skip
_LANGUAGE_CODES = frozenset(_LANGUAGE_CODES_BY_NAME.values())

# Languages written without spaces between words: no space is added before their words.
_UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "yue"})


def normalize_language(value: object) -> str | None:
    """Turn a server's language field into an ISO 639-1 code (Whisper's code set).

    ``"english"`` -> ``"en"`` (OpenAI's verbose_json), ``"en"`` -> ``"en"``
    (faster-whisper-server), ``"en-US"`` -> ``"en"``, ``"Haitian Creole"`` -> ``"ht"``.
    Anything unknown is returned lower-cased; empty or non-string values give ``None``.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().lower().replace("_", "-")
    if text in _LANGUAGE_CODES:
        return text
    if text in _LANGUAGE_CODES_BY_NAME:
        return _LANGUAGE_CODES_BY_NAME[text]
    head = text.split("-", 1)[0]
    if head in _LANGUAGE_CODES:
        return head
    return text


def encode_audio(
    audio: np.ndarray, sample_rate: int = SAMPLE_RATE, audio_format: AudioFormat = "flac"
) -> bytes:
    """Encode mono float samples as a complete audio file in memory.

    Args:
        audio: 1-D float samples in [-1, 1] (clipped), any length.
        sample_rate: in Hz.
        audio_format: ``"flac"`` (lossless, PyAV's bundled FFmpeg encoder; about half
            the size of WAV on speech plus an 8 kB header) or ``"wav"`` (16-bit PCM,
            exactly ``44 + 2 * len(audio)`` bytes).

    Returns:
        The file's bytes. Both formats are quantised to 16-bit, which is lossless for
        speech recognition.
    """
    pcm = (np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767.0).round()
    pcm = pcm.astype("<i2")
    buf = io.BytesIO()
    if audio_format == "wav":
        with wave.open(buf, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(sample_rate)
            out.writeframes(pcm.tobytes())
        return buf.getvalue()
    if audio_format != "flac":
        raise ValueError(f"unknown audio format {audio_format!r}: use 'flac' or 'wav'")
    import av

    with av.open(buf, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=sample_rate, layout="mono")
        if pcm.size:
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = sample_rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def upload_budget(max_upload_bytes: int, options: TranscribeOptions | None = None) -> int:
    """The largest encoded audio file that keeps one request within ``max_upload_bytes``.

    The limit is applied to the whole request body, as servers and proxies do
    (OpenAI documents 25 MB for the file; nginx's ``client_max_body_size`` and
    similar count the body), so room is kept for the multipart form:
    :data:`FORM_OVERHEAD_BYTES` plus the prompt's UTF-8 size (and
    4 x :data:`PREVIOUS_TEXT_CHARS` bytes when the previous piece's text is sent).
    """
    overhead = FORM_OVERHEAD_BYTES
    if options is not None:
        overhead += len((options.initial_prompt or "").encode("utf-8"))
        if options.condition_on_previous_text:
            overhead += 4 * PREVIOUS_TEXT_CHARS
    return max_upload_bytes - overhead


def response_to_transcript(
    payload: object,
    duration: float,
    *,
    word_timestamps: bool = False,
    url: str = "the server",
) -> Transcript:
    """Map one ``verbose_json`` (or plain ``json``) answer to a Transcript.

    Args:
        payload: the decoded JSON body. ``verbose_json`` has ``language``,
            ``duration``, ``text`` and ``segments`` (``id``, ``start``, ``end``,
            ``text``, ``avg_logprob``, ``no_speech_prob``, ``compression_ratio``,
            ``temperature``; some servers add ``words`` per segment) and, with word
            granularity, a top-level ``words`` list (``word``, ``start``, ``end``) as
            OpenAI sends it. Plain ``json`` has only ``text``: it becomes one segment
            covering the whole piece.
        duration: the length of the audio that was sent, in seconds; every time is
            clipped to ``[0, duration]``.
        word_timestamps: keep words (top-level words are assigned to the segment
            holding their midpoint); otherwise ``Segment.words`` is ``None``.
        url: named in error messages.

    Returns:
        A Transcript with times in seconds from the start of the piece; ``duration``
        is the given duration, ``language`` an ISO 639-1 code or ``None``.

    Raises:
        RemoteError: the payload is not a JSON object, or a segment lacks numeric
            ``start``/``end``.
    """
    if not isinstance(payload, Mapping):
        raise RemoteError(
            f"{url} answered with JSON that is not a transcription object: "
            f"{_excerpt(json.dumps(payload))}",
            "check that --api-base points at an OpenAI-compatible /v1 endpoint",
        )
    language = normalize_language(payload.get("language"))
    raw_segments = payload.get("segments")
    segments: list[Segment] = []
    if isinstance(raw_segments, list):
        for index, item in enumerate(raw_segments):
            if not isinstance(item, Mapping):
                raise RemoteError(f"{url} answered with a malformed segment: {_excerpt(item)}")
            start = _number(item.get("start"))
            end = _number(item.get("end"))
            if start is None or end is None:
                raise RemoteError(
                    f"{url} answered with a segment without start/end times: {_excerpt(item)}"
                )
            start = min(max(start, 0.0), duration)
            end = min(max(end, start), duration)
            segments.append(
                Segment(
                    id=index,
                    start=start,
                    end=end,
                    text=str(item.get("text") or ""),
                    avg_logprob=_number(item.get("avg_logprob")),
                    no_speech_prob=_number(item.get("no_speech_prob")),
                    compression_ratio=_number(item.get("compression_ratio")),
                    temperature=_number(item.get("temperature")),
                    words=_words(item.get("words"), duration) if word_timestamps else None,
                )
            )
        segments.sort(key=lambda s: (s.start, s.end))
    else:
        text = payload.get("text")
        if not isinstance(text, str):
            raise RemoteError(
                f"{url} answered without 'segments' or 'text': {_excerpt(json.dumps(payload))}",
                "check that the server supports response_format=verbose_json or json",
            )
        if text.strip():
            segments.append(Segment(id=0, start=0.0, end=duration, text=text))

    if word_timestamps and segments and all(s.words is None for s in segments):
        top = _words(payload.get("words"), duration)
        if top is not None:
            _assign_words(segments, top)
    if word_timestamps:
        _space_words(segments, language)
    return Transcript(language=language, duration=duration, segments=segments)


def stitch_transcripts(
    pieces: list[tuple[float, float, Transcript]],
    total_duration: float,
) -> Transcript:
    """Join the transcripts of consecutive pieces of one recording.

    Args:
        pieces: ``(offset, duration, transcript)`` per piece in order; ``offset`` is
            where the piece starts in the whole audio, in seconds, and the
            transcript's times are relative to the piece.
        total_duration: the length of the whole audio in seconds.

    Returns:
        One Transcript: each segment's and word's ``start``/``end`` is shifted by its
        piece's offset and clipped to the piece's span (so segments of different
        pieces never overlap and times never decrease from piece to piece), segment
        ids run 0, 1, 2... over the whole transcript, ``language`` is the one whose
        pieces cover the most audio (the earliest wins a tie), and ``duration`` is
        ``total_duration``.
    """
    segments: list[Segment] = []
    seconds_by_language: dict[str, float] = {}
    for offset, duration, piece in pieces:
        if piece.language:
            seconds_by_language[piece.language] = (
                seconds_by_language.get(piece.language, 0.0) + duration
            )
        lo, hi = offset, min(offset + duration, total_duration)

        def shift(t: float, lo: float = lo, hi: float = hi, offset: float = offset) -> float:
            return min(max(t + offset, lo), hi)

        for seg in piece.segments:
            words = None
            if seg.words is not None:
                words = [
                    w.model_copy(update={"start": shift(w.start), "end": shift(w.end)})
                    for w in seg.words
                ]
            segments.append(
                seg.model_copy(
                    update={
                        "id": len(segments),
                        "start": shift(seg.start),
                        "end": shift(seg.end),
                        "words": words,
                    }
                )
            )
    language = None
    if seconds_by_language:
        # dicts keep insertion order and max() returns the first maximum: earliest wins ties
        language = max(seconds_by_language, key=lambda k: seconds_by_language[k])
    return Transcript(
        language=language,
        duration=total_duration,
        segments=enforce_monotonic(segments, total_duration),
    )


class OpenAIEngine:
    """ASR through an OpenAI-compatible HTTP endpoint (``name = "openai"``).

    Args:
        api_base: base URL including the version path, e.g.
            ``http://127.0.0.1:8000/v1`` or ``https://api.openai.com/v1``.
        api_key: bearer token; ``None`` sends :data:`PLACEHOLDER_API_KEY` (local
            servers do not check keys). Nothing is read from the environment here:
            :meth:`from_settings` passes ``VIDPIPE_API_KEY`` / ``OPENAI_API_KEY``.
        model: model name sent as the form field ``model`` (OpenAI, speaches...)
            and also as ``model_name`` (faster-whisper-server 0.0.x reads that one).
        max_upload_bytes: largest request body in bytes; longer audio is split at
            silences. The default is OpenAI's documented 25 MB file limit.
        timeout: seconds to wait on each request (connect, send, and the server's
            work on one piece) before the client gives up or retries.
        max_retries: retries on connection errors, timeouts and retryable statuses
            (:func:`vidpipe.retry.retryable_status`), with :data:`RETRY_BACKOFF` s
            full-jitter exponential backoff capped at :data:`RETRY_MAX_BACKOFF` s, or
            the server's ``Retry-After`` up to :data:`RETRY_MAX_AFTER` s (the
            ``openai`` client's own numbers, now in :class:`vidpipe.retry.RetryPolicy`).
        audio_format: upload encoding, ``"flac"`` (default) or ``"wav"``.

    Raises:
        UsageError: ``api_base`` is not an http(s) URL, or ``audio_format`` is unknown.
    """

    name = "openai"

    def __init__(
        self,
        api_base: str,
        api_key: str | None = None,
        model: str = "whisper-1",
        max_upload_bytes: int = OPENAI_MAX_UPLOAD_BYTES,
        timeout: float = 600,
        max_retries: int = 3,
        *,
        audio_format: AudioFormat = "flac",
    ) -> None:
        base = (api_base or "").strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise UsageError(
                f"invalid API base URL {api_base!r}",
                "pass --api-base (or VIDPIPE_API_BASE) like http://127.0.0.1:8000/v1",
            )
        if audio_format not in _MIME:
            raise UsageError(f"unknown upload format {audio_format!r}", "use 'flac' or 'wav'")
        self.api_base = base
        self.model = model
        self.max_upload_bytes = int(max_upload_bytes)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.retry = RetryPolicy(
            self.max_retries, RETRY_BACKOFF, RETRY_MAX_BACKOFF, RETRY_MAX_AFTER
        )
        self.audio_format: AudioFormat = audio_format
        self._client = remote.make_client(base, api_key, self.timeout)
        self._hints = remote.Hints(
            key="check VIDPIPE_API_KEY" if api_key else "set VIDPIPE_API_KEY (or OPENAI_API_KEY)",
            not_found="check --api-base: it usually ends in /v1, e.g. http://127.0.0.1:8000/v1",
            retries="check that the server is not overloaded, or raise the timeout",
            connect="check --api-base (VIDPIPE_API_BASE) and that the server is running",
        )
        self._warned_no_words = False

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> OpenAIEngine:
        """Build an engine from :class:`vidpipe.config.Settings` (``VIDPIPE_API_*``) the
        caller resolved (a front end: :func:`vidpipe.config.get_settings`).

        ``overrides`` (``api_base``, ``model``, ``max_upload_bytes``...) win over settings.

        Raises:
            UsageError: no API base URL is configured.
        """
        kwargs: dict[str, Any] = {
            "api_base": settings.api_base,
            "api_key": settings.api_key,
            "model": settings.api_model,
            "max_upload_bytes": settings.max_upload_bytes,
        }
        kwargs.update({k: v for k, v in overrides.items() if v is not None})
        if not kwargs["api_base"]:
            raise UsageError(
                "the openai engine needs an API base URL",
                "pass --api-base or set VIDPIPE_API_BASE, e.g. http://127.0.0.1:8000/v1",
            )
        return cls(**kwargs)

    def __repr__(self) -> str:
        return f"OpenAIEngine(api_base={self.api_base!r}, model={self.model!r})"

    # ------------------------------------------------------------------ planning

    def plan_uploads(
        self, audio: np.ndarray, options: TranscribeOptions | None = None
    ) -> list[tuple[int, int]]:
        """The ``(start, end)`` sample ranges :meth:`transcribe` would upload, in order.

        One range covering everything when the encoded audio fits in
        :func:`upload_budget`; otherwise ranges cut at silences, each of which
        encodes to at most the budget. Nothing is sent.
        """
        audio = _check_audio(audio)
        return [(s, e) for s, e, _ in self._plan(audio, options or TranscribeOptions())]

    def _plan(self, audio: np.ndarray, options: TranscribeOptions) -> list[tuple[int, int, bytes]]:
        budget = upload_budget(self.max_upload_bytes, options)
        header = len(encode_audio(np.zeros(0, np.float32), SAMPLE_RATE, self.audio_format))
        if budget - header < MIN_PIECE_SECONDS * SAMPLE_RATE * 0.5:
            # quick check: FLAC takes about 1.1 byte/sample on speech (0.5 on quiet
            # audio), WAV exactly 2; _split() checks against the real rate
            raise UsageError(
                f"an upload limit of {self.max_upload_bytes} bytes is too small for audio",
                "raise VIDPIPE_MAX_UPLOAD_BYTES (OpenAI accepts 25 MB)",
            )
        data = encode_audio(audio, SAMPLE_RATE, self.audio_format)
        if len(data) <= budget:
            return [(0, len(audio), data)]
        silences = find_silences(audio, SAMPLE_RATE)
        log.info(
            "audio encodes to %d bytes, over the %d-byte budget: splitting at silences",
            len(data),
            budget,
        )
        return self._split(audio, 0, len(audio), len(data), budget, header, silences)

    def _split(
        self,
        audio: np.ndarray,
        start: int,
        end: int,
        size: int,
        budget: int,
        header: int,
        silences: list[tuple[float, float]],
    ) -> list[tuple[int, int, bytes]]:
        """Cut ``audio[start:end]`` (which encodes to ``size`` > ``budget`` bytes)."""
        per_sample = max(size - header, 1) / (end - start)
        max_samples = int((budget - header) / per_sample * 0.95)
        if max_samples < MIN_PIECE_SECONDS * SAMPLE_RATE:
            raise UsageError(
                f"an upload limit of {self.max_upload_bytes} bytes holds less than "
                f"{MIN_PIECE_SECONDS:g} s of this audio",
                "raise VIDPIPE_MAX_UPLOAD_BYTES (OpenAI accepts 25 MB)",
            )
        offset = start / SAMPLE_RATE
        local = [(s - offset, e - offset) for s, e in silences]
        cuts = split_points(audio[start:end], SAMPLE_RATE, max_samples, silences=local)
        bounds = [start, *(start + c for c in cuts), end]
        pieces: list[tuple[int, int, bytes]] = []
        for a, b in itertools.pairwise(bounds):
            data = encode_audio(audio[a:b], SAMPLE_RATE, self.audio_format)
            if len(data) <= budget:
                pieces.append((a, b, data))
            else:  # this stretch compresses worse than the average: cut it again
                pieces.extend(self._split(audio, a, b, len(data), budget, header, silences))
        return pieces

    # ------------------------------------------------------------------ transcription

    def transcribe(
        self,
        audio: np.ndarray,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        """Transcribe 16 kHz mono float32 audio through the remote endpoint.

        Args:
            audio: 1-D samples at :data:`~vidpipe.speech.engine.SAMPLE_RATE` Hz in [-1, 1].
            options: ``language`` (sent when given, transcribe only), ``task``,
                ``word_timestamps`` (asks for ``timestamp_granularities[]=word``),
                ``initial_prompt`` (sent as ``prompt`` with every piece),
                ``temperature`` (a fallback schedule starting at 0, like the default,
                is not sent, which leaves the server's own fallback on: OpenAI's
                default is 0 with automatic fallback, and faster-whisper-server
                would pin a sent value and turn faster-whisper's fallback off; a
                single value, or a schedule starting above 0, sends its first value) and
                ``condition_on_previous_text`` (sends the previous piece's last
                :data:`PREVIOUS_TEXT_CHARS` characters as the prompt). VAD, beam and
                batch sizes and the thresholds are the server's business.
            progress: called as ``progress(seconds_done, seconds_total)`` after each
                uploaded piece.

        Returns:
            A Transcript with ``engine="openai"``, ``model`` the remote model name,
            times in seconds from the start of ``audio``, ``duration`` the length of
            ``audio``; ``language_probability`` is ``None`` (the API does not report it).

        Raises:
            RemoteError: connection refused or failing, timeout after the retries,
                an HTTP error status (401 key, 413 too large...), or a response that
                is not the expected JSON.
            UsageError: ``max_upload_bytes`` cannot hold a second of audio.
        """
        audio = _check_audio(audio)
        total = len(audio) / SAMPLE_RATE
        if len(audio) == 0:
            return self._finish(Transcript(duration=0.0), options)

        pieces = self._plan(audio, options)
        results: list[tuple[float, float, Transcript]] = []
        previous_text = ""
        for index, (start, end, data) in enumerate(pieces):
            offset, length = start / SAMPLE_RATE, (end - start) / SAMPLE_RATE
            where = ""
            if len(pieces) > 1:
                span = f"{offset:.1f}-{offset + length:.1f} s"
                where = f" (piece {index + 1} of {len(pieces)}, {span})"
            prompt = options.initial_prompt
            if options.condition_on_previous_text and previous_text:
                prompt = previous_text[-PREVIOUS_TEXT_CHARS:]
            payload = self._request(data, options, prompt, where)
            piece = response_to_transcript(
                payload, length, word_timestamps=options.word_timestamps, url=self._url(options)
            )
            if options.word_timestamps and piece.segments and not piece.words:
                self._warn_no_words()
            previous_text = piece.text
            results.append((offset, length, piece))
            if progress is not None:
                progress(end / SAMPLE_RATE, total)
        return self._finish(stitch_transcripts(results, total), options)

    def _finish(self, transcript: Transcript, options: TranscribeOptions) -> Transcript:
        return transcript.model_copy(
            update={"engine": self.name, "model": self.model, "task": options.task}
        )

    def _url(self, options: TranscribeOptions) -> str:
        endpoint = "translations" if options.task == "translate" else "transcriptions"
        return f"{self.api_base}/audio/{endpoint}"

    def _request(
        self, data: bytes, options: TranscribeOptions, prompt: str | None, where: str
    ) -> object:
        """POST one encoded piece; return the decoded JSON body."""
        url = self._url(options)
        kwargs: dict[str, Any] = {
            "file": (f"audio.{self.audio_format}", data, _MIME[self.audio_format]),
            "model": self.model,
            "response_format": "verbose_json",
            "extra_body": {"model_name": self.model},
        }
        if prompt:
            kwargs["prompt"] = prompt
        temperature = _temperature(options.temperature)
        if temperature is not None:
            kwargs["temperature"] = temperature
        body = remote.call(
            lambda: self._send(kwargs, options),
            where=f"{url}{where}",
            policy=self.retry,
            timeout=self.timeout,
            hints=self._hints,
            on_status=lambda f: self._status_error(f, url, len(data), where),
        )
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RemoteError(
                f"{url} answered with malformed JSON{where}: {_excerpt(body)}",
                "check that --api-base points at an OpenAI-compatible /v1 endpoint",
            ) from exc

    def _send(self, kwargs: dict[str, Any], options: TranscribeOptions) -> bytes:
        """One attempt: the raw response body of the transcription or translation."""
        if options.task == "translate":
            # openai>=2 marks translations deprecated (OpenAI serves it for whisper-1
            # only); local servers still implement it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                raw = self._client.audio.translations.with_raw_response.create(**kwargs)
        else:
            if options.language:
                kwargs["language"] = options.language
            kwargs["timestamp_granularities"] = (
                ["segment", "word"] if options.word_timestamps else ["segment"]
            )
            raw = self._client.audio.transcriptions.with_raw_response.create(**kwargs)
        return raw.http_response.content

    def _status_error(
        self, failure: remote.Failure, url: str, size: int, where: str
    ) -> RemoteError | None:
        """The engine's own message for a final HTTP status (413: the upload limits)."""
        if failure.status == 413:
            said = f": {failure.said}" if failure.said else ""
            return RemoteError(
                f"{url} rejected an upload of {size} bytes as too large (HTTP 413){where}; "
                f"vidpipe's upload limit is {self.max_upload_bytes} bytes{said}",
                "lower VIDPIPE_MAX_UPLOAD_BYTES below the server's limit",
            )
        return None

    def _warn_no_words(self) -> None:
        if not self._warned_no_words:
            self._warned_no_words = True
            log.warning(
                "%s returned no word timestamps; segments have no words",
                self.api_base,
            )


# ---------------------------------------------------------------------- helpers


def _check_audio(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"audio must be 1-D mono samples, got shape {audio.shape}")
    return audio.astype(np.float32, copy=False)


def _temperature(schedule: tuple[float, ...]) -> float | None:
    """The temperature form value for a fallback schedule, or None to send none."""
    if not schedule or (len(schedule) > 1 and schedule[0] == 0.0):
        return None
    return float(schedule[0])


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _words(raw: object, duration: float) -> list[Word] | None:
    if not isinstance(raw, list):
        return None
    words = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        start, end = _number(item.get("start")), _number(item.get("end"))
        text = item.get("word")
        if start is None or end is None or not isinstance(text, str):
            continue
        start = min(max(start, 0.0), duration)
        prob = _number(item.get("probability"))
        words.append(
            Word(
                start=start,
                end=min(max(end, start), duration),
                word=text,
                probability=1.0 if prob is None else min(max(prob, 0.0), 1.0),
            )
        )
    return words


def _assign_words(segments: list[Segment], words: list[Word]) -> None:
    """Give each top-level word to the last segment starting at or before its midpoint."""
    buckets: list[list[Word]] = [[] for _ in segments]
    starts = [s.start for s in segments]
    for word in words:
        mid = (word.start + word.end) / 2
        index = max(0, int(np.searchsorted(starts, mid, side="right")) - 1)
        buckets[index].append(word)
    for seg, bucket in zip(segments, buckets, strict=True):
        seg.words = bucket


def _space_words(segments: list[Segment], language: str | None) -> None:
    """Whisper's words carry their leading space; OpenAI's do not. Restore it."""
    words = [w for s in segments for w in (s.words or [])]
    if not words or language in _UNSPACED_LANGUAGES:
        return
    if any(w.word[:1].isspace() for w in words):
        return
    for w in words:
        w.word = " " + w.word


def _excerpt(value: object, limit: int = 120) -> str:
    return excerpt(value, limit, "(empty body)")
