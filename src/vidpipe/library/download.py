"""Download media files over HTTP: many at once, politely, resumably, verified.

:func:`download_all` takes ``(key, url, destination)`` items and downloads them with
a **sliding window**: one small pool of workers per host pulls from that host's
queue, each download also holding one of ``concurrency`` global slots, so a new
download starts as soon as any other finishes (never fixed groups, where the slowest
file of each group holds up the next group) and a busy host never blocks the others.

Every download:

- never overwrites or adopts a file it did not write: when ``DEST`` already exists
  (a file of a killed run, a damaged copy, a user's own file of that name), one
  request (``Range: bytes=0-0``) asks the server for the file's length; ``DEST`` is
  adopted (``DownloadResult.adopted``, not downloaded again) only when it is a regular
  file of exactly that length whose first bytes are media, else the download goes to
  the first free name of ``STEM-2.EXT``, ``STEM-3.EXT``... (each existing one checked
  the same way). The final rename never replaces a file that appeared meanwhile;
- writes to ``DEST.part`` (``dest.with_name(dest.name + ".part")``), and after the
  last byte (and a ``Content-Length`` match) flushes, fsyncs and renames it to
  ``DEST`` with :func:`os.replace`, so ``DEST`` is either absent or complete;
- resumes an existing ``.part`` (from an earlier attempt or an earlier, killed run)
  with ``Range: bytes=N-``: a ``206`` whose ``Content-Range`` starts at ``N`` is
  appended; a ``200`` (the server ignores ranges) or a wrong start restarts from zero;
- retries connection errors, timeouts, incomplete bodies and the statuses
  :func:`vidpipe.retry.retryable_status` names (``408``, ``409``, ``425``, ``429``,
  ``5xx`` except ``501``/``505``) up to ``retries`` times as
  :class:`vidpipe.retry.RetryPolicy` waits: exponential backoff with full jitter
  (``uniform(0, min(backoff_max, backoff_base * 2**(n-1)))`` seconds before retry
  ``n``), or the server's ``Retry-After`` (seconds or an HTTP date) capped at
  ``backoff_max``; other ``4xx`` fail at once;
- refuses bodies larger than ``max_bytes``: from ``Content-Length`` (or
  ``Content-Range``'s total) before reading the body, and while streaming;
- ends within ``deadline`` seconds of its first request (retries and their waits
  included), and fails as ``TooSlow`` when fewer than ``min_speed`` bytes per second
  arrived over the last ``speed_time`` seconds (curl's ``--speed-limit``/
  ``--speed-time``, aria2's ``--lowest-speed-limit``), so a server that trickles a byte
  now and then cannot keep a download alive forever;
- follows redirects itself (at most ``max_redirects``): each hop must be http(s)
  (``file:``, ``ftp:``... fail at once, not retried) and pass the URL policy
  (:class:`~vidpipe.library.urls.UrlPolicy`: with ``allow_private=False``, loopback,
  private, link-local, multicast and reserved addresses are refused before connecting,
  the first URL and every redirect target alike);
- checks the content: ``Content-Type`` values that are never media (``text/html``,
  ``application/json``...) fail at once, and the first bytes must carry the magic
  number of a known media container (see :func:`sniff_media`);
- computes the sha256 while streaming (the kept part of a resumed file is hashed
  from disk first).

Results come back as :class:`DownloadResult` in input order; ``on_result`` is called
as each download finishes, so a caller can record it at once (a killed run loses no
finished download, and its ``.part`` files are resumed next time).

Reasons never show a URL's password (:func:`~vidpipe.library.urls.redact_url`);
``DownloadResult.url`` is the URL as given, password included.

Page URLs (a video page rather than a media file) go through :func:`download_page`,
which uses yt-dlp when it is installed (``pip install vidpipe[pages]``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import os
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from vidpipe.errors import UsageError
from vidpipe.library.urls import (
    MEDIA_EXTENSIONS,
    UrlPolicy,
    redact_url,
    safe_filename,
    validate_url,
)
from vidpipe.retry import RetryPolicy, retry_after, retryable_status

__all__ = [
    "DownloadLimits",
    "DownloadResult",
    "UrlPolicy",
    "alternate_path",
    "container_extension",
    "download_all",
    "download_many",
    "download_page",
    "part_path",
    "sniff_image",
    "sniff_media",
]

#: Content types that are never media; a response with one fails as ``NotMedia``.
NOT_MEDIA_TYPES = {
    "text/html": "HTML page, not media",
    "application/xhtml+xml": "HTML page, not media",
    "application/json": "JSON document, not media",
    "application/problem+json": "JSON document, not media",
    "application/xml": "XML document, not media",
    "text/xml": "XML document, not media",
    "application/javascript": "script, not media",
    "text/javascript": "script, not media",
    "text/css": "style sheet, not media",
}

#: Bytes of the file start that :func:`sniff_media` looks at.
SNIFF_BYTES = 512

USER_AGENT = "vidpipe/0.1 (+https://github.com/vidpipe)"


@dataclass
class DownloadLimits:
    """Limits for :func:`download_all`. Times are seconds, sizes bytes.

    Attributes:
        concurrency: downloads in progress at once, over all hosts (aria2c's ``-j``).
        per_host: downloads in progress at once per host (``host:port``); servers
            commonly throttle or refuse beyond a handful of connections per client.
        rps_per_host: request starts per second per host (``None``: no limit). Starts
            are spaced at least ``1 / rps_per_host`` s apart, retries and redirects
            included.
        connect_timeout: seconds to open a connection.
        read_timeout: seconds without receiving a byte before a read fails (a stalled
            server); not a limit on the whole download.
        retries: retries after the first attempt (so at most ``retries + 1`` requests
            per file, redirects not counted).
        backoff_base: seconds; retry ``n`` waits ``uniform(0, backoff_base * 2**(n-1))``
            (capped at ``backoff_max``), the "full jitter" of AWS's backoff analysis,
            unless the server sent ``Retry-After``.
        backoff_max: seconds; the cap on any wait, ``Retry-After`` included.
        max_bytes: largest accepted file in bytes (default 4 GiB: a long HD video).
        max_redirects: redirects followed per request before ``TooManyRedirects``
            (browsers stop at about 20, curl at 50, httpx's default is 20).
        deadline: seconds from a file's first request to its last byte, retries and
            backoff waits included, before it fails as ``Deadline`` (``None``: no
            deadline). The default, 2 h, fits 4 GiB at 600 kB/s; the ``.part`` is
            kept, so ``--retry-failed`` resumes it.
        min_speed: bytes per second; a response that delivered less than this on
            average over the last ``speed_time`` seconds fails as ``TooSlow`` (and is
            retried, resuming). 0 turns the check off. The default, 1 KiB/s over 30 s,
            is the idea of curl's ``--speed-limit``/``--speed-time`` and aria2's
            ``--lowest-speed-limit`` (both off by default there): far below any real
            media server, far above a stalled one. The check runs as bytes arrive, so a
            server silent for longer than ``read_timeout`` fails as ``Timeout`` first.
        speed_time: seconds of the ``min_speed`` window (also the grace period at the
            start of each response).
        url_policy: which addresses may be contacted (:class:`UrlPolicy`); the default
            allows all (the command line's behaviour without ``--no-private-urls``).
        images: also accept PNG, JPEG, WebP and GIF images (:func:`sniff_image`), for
            the slides of a render; by default only media containers are accepted.
    """

    concurrency: int = 8
    per_host: int = 4
    rps_per_host: float | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_bytes: int = 4 * 1024**3
    max_redirects: int = 10
    deadline: float | None = 7200.0
    min_speed: float = 1024.0
    speed_time: float = 30.0
    url_policy: UrlPolicy = field(default_factory=UrlPolicy)
    images: bool = False

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.per_host < 1:
            raise UsageError("download concurrency and per-host limit must be at least 1")
        if self.rps_per_host is not None and self.rps_per_host <= 0:
            raise UsageError("requests per second per host must be positive")
        if self.retries < 0 or self.max_redirects < 0:
            raise UsageError("retries and redirects cannot be negative")
        if self.max_bytes < 1:
            raise UsageError(
                "the maximum download size must be at least 1 byte", "give e.g. 500MB or 4GiB"
            )
        if self.deadline is not None and self.deadline <= 0:
            raise UsageError("the download deadline must be positive", "give seconds, e.g. 3600")
        if self.min_speed < 0 or self.speed_time <= 0:
            raise UsageError(
                "the minimum speed cannot be negative and its window must be positive",
                "give bytes per second (0: off) and seconds",
            )


@dataclass
class DownloadResult:
    """What happened to one item of :func:`download_all`.

    Attributes:
        key: the caller's key, passed through unchanged.
        url: the URL as given.
        status: ``"done"`` or ``"failed"``.
        path: the complete file when done (renamed from ``.part``, or an adopted file;
            the destination asked for, or ``STEM-N.EXT`` when that name was taken by a
            file that did not match), else None.
        sha256: hex digest of the whole file when done.
        size: file size in bytes when done.
        content_type: the server's ``Content-Type`` (without parameters), if any.
        error: short error class when failed: ``HTTPStatusError``, ``Timeout``,
            ``ConnectError``, ``ReadError``, ``RemoteProtocolError``, ``Incomplete``,
            ``NotMedia``, ``TooLarge``, ``TooManyRedirects``, ``InvalidURL``,
            ``OSError``, ``DuplicateDestination``, ``PageError``, ``MissingDependency``,
            ``TooSlow``, ``Deadline``, ``Blocked`` (refused by the URL policy),
            ``UnsupportedRedirect`` (a redirect to a scheme other than http/https).
        reason: one line for people, e.g. ``HTTP 404 Not Found``,
            ``HTML page, not media``, ``timed out: no data for 30 s``,
            ``too slow: 12 B/s over 30 s (limit 1024 B/s)``; never shows a URL's
            password.
        attempts: requests made for this file (redirect hops not counted).
        resumed_bytes: bytes of the final file that were not downloaded again thanks
            to a ``Range`` resume (the start offset of the last accepted ``206``).
        adopted: True when ``path`` already existed and was verified against the
            server's length instead of downloaded (see the module doc); ``path`` may
            then be another free name than the destination asked for.
    """

    key: Any
    url: str
    status: Literal["done", "failed"]
    path: Path | None = None
    sha256: str | None = None
    size: int | None = None
    content_type: str | None = None
    error: str | None = None
    reason: str | None = None
    attempts: int = 0
    resumed_bytes: int = 0
    adopted: bool = False


def part_path(dest: Path) -> Path:
    """Where the partial download of ``dest`` lives: ``dest`` + ``.part``."""
    dest = Path(dest)
    return dest.with_name(dest.name + ".part")


#: alternative names tried (``STEM-2.EXT`` ... ``STEM-N.EXT``) when the destination is taken
MAX_ALTERNATES = 99


def alternate_path(dest: Path, n: int) -> Path:
    """The ``n``-th name for ``dest`` when ``dest`` is taken: ``STEM-n.EXT`` (n >= 2)."""
    dest = Path(dest)
    return dest if n < 2 else dest.with_name(f"{dest.stem}-{n}{dest.suffix}")


# -- content sniffing ---------------------------------------------------------------

_QT_ATOMS = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot", b"uuid")


def sniff_media(head: bytes) -> str | None:
    """Name of the media container whose magic number starts ``head``, else None.

    Recognised: ISO BMFF / QuickTime (``ftyp`` box or a top-level ``moov``/``mdat``/
    ``free``/``wide`` atom at byte 4: mp4, mov, m4a, 3gp), Matroska/WebM (EBML
    ``1A 45 DF A3``), RIFF WAVE and AVI, AIFF, MP3 (``ID3`` tag or an MPEG audio frame
    sync, which also covers ADTS AAC), FLAC (``fLaC``), Ogg (``OggS``), MPEG-TS (sync
    byte ``0x47`` every 188 bytes), MPEG-PS (``00 00 01 BA``), FLV, ASF/WMV (its header
    GUID), AMR. Pass at least 12 bytes; :data:`SNIFF_BYTES` is plenty.
    """
    if len(head) >= 8 and head[4:8] in _QT_ATOMS:
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") and head[8:12] in (b"WAVE", b"AVI ", b"RMP3"):
        return {b"WAVE": "wav", b"AVI ": "avi", b"RMP3": "mp3"}[head[8:12]]
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head.startswith(b"ID3"):
        return "mp3"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c"):
        return "asf"
    if head.startswith(b"#!AMR"):
        return "amr"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg-ps"
    if head[:1] == b"\x47" and (len(head) < 189 or head[188:189] == b"\x47"):
        return "mpeg-ts"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and head[1] & 0x06:
        return "mpeg-audio"  # MPEG-1/2 layer I-III frame sync
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "aac"  # ADTS
    return None


def sniff_image(head: bytes) -> str | None:
    """``png``, ``jpeg``, ``webp`` or ``gif`` when ``head`` starts with that image
    format's signature, else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    return None


_CONTAINER_EXTENSIONS = {
    "matroska": "mkv",
    "mpeg-ps": "mpg",
    "mpeg-ts": "ts",
    "mpeg-audio": "mp3",
}


def container_extension(head: bytes) -> str | None:
    """A file extension (no dot) for the container :func:`sniff_media` finds in
    ``head``: ``ogv`` for Ogg holding Theora video (else ``opus`` or ``ogg``), ``webm``
    for a Matroska file of DocType webm (else ``mkv``), ``m4a`` for an ISO file of brand
    ``M4A``, else the container's usual one (``mp4``, ``wav``, ``mp3``...); None if
    ``head`` is not media. Pass :data:`SNIFF_BYTES` bytes or more."""
    kind = sniff_media(head)
    if kind == "ogg":
        if b"\x80theora" in head:
            return "ogv"
        return "opus" if b"OpusHead" in head else "ogg"
    if kind == "matroska":
        return "webm" if b"webm" in head[:64] else "mkv"
    if kind == "mp4" and head[4:8] == b"ftyp" and head[8:11] == b"M4A":
        return "m4a"
    return _CONTAINER_EXTENSIONS.get(kind, kind) if kind else None


def _not_media_reason(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<script")):
        return "HTML page, not media"
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return "HTML page, not media" if b"<html" in text else "XML document, not media"
    if text.startswith((b"{", b"[")):
        return "JSON document, not media"
    if not head:
        return "empty body, not media"
    return f"unknown file type (starts {head[:8].hex(' ')}), not media"


# -- internal failures ----------------------------------------------------------------


class _Fail(Exception):
    """A failed attempt: ``error`` class name, one-line ``reason``, retry or not."""

    def __init__(
        self, error: str, reason: str, retry: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason
        self.retry = retry
        self.retry_after = retry_after


class _Restart(Exception):
    """Discard the ``.part`` and try again at once (bad resume), without a retry count."""


def _status_reason(response: httpx.Response) -> str:
    phrase = response.reason_phrase or ""
    return f"HTTP {response.status_code} {phrase}".strip()


def _host_key(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.netloc.rpartition("@")[2].lower()


def _mime(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";")[0].strip().lower() or None


class _Host:
    """Per-host state: request pacing for ``rps_per_host``."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.next_start = 0.0


@dataclass
class _Job:
    index: int
    key: Any
    url: str
    dest: Path
    fetch_url: str = ""  # the validated, normalised URL
    attempts: int = 0
    resumed: int = 0
    content_type: str | None = None
    # sha256 of the first `hashed` bytes of the .part, kept between attempts
    hasher: Any = None
    hashed: int = 0
    received: int = 0  # bytes of the file so far (for messages)
    placed: bool = False  # dest is settled: a free name (or an adopted, verified file)
    asked: Path | None = None  # the destination the caller gave


class _Downloader:
    def __init__(
        self,
        client: httpx.AsyncClient,
        limits: DownloadLimits,
        on_progress: Callable[[Any, int, int | None], None] | None,
    ) -> None:
        self.client = client
        self.limits = limits
        self.on_progress = on_progress
        self.hosts: dict[str, _Host] = {}
        self.timeout = httpx.Timeout(
            connect=limits.connect_timeout,
            read=limits.read_timeout,
            write=limits.read_timeout,
            pool=None,
        )

    # -- pacing and requests -------------------------------------------------------

    async def _pace(self, url: str) -> None:
        rps = self.limits.rps_per_host
        if not rps:
            return
        host = self.hosts.setdefault(_host_key(url), _Host())
        async with host.lock:
            loop = asyncio.get_running_loop()
            now = loop.time()
            if host.next_start > now:
                await asyncio.sleep(host.next_start - now)
                now = loop.time()
            host.next_start = max(now, host.next_start) + 1.0 / rps

    async def _check_policy(self, url: str) -> None:
        """Raise a final ``Blocked`` failure if the URL policy refuses ``url``."""
        try:
            refusal = await self.limits.url_policy.refusal(url)
        except OSError as exc:
            host = urllib.parse.urlsplit(url).hostname
            raise _Fail(
                "ConnectError", f"cannot resolve {host}: {exc.strerror or exc}", retry=True
            ) from None
        if refusal is not None:
            raise _Fail("Blocked", refusal)

    async def _open(self, url: str, offset: int, first_byte: bool = False) -> httpx.Response:
        """Send GET (following redirects ourselves, paced per hop); a streaming response.

        ``first_byte`` asks for byte 0 only (``Range: bytes=0-0``), to learn the length.
        Every hop is checked before it is sent: http(s) only, and the URL policy.
        """
        headers = {"Accept-Encoding": "identity"}
        if offset or first_byte:
            headers["Range"] = "bytes=0-0" if first_byte else f"bytes={offset}-"
        request = self.client.build_request("GET", url, headers=headers, timeout=self.timeout)
        for hop in range(self.limits.max_redirects + 1):
            if hop:
                scheme = request.url.scheme.lower()
                if scheme not in ("http", "https"):
                    raise _Fail(
                        "UnsupportedRedirect",
                        f"redirected to a {scheme or 'relative'}: URL "
                        "(only http and https are followed)",
                    )
            await self._check_policy(str(request.url))
            await self._pace(str(request.url))
            response = await self.client.send(request, stream=True, follow_redirects=False)
            if not response.has_redirect_location:
                return response
            await response.aclose()
            next_request = response.next_request
            if next_request is None:  # pragma: no cover - httpx sets it for redirects
                return response
            request = next_request
        raise _Fail(
            "TooManyRedirects",
            f"more than {self.limits.max_redirects} redirects (a redirect loop?)",
        )

    # -- one attempt -------------------------------------------------------------------

    async def attempt(self, job: _Job) -> DownloadResult:
        """One request for ``job``: returns a done result or raises _Fail/_Restart."""
        if not job.placed:
            adopted = await self._place(job)
            if adopted is not None:
                return adopted
        part = part_path(job.dest)
        offset = part.stat().st_size if part.exists() else 0
        job.attempts += 1
        try:
            response = await self._open(job.fetch_url, offset)
        except httpx.TimeoutException as exc:
            raise self._timeout_fail(exc) from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise _Fail(type(exc).__name__, _transport_reason(exc), retry=True) from None
        except httpx.InvalidURL as exc:
            raise _Fail("InvalidURL", f"invalid URL: {exc}") from None
        try:
            return await self._receive(job, response, part, offset)
        except httpx.TimeoutException as exc:
            raise self._timeout_fail(exc) from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise _Fail(type(exc).__name__, _transport_reason(exc), retry=True) from None
        finally:
            await response.aclose()

    async def _place(self, job: _Job) -> DownloadResult | None:
        """Settle ``job.dest`` without adopting or overwriting an unverified file.

        A free destination is used as is. A taken one (and each taken alternate) is
        adopted only when it is a regular file of the server's length that sniffs as
        media; else the first free alternate (:func:`alternate_path`) is used.
        Returns the done result of an adopted file, else None.
        """
        asked = job.asked = job.asked or job.dest
        total: int | None = None
        known = False
        for n in range(1, MAX_ALTERNATES + 1):
            candidate = alternate_path(asked, n)
            if not os.path.lexists(candidate):
                job.dest, job.placed = candidate, True
                return None
            if not known:
                total, known = await self._remote_length(job), True
            if total is not None and await asyncio.to_thread(_matches, candidate, total):
                job.dest, job.placed = candidate, True
                digest = await asyncio.to_thread(_hash_file, candidate, total)
                return DownloadResult(
                    key=job.key,
                    url=job.url,
                    status="done",
                    path=candidate,
                    sha256=digest.hexdigest(),
                    size=total,
                    content_type=job.content_type,
                    attempts=job.attempts,
                    adopted=True,
                )
        raise _Fail(
            "OSError",
            f"{asked.name} and {MAX_ALTERNATES - 1} alternative names are taken by other files",
        )

    async def _remote_length(self, job: _Job) -> int | None:
        """The file's length from one ``Range: bytes=0-0`` request (None: not said)."""
        job.attempts += 1
        try:
            response = await self._open(job.fetch_url, 0, first_byte=True)
        except httpx.TimeoutException as exc:
            raise self._timeout_fail(exc) from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise _Fail(type(exc).__name__, _transport_reason(exc), retry=True) from None
        except httpx.InvalidURL as exc:
            raise _Fail("InvalidURL", f"invalid URL: {exc}") from None
        try:
            status = response.status_code
            if status in (206, 416):
                return _content_range_total(response.headers.get("Content-Range"))
            if status != 200:
                retry = retryable_status(status)
                after = retry_after(response.headers) if retry else None
                raise _Fail("HTTPStatusError", _status_reason(response), retry, after)
            job.content_type = _mime(response.headers.get("Content-Type"))
            if job.content_type in NOT_MEDIA_TYPES:
                raise _Fail("NotMedia", NOT_MEDIA_TYPES[job.content_type])
            length = response.headers.get("Content-Length")
            return int(length) if length and length.isdigit() else None
        finally:
            await response.aclose()

    def _timeout_fail(self, exc: httpx.TimeoutException) -> _Fail:
        if isinstance(exc, httpx.ConnectTimeout):
            reason = f"timed out connecting ({self.limits.connect_timeout:g} s)"
        elif isinstance(exc, httpx.ReadTimeout):
            reason = f"timed out: no data for {self.limits.read_timeout:g} s"
        else:
            reason = f"timed out ({type(exc).__name__})"
        return _Fail("Timeout", reason, retry=True)

    async def _receive(
        self, job: _Job, response: httpx.Response, part: Path, offset: int
    ) -> DownloadResult:
        limits = self.limits
        status = response.status_code
        if status == 416 and offset:
            total = _content_range_total(response.headers.get("Content-Range"))
            if total is not None and total == offset:  # the .part was already complete
                job.resumed = offset
                return await self._finish(job, part, offset)
            raise _Restart
        if status not in (200, 206):
            retry = retryable_status(status)
            after = retry_after(response.headers) if retry else None
            raise _Fail("HTTPStatusError", _status_reason(response), retry, after)

        job.content_type = _mime(response.headers.get("Content-Type"))
        if job.content_type in NOT_MEDIA_TYPES:
            _discard(part)
            raise _Fail("NotMedia", NOT_MEDIA_TYPES[job.content_type])

        if status == 206 and offset:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                raise _Restart
            expected_total = total
        else:
            if offset:  # the server ignored Range (200): start again from zero
                job.hasher, job.hashed = None, 0
            offset = 0
            if status == 206:  # we asked for no range but got one: take only a full one
                start, total = _content_range(response.headers.get("Content-Range"))
                if start != 0:
                    raise _Fail("RemoteProtocolError", "server sent a partial response")
                expected_total = total
            else:
                expected_total = None
        length = response.headers.get("Content-Length")
        body_len = int(length) if length and length.isdigit() else None
        if expected_total is None and body_len is not None:
            expected_total = offset + body_len
        if expected_total is not None and expected_total > limits.max_bytes:
            _discard(part)
            raise _Fail("TooLarge", _too_large(expected_total, limits.max_bytes))

        # hash what is kept of the part (reusing the previous attempt's hash if it matches)
        if offset:
            if job.hasher is None or job.hashed != offset:
                job.hasher = await asyncio.to_thread(_hash_file, part, offset)
                job.hashed = offset
            hasher = job.hasher
            head = await asyncio.to_thread(_read_head, part)
        else:
            hasher = hashlib.sha256()
            head = b""

        received = 0
        checked = len(head) >= SNIFF_BYTES
        if checked:
            self._check_magic(head, part)
        mode = "ab" if offset else "wb"
        part.parent.mkdir(parents=True, exist_ok=True)
        speed = _SpeedCheck(limits.min_speed, limits.speed_time)
        with part.open(mode) as fh:
            try:
                async for chunk in response.aiter_raw():
                    speed.add(len(chunk))
                    if not chunk:
                        continue
                    if offset + received + len(chunk) > limits.max_bytes:
                        raise _Fail(
                            "TooLarge", _too_large(offset + received + len(chunk), limits.max_bytes)
                        )
                    if not checked:
                        head += chunk[: SNIFF_BYTES - len(head)]
                        if len(head) >= SNIFF_BYTES:
                            checked = True
                            self._check_magic(head, part)
                    fh.write(chunk)
                    hasher.update(chunk)
                    received += len(chunk)
                    job.received = offset + received
                    if self.on_progress is not None:
                        self.on_progress(job.key, offset + received, expected_total)
            except _Fail as exc:
                if exc.error in ("TooLarge", "NotMedia"):
                    fh.close()
                    _discard(part)
                raise
            finally:
                job.hasher, job.hashed = hasher, offset + received
                if not fh.closed:
                    fh.flush()
            if not checked:
                self._check_magic(head, part, closing=fh)
            if body_len is not None and received != body_len:
                raise _Fail(
                    "Incomplete",
                    f"connection closed after {received} of {body_len} bytes",
                    retry=True,
                )
            fh.flush()
            await asyncio.to_thread(os.fsync, fh.fileno())
        if offset:
            job.resumed = offset
        return await self._finish(job, part, offset + received)

    def _known(self, head: bytes) -> bool:
        """A media container (or, with ``limits.images``, an image) starts ``head``."""
        if sniff_media(head) is not None:
            return True
        return self.limits.images and sniff_image(head) is not None

    def _check_magic(self, head: bytes, part: Path, closing: Any = None) -> None:
        if not self._known(head):
            if closing is not None:
                closing.close()
            _discard(part)
            raise _Fail("NotMedia", _not_media_reason(head))

    async def _finish(self, job: _Job, part: Path, size: int) -> DownloadResult:
        """Hash (if not streamed) and sniff the complete ``.part``, rename it to ``dest``."""
        if job.hasher is None or job.hashed != size:
            job.hasher = await asyncio.to_thread(_hash_file, part, size)
            job.hashed = size
            head = await asyncio.to_thread(_read_head, part)
            if not self._known(head):
                _discard(part)
                raise _Fail("NotMedia", _not_media_reason(head))
        job.dest = await asyncio.to_thread(_rename_free, part, job.dest)
        return DownloadResult(
            key=job.key,
            url=job.url,
            status="done",
            path=job.dest,
            sha256=job.hasher.hexdigest(),
            size=size,
            content_type=job.content_type,
            attempts=job.attempts,
            resumed_bytes=job.resumed,
        )

    # -- one item, with retries ----------------------------------------------------------

    def _backoff(self, retry_number: int, after: float | None) -> float:
        limits = self.limits
        policy = RetryPolicy(
            limits.retries, limits.backoff_base, limits.backoff_max, limits.backoff_max
        )
        return policy.delay(retry_number, after)

    async def run(self, job: _Job, slot: asyncio.Semaphore) -> DownloadResult:
        """Download ``job`` holding a global ``slot`` while a request runs (not in backoff).

        The ``deadline`` clock starts at the first request (not while queued for a slot).
        """
        try:
            job.fetch_url = validate_url(job.url)
        except UsageError as exc:
            return self._failed(job, "InvalidURL", exc.message)
        retries_done = 0
        restarts = 0
        loop = asyncio.get_running_loop()
        deadline = self.limits.deadline
        ends: float | None = None
        last: str | None = None
        while True:
            window = None
            try:
                async with slot:
                    if deadline is not None:
                        ends = loop.time() + deadline if ends is None else ends
                        if ends <= loop.time():
                            return self._over_deadline(job, last)
                    async with asyncio.timeout_at(ends) as window:
                        return await self.attempt(job)
            except TimeoutError:
                if window is not None and window.expired():
                    return self._over_deadline(job, last)
                reason = f"cannot write {part_path(job.dest)}: timed out"
                return self._failed(job, "OSError", reason)
            except _Restart:
                _discard(part_path(job.dest))
                job.hasher, job.hashed, job.resumed = None, 0, 0
                restarts += 1
                if restarts > 2:
                    return self._failed(job, "RemoteProtocolError", "server's ranges are wrong")
                continue
            except _Fail as exc:
                if not exc.retry or retries_done >= self.limits.retries:
                    return self._failed(job, exc.error, exc.reason)
                retries_done += 1
                last = exc.reason
                wait = self._backoff(retries_done, exc.retry_after)
                if ends is not None:
                    wait = max(0.0, min(wait, ends - loop.time()))
                await asyncio.sleep(wait)
            except OSError as exc:
                reason = f"cannot write {part_path(job.dest)}: {exc.strerror or exc}"
                return self._failed(job, "OSError", reason)

    def _over_deadline(self, job: _Job, last: str | None) -> DownloadResult:
        reason = (
            f"deadline of {self.limits.deadline:g} s passed after {job.attempts} "
            f"request(s), {_size(job.received)} received"
        )
        if last:
            reason += f" (last retry: {last})"
        return self._failed(job, "Deadline", reason)

    def _failed(self, job: _Job, error: str, reason: str) -> DownloadResult:
        return DownloadResult(
            key=job.key,
            url=job.url,
            status="failed",
            content_type=job.content_type,
            error=error,
            reason=redact_url(reason),
            attempts=job.attempts,
            resumed_bytes=0,
        )


def _transport_reason(exc: Exception) -> str:
    name = type(exc).__name__
    detail = " ".join(str(exc).split()) or name
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {detail}"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return f"connection lost: {detail}"
    return f"{name}: {detail}"


class _SpeedCheck:
    """Fail as ``TooSlow`` when the average speed over the last ``window`` s is too low.

    Samples ``(time, total bytes)`` as chunks arrive and keeps the newest sample at
    least ``window`` s old, so the average always spans ``window`` s or more; no verdict
    before the response is ``window`` s old. ``min_speed`` 0 disables it.
    """

    def __init__(self, min_speed: float, window: float) -> None:
        self.min_speed = min_speed
        self.window = window
        self.total = 0
        self.samples: collections.deque[tuple[float, int]] = collections.deque(
            [(time.monotonic(), 0)]
        )

    def add(self, n: int) -> None:
        if not self.min_speed:
            return
        now = time.monotonic()
        self.total += n
        samples = self.samples
        samples.append((now, self.total))
        while len(samples) > 1 and samples[1][0] <= now - self.window:
            samples.popleft()
        since, bytes_then = samples[0]
        span = now - since
        if span < self.window:
            return
        rate = (self.total - bytes_then) / span
        if rate < self.min_speed:
            shown = f"{rate:.1f}" if rate < 10 else f"{rate:.0f}"
            raise _Fail(
                "TooSlow",
                f"too slow: {shown} B/s over {span:.3g} s (limit {self.min_speed:.0f} B/s)",
                retry=True,
            )


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} bytes"
    return f"{n / 1e3:.1f} kB" if n < 1e6 else _mb(n)


def _too_large(size: int, limit: int) -> str:
    return f"file is {_mb(size)}, over the {_mb(limit)} limit"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes START-END/TOTAL`` -> (START, TOTAL); TOTAL None when ``*``."""
    if not value:
        return None, None
    _unit, _, rest = value.strip().partition(" ")
    span, _, total = rest.partition("/")
    first = span.partition("-")[0]
    try:
        start = int(first)
    except ValueError:
        return None, None
    return start, int(total) if total.strip().isdigit() else None


def _content_range_total(value: str | None) -> int | None:
    if not value or "/" not in value:
        return None
    total = value.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


def _hash_file(path: Path, size: int) -> Any:
    hasher = hashlib.sha256()
    with path.open("rb") as fh:
        remaining = size
        while remaining > 0:
            block = fh.read(min(1 << 20, remaining))
            if not block:
                break
            hasher.update(block)
            remaining -= len(block)
    return hasher


def _read_head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _matches(path: Path, size: int) -> bool:
    """``path`` is a regular file of ``size`` bytes starting with a media magic number."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size != size:
            return False
        return sniff_media(_read_head(path)) is not None
    except OSError:
        return False


def _same_content(dest: Path, size: int, digest: str) -> Path | None:
    """The first of ``dest`` and its taken alternates holding exactly these bytes."""
    for n in range(1, MAX_ALTERNATES + 1):
        candidate = alternate_path(dest, n)
        if not os.path.lexists(candidate):
            return None
        with contextlib.suppress(OSError):
            if (
                candidate.is_file()
                and not candidate.is_symlink()
                and candidate.stat().st_size == size
                and _hash_file(candidate, size).hexdigest() == digest
            ):
                return candidate
    return None


def _rename_free(part: Path, dest: Path) -> Path:
    """Rename ``part`` to ``dest``, or to the first free :func:`alternate_path` when a
    file appeared at ``dest`` meanwhile (never replaced); the name used."""
    for n in range(1, MAX_ALTERNATES + 1):
        target = alternate_path(dest, n) if n > 1 else dest
        try:
            os.link(part, target)  # fails if target exists: nothing is overwritten
        except FileExistsError:
            continue
        except OSError:  # no hard links here (FAT, some network shares): check, then rename
            if os.path.lexists(target):
                continue
            _replace_durably(part, target)
            return target
        os.unlink(part)
        _sync_dir(target)
        return target
    raise OSError(f"{dest.name} and its alternative names are taken")


def _replace_durably(part: Path, dest: Path) -> None:
    os.replace(part, dest)
    _sync_dir(dest)


def _sync_dir(dest: Path) -> None:
    with contextlib.suppress(OSError):  # persist the rename (not possible on Windows)
        fd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- public API ----------------------------------------------------------------------


def _make_client(limits: DownloadLimits) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=limits.connect_timeout,
            read=limits.read_timeout,
            write=limits.read_timeout,
            pool=None,
        ),
        limits=httpx.Limits(
            max_connections=None,
            max_keepalive_connections=max(limits.concurrency, 10),
        ),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


async def download_all(
    items: Iterable[tuple[Any, str, Path]],
    limits: DownloadLimits | None = None,
    on_result: Callable[[DownloadResult], None] | None = None,
    on_progress: Callable[[Any, int, int | None], None] | None = None,
    client: httpx.AsyncClient | None = None,
) -> list[DownloadResult]:
    """Download ``(key, url, destination)`` items with a sliding window; see the module doc.

    Args:
        items: ``(key, url, dest)``; ``key`` is passed through to the results, ``dest``
            is the final file (its folder is created; ``dest.part`` is resumed if it
            exists). An existing ``dest`` is never overwritten: it is adopted when it
            matches the server's length and is media, else the file is downloaded
            to ``STEM-2.EXT`` (or the next free name); the result's ``path`` says
            where. Each destination must be distinct (a repeat fails as
            ``DuplicateDestination``).
        limits: concurrency, pacing, timeouts, retries, sizes (:class:`DownloadLimits`).
        on_result: called with each :class:`DownloadResult` as soon as that item ends
            (in completion order, from the event loop's thread). An exception raised
            here cancels the remaining downloads and propagates.
        on_progress: called as bytes arrive with ``(key, bytes of the file so far,
            total bytes or None)``.
        client: an ``httpx.AsyncClient`` to use (and not close); by default one is
            made for this call. The per-request timeouts of ``limits`` apply either way;
            redirects are followed here, not by the client.

    Returns:
        One result per item, in input order.
    """
    limits = limits or DownloadLimits()
    jobs = [_Job(i, key, url, Path(dest)) for i, (key, url, dest) in enumerate(items)]
    results: list[DownloadResult | None] = [None] * len(jobs)
    if not jobs:
        return []
    own_client = client is None
    http = _make_client(limits) if client is None else client
    downloader = _Downloader(http, limits, on_progress)
    slot = asyncio.Semaphore(limits.concurrency)

    def record(job: _Job, result: DownloadResult) -> None:
        results[job.index] = result
        if on_result is not None:
            on_result(result)

    queues: dict[str, asyncio.Queue[_Job]] = {}
    seen: dict[Path, int] = {}
    for job in jobs:
        resolved = job.dest.resolve()
        if resolved in seen:
            result = downloader._failed(
                job, "DuplicateDestination", f"same destination as item {seen[resolved] + 1}"
            )
            record(job, result)
            continue
        seen[resolved] = job.index
        queues.setdefault(_host_key(job.url.strip()), asyncio.Queue()).put_nowait(job)

    async def worker(queue: asyncio.Queue[_Job]) -> None:
        while not queue.empty():
            job = queue.get_nowait()
            record(job, await downloader.run(job, slot))

    tasks = [
        asyncio.create_task(worker(queue))
        for queue in queues.values()
        for _ in range(min(limits.per_host, queue.qsize()))
    ]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        if own_client:
            await http.aclose()
    return [r for r in results if r is not None]


def download_many(
    items: Iterable[tuple[Any, str, Path]],
    limits: DownloadLimits | None = None,
    on_result: Callable[[DownloadResult], None] | None = None,
    on_progress: Callable[[Any, int, int | None], None] | None = None,
    client: httpx.AsyncClient | None = None,
) -> list[DownloadResult]:
    """:func:`download_all` in a fresh event loop, for synchronous callers.

    Cannot be called from inside a running event loop: there, await
    :func:`download_all` instead.
    """
    return asyncio.run(download_all(items, limits, on_result, on_progress, client))


async def download_page(
    url: str,
    dest_dir: Path,
    key: Any = None,
    limits: DownloadLimits | None = None,
) -> DownloadResult:
    """Download the media of a page URL (not a direct media file) with yt-dlp.

    yt-dlp writes into its own folder ``dest_dir/.pages/STEM/`` (so it neither adopts
    nor overwrites a file already in ``dest_dir``, and resumes its own ``.part`` there);
    the finished file is then moved to ``dest_dir`` as ``STEM.EXT``, ``STEM`` from
    ``safe_filename(url)``, never replacing a file (the next free ``STEM-2.EXT``...).
    ``EXT`` is yt-dlp's when it is a media extension, else (``unknown_video``, a
    server without a media ``Content-Type``) the one of the container the file's first
    bytes name (:func:`sniff_media`: ``ogv`` for Ogg with Theora video, ``mkv``,
    ``mp4``...). The best single file with both video and audio is preferred (no
    merging, so no ffmpeg needed), else the best audio. Playlists are not followed.
    When ``STEM.EXT`` (or a taken alternate) already holds exactly the bytes
    downloaded, that file is the result (``adopted``) and the new copy is dropped.
    Runs yt-dlp in a worker thread.

    With ``limits.url_policy.allow_private`` False the page URL itself is checked
    (``Blocked``); the requests yt-dlp makes after that (its redirects, the media URLs
    it extracts) are not: yt-dlp does its own networking.

    Returns:
        A done :class:`DownloadResult` with path, sha256 and size; or failed with
        error ``MissingDependency`` (reason ``page URL: install vidpipe[pages]
        (yt-dlp) to download pages``) when yt-dlp is not installed, ``Blocked``, or
        ``PageError`` with yt-dlp's message (URL passwords redacted).
    """
    limits = limits or DownloadLimits()
    try:
        import yt_dlp  # optional dependency
    except ImportError:
        return DownloadResult(
            key=key,
            url=url,
            status="failed",
            error="MissingDependency",
            reason="page URL: install vidpipe[pages] (yt-dlp) to download pages",
        )
    try:
        url = validate_url(url)
    except UsageError as exc:
        return DownloadResult(key, url, "failed", error="InvalidURL", reason=exc.message)
    try:
        refusal = await limits.url_policy.refusal(url)
    except OSError as exc:
        host = urllib.parse.urlsplit(url).hostname
        refusal_error, refusal = "ConnectError", f"cannot resolve {host}: {exc.strerror or exc}"
    else:
        refusal_error = "Blocked"
    if refusal is not None:
        return DownloadResult(key, url, "failed", error=refusal_error, reason=refusal)
    dest_dir = Path(dest_dir)
    name = safe_filename(url)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    work = dest_dir / ".pages" / stem
    options = {
        "outtmpl": str(work / f"{stem}.%(ext)s"),
        "format": "b/ba/bv*",
        "noplaylist": True,
        "noprogress": True,
        "quiet": True,
        "no_warnings": True,
        "retries": limits.retries,
        "socket_timeout": limits.read_timeout,
        "max_filesize": limits.max_bytes,
        "logger": _QuietLogger(),
    }

    def run() -> DownloadResult:
        work.mkdir(parents=True, exist_ok=True)
        with yt_dlp.YoutubeDL(options) as ydl:
            try:
                info = ydl.extract_info(url, download=True)
            except yt_dlp.utils.DownloadError as exc:
                message = redact_url(" ".join(str(exc).split()).removeprefix("ERROR: "))
                return DownloadResult(key, url, "failed", error="PageError", reason=message)
            if info is None:
                return DownloadResult(key, url, "failed", error="PageError", reason="no media")
            downloads = info.get("requested_downloads") or [{}]
            path = Path(downloads[0].get("filepath") or ydl.prepare_filename(info))
        if not path.is_file():
            reason = "yt-dlp wrote no file (over the size limit?)"
            return DownloadResult(key, url, "failed", error="PageError", reason=reason)
        ext = path.suffix[1:].lower()
        if ext not in MEDIA_EXTENSIONS:
            ext = container_extension(_read_head(path)) or ext
        size = path.stat().st_size
        digest = _hash_file(path, size).hexdigest()
        # the same bytes already beside it (an earlier run's): keep that one, drop ours
        target = dest_dir / f"{stem}.{ext}"
        same = _same_content(target, size, digest)
        if same is not None:
            path.unlink()
        else:
            path = _rename_free(path, target)
        for folder in (work, work.parent):
            with contextlib.suppress(OSError):  # our own folders, when empty
                folder.rmdir()
        return DownloadResult(
            key,
            url,
            "done",
            path=same or path,
            sha256=digest,
            size=size,
            content_type=None,
            attempts=1,
            adopted=same is not None,
        )

    return await asyncio.to_thread(run)


class _QuietLogger:
    """yt-dlp logger that keeps quiet (errors come back in the result)."""

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        pass

    def error(self, msg: str) -> None:
        pass
