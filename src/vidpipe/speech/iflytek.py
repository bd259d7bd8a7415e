"""The iFLYTEK engine: iFLYTEK's long-form speech recognition (LFASR, 录音文件转写), API v2.

A widely copied video-to-text recipe converts a video to mp3 with MoviePy and sends it
to this service. vidpipe does the same through its own decoder and PyAV: the 16 kHz
mono audio is encoded in memory (FLAC by default) and sent to the current, documented
HTTP protocol (not the older v1 slice protocol ``prepare/upload/merge/getProgress/
getResult``):

1. ``POST {base}/upload?appId&signa&ts&fileName&fileSize&duration[&language]`` with the
   audio bytes as the body answers ``{"code": "000000", "content": {"orderId",
   "taskEstimateTime"}}``.
2. ``GET {base}/getResult?appId&signa&ts&orderId&resultType=transfer`` is polled with
   exponential backoff until ``content.orderInfo.status`` is 4 (done) or -1 (failed,
   with ``failType``); 0 (created) and 3 (processing) mean wait.
3. ``content.orderResult`` is a JSON string; its ``lattice`` list holds one sentence
   per item, ``json_1best`` (a JSON string) -> ``st`` with ``bg``/``ed`` (sentence start
   and end, milliseconds, as strings) and ``rt[].ws[]``: one word each, ``wb``/``we``
   its start and end in 10 ms frames relative to ``bg`` (Chinese and English only),
   ``cw[0].w`` the text, ``cw[0].wp`` its kind (``n`` word, ``s`` smoothed word,
   ``p`` punctuation, ``g`` paragraph mark) and ``cw[0].wc`` a confidence.

Signing: ``signa = Base64(HmacSHA1(key=secretKey, msg=hex(MD5(appId + ts))))`` with
``ts`` the Unix time in seconds; vidpipe signs every request afresh.

Sources (read 2026-12): the API page https://www.xfyun.cn/doc/asr/ifasr_new/API.html
(via a Markdown copy of it in a public repository: endpoints, parameters, the signa
worked example ``appId=595f23df, ts=1512041814 -> IrrzsJeOFk1NGfJHW6SkHUoN9CU=``, the
status, failType and error-code tables, limits of 500 MB, 5 hours and 100 result
queries per order), iFLYTEK's Python demo ``Ifasr_new.py`` (copies in
caitongbo/Speech-to-Text and juliazhuzhu/lfasr_new_python: query-string parameters,
raw body, ``orderResult`` parsing) and violetpupil's Go client (``wb``/``we`` in 10 ms
frames relative to ``bg``; ``duration`` in milliseconds).

Not confirmed against the real service (it cannot be reached from here): the unit of
``duration`` (milliseconds per the Go client and the doc's example where
``duration=200`` comes back as ``originalDuration: 200`` ms; the doc says the value is
not verified), which error code a stale ``ts`` gets (the test server answers 26601),
whether the server cares about the body's ``Content-Type`` (the doc asks for
``application/octet-stream`` in stream mode, the demo sends ``application/json``;
vidpipe sends the former), how English words are spaced in ``cw.w`` (vidpipe puts a
space between two Latin tokens unless one is already there) and whether ``rt`` can hold
more than one entry without ``candidate=1`` (vidpipe reads all, like the demo).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import httpx
import numpy as np

from vidpipe.errors import RemoteError, UsageError, excerpt
from vidpipe.speech.engine import (
    SAMPLE_RATE,
    ProgressCallback,
    TranscribeOptions,
    enforce_monotonic,
    split_sentences,
)
from vidpipe.speech.remote import encode_audio
from vidpipe.types import Segment, Transcript, Word

if TYPE_CHECKING:
    from vidpipe.config import Settings

log = logging.getLogger(__name__)

DEFAULT_BASE = "https://raasr.xfyun.cn/v2/api"
"""The service's documented base URL (``/upload`` and ``/getResult`` below it)."""

MAX_UPLOAD_BYTES = 500 * 1024 * 1024
"""Documented file limit: 500 MB (error codes 26621/26631)."""

MAX_DURATION_SECONDS = 5 * 3600.0
"""Documented audio limit: 5 hours (error codes 26622/26632, failType 4)."""

MAX_RESULT_QUERIES = 100
"""Documented: getResult may be called at most 100 times per order (error 26604)."""

DEFAULT_TIMEOUT = 5 * 3600.0
"""Overall seconds to wait for one order: the service's SLA promises results within 5 hours."""

DEFAULT_POLL_INTERVAL = 2.0
"""First wait (seconds) between the upload and the first result query."""

DEFAULT_POLL_MAX = 120.0
"""Longest wait (seconds) between two queries before the 100-query budget stretches it."""

POLL_FACTOR = 2.0
"""Each wait is this many times the previous one, up to the cap (exponential backoff)."""

OK = "000000"
"""The ``code`` of a successful answer."""

ERROR_CODES: dict[str, tuple[str, str]] = {
    "26600": ("general transcription error", "check the request parameters"),
    "26601": (
        "illegal application info: the app id, timestamp or signature was refused",
        "check VIDPIPE_IFLYTEK_APPID, VIDPIPE_IFLYTEK_SECRET (the LFASR SecretKey) "
        "and this machine's clock",
    ),
    "26602": (
        "order id does not exist",
        "orders expire 72 hours after they finish; transcribe again",
    ),
    "26603": ("request rate limited", "wait a little and try again"),
    "26604": (
        "result queried more than 100 times for this order",
        "transcribe again, or raise VIDPIPE_IFLYTEK_POLL_INTERVAL",
    ),
    "26605": ("order still processing", "try again later"),
    "26606": ("empty audio", "check that the file has sound"),
    "26607": (
        "language not authorised for this app, or expired",
        "add the language in the iFLYTEK console (语音转写 -> 方言/语种), "
        "or pass another --language",
    ),
    "26610": ("invalid request parameter", "check --language and the upload parameters"),
    "26621": ("file larger than 500 MB", "cut the recording into shorter files"),
    "26622": ("audio longer than 5 hours", "cut the recording into shorter files"),
    "26623": ("audio format not supported", "report this: vidpipe uploads FLAC"),
    "26625": (
        "not enough service hours left on the account",
        "buy or claim hours at https://www.xfyun.cn/services/lfasr",
    ),
    "26631": ("file larger than 500 MB", "cut the recording into shorter files"),
    "26632": ("audio longer than 5 hours", "cut the recording into shorter files"),
    "26633": (
        "not enough service hours left on the account",
        "buy or claim hours at https://www.xfyun.cn/services/lfasr",
    ),
    "26634": ("file download failed", "try again"),
    "26635": ("file length check failed: fileSize differs from the body", "try again"),
    "26640": ("file upload failed", "try again"),
    "26641": ("too many upload slices", "try again"),
    "26642": ("slice merge failed", "try again"),
    "26643": (
        "cannot compute the audio duration: encrypted or damaged audio",
        "check that the file plays",
    ),
    "26650": ("audio conversion failed: encrypted or damaged audio", "check that the file plays"),
    "26660": ("billing failed", "check the account in the iFLYTEK console"),
    "26670": ("result parsing failed on the service", "try again"),
    "26671": ("downloading the result failed on the service", "try again"),
    "26680": ("recognition engine error", "try again later"),
    "26681": ("engine could not fetch the order", "try again later"),
    "26682": ("engine still processing the order", "try again later"),
    "26689": ("engine network error", "try again later"),
}
"""Documented error codes -> (meaning, what to do). Unknown codes are reported as is."""

RETRY_CODES = frozenset({"26603", "26605", "26682"})
"""Codes answered to getResult that mean "not yet": vidpipe keeps polling (with backoff)."""

FAIL_TYPES: dict[int, str] = {
    0: "no failure",
    1: "audio upload failed",
    2: "audio transcoding failed",
    3: "audio recognition failed",
    4: "audio longer than the 5-hour limit",
    5: "audio check failed: the duration parameter does not match the audio",
    6: "silent audio",
    7: "translation failed",
    8: "account has no translation permission",
    9: "quality inspection failed",
    10: "quality inspection matched no keywords",
    11: "translation or quality inspection not enabled",
    99: "other failure",
}
"""Documented ``orderInfo.failType`` values of a failed order (status -1)."""

SILENT_FAIL_TYPE = 6
"""A failed order with this failType is silent audio: vidpipe returns an empty transcript."""

STATUS_NAMES = {0: "created", 3: "processing", 4: "done", -1: "failed"}
"""Documented ``orderInfo.status`` values."""

LANGUAGES: dict[str, str] = {
    "zh": "cn", "en": "en", "ja": "ja", "ko": "ko", "ru": "ru", "fr": "fr", "es": "es",
    "vi": "vi", "ar": "ar", "de": "de", "it": "it", "pt": "pt", "th": "th", "hi": "hi",
    "yue": "cn_cantonese", "ug": "cn_uyghur", "bo": "cn_tibetan",
}  # fmt: skip
"""ISO 639-1 code -> the service's ``language`` value (the doc's language table plus the
pt/th/hi of its multilingual note). Its own codes (``cn_xinanese``, ``cn_henanese``...)
are accepted as they are. Without a language the service uses ``cn`` (Mandarin with
English mixed in)."""

_ISO_BY_SERVICE = {v: k for k, v in LANGUAGES.items()}

AudioFormat = Literal["flac", "wav"]


class IflytekError(RemoteError):
    """The service refused a request or failed an order.

    Attributes:
        code: the service's ``code`` (e.g. ``"26601"``), or ``None`` for a failed order.
        fail_type: ``orderInfo.failType`` of a failed order, else ``None``.
        order_id: the order concerned, when there is one.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        code: str | None = None,
        fail_type: int | None = None,
        order_id: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.code = code
        self.fail_type = fail_type
        self.order_id = order_id


def signa(app_id: str, secret: str, ts: str) -> str:
    """The request signature: ``Base64(HmacSHA1(secret, hex(MD5(app_id + ts))))``.

    Args:
        app_id: the application id (``appId``).
        secret: the LFASR service's SecretKey.
        ts: Unix time in whole seconds, as sent in ``ts``.

    Returns:
        The base64 text sent as ``signa`` (28 characters). The documented example
        ``signa("595f23df", "d9f4aa7ea6d94faca62cd88a28fd5234", "1512041814")`` is
        ``"IrrzsJeOFk1NGfJHW6SkHUoN9CU="``.
    """
    md5_hex = hashlib.md5((app_id + ts).encode("utf-8")).hexdigest()
    mac = hmac.new(secret.encode("utf-8"), md5_hex.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def service_language(language: str | None) -> str | None:
    """Map an ISO 639-1 code to the service's ``language`` parameter.

    Returns:
        ``None`` for ``None`` (the service's default ``cn``), the mapped value, or the
        value itself when it already is one of the service's codes.

    Raises:
        UsageError: a language the service does not document.
    """
    if not language:
        return None
    code = language.strip().lower()
    if code in LANGUAGES:
        return LANGUAGES[code]
    if code in _ISO_BY_SERVICE or code.startswith("cn_"):
        return code
    raise UsageError(
        f"the iflytek engine does not support language '{language}'",
        f"use one of: {', '.join(LANGUAGES)}, or auto",
    )


def order_result_to_segments(
    order_result: object, *, duration: float, word_timestamps: bool = True
) -> list[Segment]:
    """Turn ``content.orderResult`` into segments with times in seconds.

    Args:
        order_result: the JSON string (or already decoded object) of a finished order.
        duration: audio length in seconds; times are clipped to ``[0, duration]``.
        word_timestamps: keep per-word times (``wb``/``we``, 10 ms frames after the
            sentence's ``bg``); a sentence without them gets ``words=None``.

    Returns:
        One segment per ``lattice`` sentence that has text, in time order, ids from 0.
        An empty result (``""``) gives no segments. Punctuation (``wp == "p"``) is
        attached to the previous word; paragraph marks (``g``) are dropped; a word
        starting with a Latin letter or digit gets Whisper's leading space unless it
        follows CJK text, which stays unspaced. A word's probability is ``cw[0].wc``
        when it is a number.

    Raises:
        RemoteError: the result is not the documented JSON shape.
    """
    if isinstance(order_result, str) and not order_result.strip():
        return []
    data = _json_value(order_result, "orderResult")
    lattice = data.get("lattice") if isinstance(data, Mapping) else None
    if lattice is None:
        lattice = data.get("lattice2") if isinstance(data, Mapping) else None
    if not isinstance(lattice, list):
        raise RemoteError(
            f"iFLYTEK returned a result without a 'lattice' list: {_excerpt(order_result)}"
        )
    segments: list[Segment] = []
    for item in lattice:
        best = _json_value(
            item.get("json_1best") if isinstance(item, Mapping) else None, "json_1best"
        )
        st = best.get("st") if isinstance(best, Mapping) else None
        if not isinstance(st, Mapping):
            raise RemoteError(f"iFLYTEK returned a sentence without 'st': {_excerpt(item)}")
        bg, ed = _number(st.get("bg")), _number(st.get("ed"))
        if bg is None or ed is None:
            raise RemoteError(f"iFLYTEK returned a sentence without bg/ed times: {_excerpt(st)}")
        start = min(max(bg / 1000.0, 0.0), duration)
        end = min(max(ed / 1000.0, start), duration)
        tokens: list[list[Any]] = []  # [text, start, end, probability, timed]
        for rt in st.get("rt") or []:
            for ws in (rt.get("ws") or []) if isinstance(rt, Mapping) else []:
                if not isinstance(ws, Mapping) or not ws.get("cw"):
                    continue
                cw = ws["cw"][0] if isinstance(ws["cw"], list) else None
                if not isinstance(cw, Mapping):
                    continue
                text = str(cw.get("w") or "")
                kind = cw.get("wp", "n")
                if kind == "g" or not text:
                    continue
                if kind == "p":
                    if tokens:
                        tokens[-1][0] += text
                    else:
                        tokens.append([text, start, start, 1.0, False])
                    continue
                wb, we = _number(ws.get("wb")), _number(ws.get("we"))
                timed = wb is not None and we is not None
                w_start = start + (wb or 0.0) / 100.0
                w_end = start + (we or 0.0) / 100.0
                prob = _number(cw.get("wc"))
                tokens.append([text, w_start, w_end, 1.0 if prob is None else prob, timed])
        if not tokens:
            continue
        pieces = _spaced([t[0] for t in tokens])
        words = None
        if word_timestamps and all(t[4] for t in tokens if t[0].strip()):
            words = []
            for piece, (_, w_start, w_end, prob, _) in zip(pieces, tokens, strict=True):
                w_start = min(max(w_start, start), end)
                words.append(
                    Word(
                        start=w_start,
                        end=min(max(w_end, w_start), end),
                        word=piece,
                        probability=min(max(prob, 0.0), 1.0),
                    )
                )
        segments.append(
            Segment(
                id=len(segments), start=start, end=end, text="".join(pieces).strip(), words=words
            )
        )
    segments.sort(key=lambda s: (s.start, s.end))
    return [s.model_copy(update={"id": i}) for i, s in enumerate(segments)]


class IflytekEngine:
    """ASR through iFLYTEK's long-form transcription service (``name = "iflytek"``).

    Args:
        app_id: the application id (``VIDPIPE_IFLYTEK_APPID``).
        secret: the LFASR SecretKey of that application (``VIDPIPE_IFLYTEK_SECRET``).
        base_url: ``{base}/upload`` and ``{base}/getResult`` live below it; default
            :data:`DEFAULT_BASE` (tests point it at a local server).
        timeout: overall seconds to wait for a result after the upload (default
            :data:`DEFAULT_TIMEOUT`, 5 hours, the service's SLA).
        poll_interval: first wait in seconds before querying the result (default 2);
            each later wait is :data:`POLL_FACTOR` times longer, capped at ``poll_max``
            (default 120 s), and stretched when needed so that the
            :data:`MAX_RESULT_QUERIES` allowed queries last until ``timeout``.
        request_timeout: seconds allowed for one HTTP request (the upload included).
        max_upload_bytes: refuse larger encoded audio before sending (default 500 MB).
        audio_format: ``"flac"`` (default; lossless, about 18 kB/s of speech) or
            ``"wav"`` (16-bit PCM, 32 kB/s).
        transport: an ``httpx`` transport (default: HTTP with 2 connection retries).

    Raises:
        UsageError: missing app id or secret, a base URL that is not http(s), or a bad value.
    """

    name = "iflytek"
    model = "lfasr-v2"

    def __init__(
        self,
        app_id: str,
        secret: str,
        base_url: str = DEFAULT_BASE,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        poll_max: float = DEFAULT_POLL_MAX,
        request_timeout: float = 600.0,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        audio_format: AudioFormat = "flac",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not app_id or not secret:
            missing = " and ".join(
                n
                for n, v in (("VIDPIPE_IFLYTEK_APPID", app_id), ("VIDPIPE_IFLYTEK_SECRET", secret))
                if not v
            )
            raise UsageError(
                "the iflytek engine needs an app id and a secret key",
                f"set {missing} (app id and LFASR SecretKey from the iFLYTEK console)",
            )
        base = (base_url or "").strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise UsageError(
                f"invalid iFLYTEK base URL {base_url!r}",
                f"set VIDPIPE_IFLYTEK_BASE to an http(s) URL such as {DEFAULT_BASE}",
            )
        if audio_format not in ("flac", "wav"):
            raise UsageError(f"unknown upload format {audio_format!r}", "use 'flac' or 'wav'")
        for label, value in (
            ("timeout", timeout),
            ("poll interval", poll_interval),
            ("poll maximum", poll_max),
            ("request timeout", request_timeout),
        ):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise UsageError(
                    f"invalid iflytek {label} {value!r}", "use a positive number of seconds"
                )
        self.app_id = app_id
        self._secret = secret
        self.base_url = base
        self.timeout = float(timeout)
        self.poll_interval = float(poll_interval)
        self.poll_max = max(float(poll_max), self.poll_interval)
        self.request_timeout = float(request_timeout)
        self.max_upload_bytes = int(max_upload_bytes)
        self.audio_format: AudioFormat = audio_format
        self._client = httpx.Client(
            base_url=base,
            timeout=self.request_timeout,
            transport=transport or httpx.HTTPTransport(retries=2),
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> IflytekEngine:
        """Build an engine from :class:`vidpipe.config.Settings` (``VIDPIPE_IFLYTEK_*``)
        the caller resolved (a front end: :func:`vidpipe.config.get_settings`).

        ``overrides`` (``base_url``, ``timeout``, ``max_upload_bytes``...) that are not
        ``None`` win over the settings.

        Raises:
            UsageError: the app id or secret is not configured.
        """
        kwargs: dict[str, Any] = {
            "app_id": settings.iflytek_appid or "",
            "secret": settings.iflytek_secret or "",
            "base_url": settings.iflytek_base,
            "timeout": settings.iflytek_timeout,
            "poll_interval": settings.iflytek_poll_interval,
            "poll_max": settings.iflytek_poll_max,
        }
        kwargs.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kwargs)

    def __repr__(self) -> str:
        return f"IflytekEngine(base_url={self.base_url!r}, app_id={self.app_id!r})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    # ------------------------------------------------------------------ transcription

    def transcribe(
        self,
        audio: np.ndarray,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        """Upload 16 kHz mono float32 audio, wait for the order, return its transcript.

        Args:
            audio: 1-D samples at :data:`~vidpipe.speech.engine.SAMPLE_RATE` Hz in [-1, 1].
            options: ``language`` (mapped by :func:`service_language`; ``None`` lets
                the service use ``cn``), ``word_timestamps`` (keep ``wb``/``we`` word
                times) and ``sentence_segments`` (split long sentences at pauses and
                punctuation by word times, as for the other engines). VAD, beams,
                prompts and temperatures are the service's business; ``task`` must be
                ``"transcribe"``.
            progress: called as ``progress(0, total)`` after the upload and
                ``progress(total, total)`` when the result is in (audio seconds).

        Returns:
            A Transcript with ``engine="iflytek"``, ``model="lfasr-v2"``, segment and
            word times in seconds from the start of ``audio``, ``duration`` the audio
            length, ``language`` the requested one (``None`` when not given).

        Raises:
            UsageError: ``task="translate"``, an unsupported language, or audio over
                the limits (5 hours, ``max_upload_bytes`` once encoded).
            IflytekError: the service refused the upload or a query (with its code
                and a hint), the order failed (with its failType), or no result came
                within ``timeout``.
            RemoteError: connection failure, an HTTP error status or malformed JSON.
        """
        if options.task != "transcribe":
            raise UsageError(
                "the iflytek engine cannot translate",
                "use --task transcribe, or the faster-whisper or openai engine",
            )
        language = service_language(options.language)
        audio = np.asarray(audio)
        if audio.ndim != 1:
            raise ValueError(f"audio must be 1-D mono samples, got shape {audio.shape}")
        total = len(audio) / SAMPLE_RATE
        if total > MAX_DURATION_SECONDS:
            raise UsageError(
                f"the audio is {total / 3600:.2f} h long; "
                "iFLYTEK LFASR accepts at most 5 h per file",
                "cut the recording into shorter files, or use another --engine",
            )
        result = Transcript(duration=total, language=_iso_language(options.language))
        if len(audio) == 0:
            return self._finish(result)
        data = encode_audio(audio.astype(np.float32, copy=False), SAMPLE_RATE, self.audio_format)
        if len(data) > self.max_upload_bytes:
            raise UsageError(
                f"the encoded audio is {len(data) / 1e6:.1f} MB; the iflytek upload limit is "
                f"{self.max_upload_bytes / 1e6:.1f} MB",
                "cut the recording into shorter files",
            )
        order_id = self.upload(data, duration_ms=round(total * 1000), language=language)
        if progress is not None:
            progress(0.0, total)
        order_result = self.wait(order_id)
        if order_result is not None:
            segments = order_result_to_segments(order_result, duration=total)
            if options.sentence_segments:
                segments = [part for seg in segments for part in split_sentences(seg, True)]
            if not options.word_timestamps:
                segments = [s.model_copy(update={"words": None}) for s in segments]
            result.segments = enforce_monotonic(segments, total)
        if progress is not None:
            progress(total, total)
        return self._finish(result)

    def _finish(self, transcript: Transcript) -> Transcript:
        return transcript.model_copy(
            update={"engine": self.name, "model": self.model, "task": "transcribe"}
        )

    # ------------------------------------------------------------------ protocol

    def _signed(self, **params: Any) -> dict[str, str]:
        ts = str(int(time.time()))
        out = {"appId": self.app_id, "signa": signa(self.app_id, self._secret, ts), "ts": ts}
        out.update({k: str(v) for k, v in params.items() if v is not None})
        return out

    def upload(
        self,
        data: bytes,
        *,
        duration_ms: int,
        language: str | None = None,
        file_name: str | None = None,
    ) -> str:
        """Create an order: ``POST {base}/upload`` with the audio file as the body.

        Args:
            data: a complete audio file (any format the service lists; vidpipe sends FLAC).
            duration_ms: the audio's length in milliseconds (``duration``).
            language: the service's ``language`` value, or ``None`` for its default.
            file_name: sent as ``fileName`` (the extension tells the service the
                format); default ``audio.<audio_format>``.

        Returns:
            The ``orderId``.

        Raises:
            IflytekError: the service answered an error code.
            RemoteError: connection failure, HTTP error status, malformed JSON.
        """
        params = self._signed(
            fileName=file_name or f"audio.{self.audio_format}",
            fileSize=len(data),
            duration=int(duration_ms),
            language=language,
        )
        body = self._request(
            "POST",
            "/upload",
            params=params,
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        content = body.get("content")
        order_id = content.get("orderId") if isinstance(content, Mapping) else None
        if not isinstance(order_id, str) or not order_id:
            raise RemoteError(
                f"iFLYTEK upload answered without an orderId: {_excerpt(json.dumps(body))}"
            )
        log.info(
            "iFLYTEK order %s created (estimate %s ms)", order_id, content.get("taskEstimateTime")
        )
        return order_id

    def get_result(self, order_id: str) -> dict[str, Any]:
        """One ``GET {base}/getResult?orderId=...&resultType=transfer``; the ``content``.

        Raises:
            IflytekError: the service answered an error code (``code`` attribute set).
            RemoteError: connection failure, HTTP error status, malformed JSON.
        """
        params = self._signed(orderId=order_id, resultType="transfer")
        body = self._request("GET", "/getResult", params=params, order_id=order_id)
        content = body.get("content")
        if not isinstance(content, Mapping) or not isinstance(content.get("orderInfo"), Mapping):
            raise RemoteError(
                "iFLYTEK getResult answered without content.orderInfo: "
                f"{_excerpt(json.dumps(body))}"
            )
        return dict(content)

    def wait(self, order_id: str) -> str | None:
        """Poll an order with capped exponential backoff until it is done.

        The first query comes ``poll_interval`` seconds after the call; each wait is
        :data:`POLL_FACTOR` times the previous one up to ``poll_max``; once at the
        cap, a wait is stretched to the time left divided by the queries left of the
        :data:`MAX_RESULT_QUERIES` budget when that is longer (so the budget lasts
        until ``timeout``).
        Answers 26603 (rate limited), 26605 and 26682 (still processing) count as
        "not yet".

        Returns:
            ``content.orderResult`` of the finished order, or ``None`` for silent audio
            (a failed order with failType 6).

        Raises:
            IflytekError: the order failed (failType and its meaning in the message),
                another error code, or ``timeout`` seconds passed (order id named).
        """
        deadline = time.monotonic() + self.timeout
        wait = self.poll_interval
        queries = 0
        last = "not queried yet"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            step = wait
            if wait >= self.poll_max:  # keep the query budget for the whole timeout
                step = max(wait, left / max(MAX_RESULT_QUERIES - queries, 1))
            time.sleep(min(step, left))
            queries += 1
            try:
                content = self.get_result(order_id)
            except IflytekError as exc:
                if exc.code in RETRY_CODES and time.monotonic() < deadline:
                    last = f"code {exc.code}"
                    wait = min(wait * POLL_FACTOR, self.poll_max)
                    continue
                raise
            info = content["orderInfo"]
            status = info.get("status")
            if status == 4:
                return str(content.get("orderResult") or "")
            if status == -1:
                fail_type = info.get("failType")
                if fail_type == SILENT_FAIL_TYPE:
                    log.warning("iFLYTEK order %s: silent audio, no speech", order_id)
                    return None
                meaning = (
                    FAIL_TYPES.get(fail_type, "unknown failType")
                    if isinstance(fail_type, int)
                    else "no failType"
                )
                raise IflytekError(
                    f"iFLYTEK order {order_id} failed: failType {fail_type} ({meaning})",
                    _FAIL_HINTS.get(fail_type, "try again later"),
                    fail_type=fail_type if isinstance(fail_type, int) else None,
                    order_id=order_id,
                )
            last = f"status {status} ({STATUS_NAMES.get(status, 'unknown')})"
            wait = min(wait * POLL_FACTOR, self.poll_max)
        raise IflytekError(
            f"iFLYTEK order {order_id} had no result after {self.timeout:g} s "
            f"({queries} queries, last {last})",
            "raise VIDPIPE_IFLYTEK_TIMEOUT; busy hours can take up to 5 h",
            order_id=order_id,
        )

    def _request(
        self, method: str, path: str, *, order_id: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RemoteError(
                f"{url} did not answer within {self.request_timeout:g} s",
                "check the network, or try again later",
            ) from exc
        except httpx.HTTPError as exc:
            raise RemoteError(
                f"cannot connect to {url}: {_reason(exc)}",
                "check VIDPIPE_IFLYTEK_BASE and the network",
            ) from exc
        if response.status_code != 200:
            raise RemoteError(
                f"{url} answered HTTP {response.status_code}: {_excerpt(response.text)}",
                "check VIDPIPE_IFLYTEK_BASE (it ends in /v2/api)",
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise RemoteError(
                f"{url} answered with malformed JSON: {_excerpt(response.text)}",
                "check VIDPIPE_IFLYTEK_BASE (it ends in /v2/api)",
            ) from exc
        if not isinstance(body, Mapping):
            raise RemoteError(f"{url} answered with unexpected JSON: {_excerpt(response.text)}")
        code = str(body.get("code", ""))
        if code != OK:
            meaning, hint = ERROR_CODES.get(
                code, ("undocumented error code", "see https://www.xfyun.cn/document/error-code")
            )
            said = body.get("descInfo")
            said = f": {_excerpt(said)}" if said else ""
            where = path.strip("/")
            order = f" for order {order_id}" if order_id else ""
            raise IflytekError(
                f"iFLYTEK {where} refused{order}: code {code}, {meaning}{said}",
                hint,
                code=code,
                order_id=order_id,
            )
        return dict(body)


_FAIL_HINTS = {
    1: "try again",
    2: "check that the file plays; report it if it does (vidpipe uploads FLAC)",
    3: "try again later",
    4: "cut the recording into files of at most 5 hours",
    5: "report this: vidpipe sends the decoded duration",
    99: "try again later",
}


# ---------------------------------------------------------------------- helpers


def _iso_language(language: str | None) -> str | None:
    """The ISO 639-1 code reported for a requested language (``cn_xinanese`` -> ``zh``)."""
    if not language:
        return None
    code = language.strip().lower()
    if code in _ISO_BY_SERVICE:
        return _ISO_BY_SERVICE[code]
    return "zh" if code.startswith("cn_") else code


def _json_value(value: object, what: str) -> Any:
    """Decode a field that the service sends as a JSON string (or already as an object)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise RemoteError(f"iFLYTEK returned a malformed {what}: {_excerpt(value)}") from exc
    if isinstance(value, Mapping | list):
        return value
    raise RemoteError(f"iFLYTEK returned no {what}: {_excerpt(value)}")


def _number(value: object) -> float | None:
    """A finite float from a number or a numeric string (``bg`` is sent as ``"50"``)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _spaced(texts: list[str]) -> list[str]:
    """Word texts with Whisper's leading space before Latin words (none in CJK text).

    A token starting with an ASCII letter or digit gets one space before it unless it
    has one already or follows a non-ASCII character (``"的AI"`` stays joined).
    """
    out: list[str] = []
    prev = ""
    for text in texts:
        if _latin(text[:1]) and (not prev or prev[-1:].isascii()):
            text = " " + text
        out.append(text)
        prev = text
    return out


def _reason(exc: BaseException) -> str:
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, OSError) and current.strerror:
            return current.strerror.lower()
        current = current.__cause__ or current.__context__
    text = " ".join(str(exc).split()).lower()
    if "refused" in text:
        return "connection refused"
    return text or type(exc).__name__


def _excerpt(value: object, limit: int = 160) -> str:
    return excerpt(value, limit, "(empty)")
