"""Calls to remote services: the one retry policy and the one rate limiter.

Every remote client in vidpipe (the LLM backend :mod:`vidpipe.text.llm`, the vision
model :mod:`vidpipe.vision.vlm`, the image generators of :mod:`vidpipe.vision.images`
and the media downloader :mod:`vidpipe.library.download`) decides with this module
which failures to retry, how long to wait before the next attempt and how fast
requests may start:

- :func:`retryable_status`: HTTP 408 (request timeout), 409 (conflict: OpenAI's "lock
  timeout"), 425 (too early), 429 (too many requests) and the 5xx server errors except
  501 (not implemented) and 505 (HTTP version not supported), which do not go away.
  Connection errors and timeouts are retried by every caller too.
- :class:`RetryPolicy`: exponential backoff with "full jitter" (retry ``n`` waits
  ``uniform(0, min(max_backoff, backoff * 2**(n-1)))`` seconds; Marc Brooker, AWS
  Architecture Blog, "Exponential Backoff And Jitter", 2015: of the schemes compared
  it spreads competing clients best for the least total work), or what the server
  asked for in ``Retry-After`` (:func:`retry_after`), capped at ``max_retry_after``.
- :class:`RateLimiter`: sliding-window limits on request starts (``rpm``) and tokens
  (``tpm``) per window, and on requests in flight.
- :data:`PLACEHOLDER_API_KEY`: the key sent when none is configured (the check that
  a backend has an endpoint at all is :func:`vidpipe.remote.check_endpoint`).

Core module: standard library only, no settings read.
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from vidpipe.errors import UsageError

__all__ = [
    "PLACEHOLDER_API_KEY",
    "RETRY_STATUSES",
    "RateLimiter",
    "RetryPolicy",
    "retry_after",
    "retry_after_value",
    "retryable_status",
]

PLACEHOLDER_API_KEY = "not-needed"
"""Sent as the API key when none is configured: local servers (Ollama, llama.cpp,
speaches...) do not check it, but the ``openai`` client refuses to run without one."""


RETRY_STATUSES = frozenset({408, 409, 425, 429})
"""The 4xx statuses worth another attempt (the 5xx ones: see :func:`retryable_status`)."""

_PERMANENT_5XX = frozenset({501, 505})


def retryable_status(status: int) -> bool:
    """Whether an HTTP ``status`` is worth another attempt: :data:`RETRY_STATUSES`, or a
    5xx other than 501 and 505."""
    return status in RETRY_STATUSES or (500 <= status < 600 and status not in _PERMANENT_5XX)


def retry_after_value(value: str | None, now: float | None = None) -> float | None:
    """Seconds asked for by one ``Retry-After`` header value (RFC 9110, 10.2.3): delta
    seconds (``"120"``, also ``"1.5"``) or an HTTP date (seconds from ``now``, a Unix time,
    default the current time; 0 for a date in the past). None when absent or unreadable."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_after(headers: Mapping[str, Any] | None, now: float | None = None) -> float | None:
    """Seconds a response asks the client to wait, from its headers: ``retry-after-ms``
    (milliseconds; OpenAI and Azure send it) first, then ``Retry-After``
    (:func:`retry_after_value`). None when neither is there or readable.

    Args:
        headers: the response headers (``httpx.Headers`` is case-insensitive; a plain
            dict is looked up in lower case and as ``Retry-After``), or None.
        now: Unix time that an HTTP date is measured from (default: now).
    """
    if not headers:
        return None

    def get(name: str) -> Any:
        value = headers.get(name)
        return headers.get(name.title()) if value is None else value

    ms = get("retry-after-ms")
    if ms is not None:
        with contextlib.suppress(TypeError, ValueError):
            return max(0.0, float(ms) / 1000)
    return retry_after_value(get("retry-after"), now)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one remote request.

    Attributes:
        max_retries: retries after the first attempt (``max_retries + 1`` attempts).
        backoff: seconds; the ceiling of the first retry's random wait, doubled for
            each further retry.
        max_backoff: seconds; the cap on that ceiling.
        max_retry_after: seconds; the longest ``Retry-After`` honoured (a longer one is
            cut to this).
    """

    max_retries: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.backoff < 0 or self.max_backoff < 0:
            raise UsageError(
                "retries and backoff times must not be negative",
                "give 0 or more retries and seconds",
            )

    @property
    def attempts(self) -> int:
        """Requests sent at most: the first one and the retries."""
        return self.max_retries + 1

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry).

        ``retry_after`` (what the server asked for, see :func:`retry_after`) wins, capped
        at :attr:`max_retry_after`; otherwise a full-jitter exponential backoff:
        ``uniform(0, min(max_backoff, backoff * 2**(retry - 1)))``.
        """
        if retry_after is not None:
            return min(max(0.0, retry_after), self.max_retry_after)
        ceiling = min(self.max_backoff, self.backoff * 2 ** max(0, retry - 1))
        return random.uniform(0, ceiling)


class RateLimiter:
    """Sliding-window limits on request starts, tokens, and requests in flight.

    Thread-safe. :meth:`slot` (or :meth:`acquire_start` without the concurrency part)
    blocks until a request may start: fewer than ``rpm`` starts and at most ``tpm``
    tokens (the new request's estimate included) in the last ``window`` seconds, and
    fewer than ``concurrency`` requests in flight. A request whose estimate alone
    exceeds ``tpm`` waits until the window is empty. The estimate can be corrected with
    the real usage once known (:meth:`update`).

    ``RateLimiter(rpm=1, window=60 / n, concurrency=None)`` spaces starts at least
    ``60 / n`` seconds apart: ``n`` per minute without bursts (providers enforce RPM
    over sub-minute intervals too); the vision client paces that way.

    Args:
        rpm: request starts per window (``None``: unlimited).
        tpm: tokens per window (``None``: unlimited).
        concurrency: requests in flight at once (``None`` or 0: unlimited).
        window: window length in seconds (60 for per-minute limits).
        clock: monotonic clock in seconds; ``sleep`` its companion (for tests).

    Raises:
        UsageError: ``rpm`` or ``tpm`` below 1, a negative ``concurrency``, or a
            window that is not positive.
    """

    def __init__(
        self,
        rpm: int | None = None,
        tpm: int | None = None,
        concurrency: int | None = 4,
        *,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        bad_rate = any(v is not None and v < 1 for v in (rpm, tpm))
        if bad_rate or (concurrency or 0) < 0 or window <= 0:
            raise UsageError(
                "a rate limit must allow at least one request per window",
                "give limits of 1 or more and a window longer than 0 s",
            )
        self.rpm = rpm
        self.tpm = tpm
        self.window = float(window)
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._events: collections.deque[list[float]] = collections.deque()  # [start, tokens]
        self._inflight = threading.BoundedSemaphore(concurrency) if concurrency else None

    def _purge(self, now: float) -> None:
        while self._events and self._events[0][0] <= now - self.window:
            self._events.popleft()

    def _wait_needed(self, now: float, tokens: int) -> float:
        """Seconds until a request with ``tokens`` may start (0: now). Lock held."""
        self._purge(now)
        wait = 0.0
        if self.rpm is not None and len(self._events) >= self.rpm:
            oldest = self._events[len(self._events) - self.rpm]
            wait = max(wait, oldest[0] + self.window - now)
        if self.tpm is not None and self._events:
            used = sum(e[1] for e in self._events)
            if used + tokens > self.tpm:
                # Drop the oldest events until the new request fits (or none are left).
                freed = 0.0
                for e in self._events:
                    freed += e[1]
                    if used - freed + tokens <= self.tpm:
                        break
                wait = max(wait, e[0] + self.window - now)
        return wait

    def acquire_start(self, tokens: int = 0) -> list[float]:
        """Block until the window allows a start; record it and return its event
        ``[start, tokens]`` (start on :attr:`clock`, in seconds)."""
        while True:
            with self._lock:
                now = self.clock()
                wait = self._wait_needed(now, tokens)
                if wait <= 0:
                    event = [now, float(tokens)]
                    self._events.append(event)
                    return event
            self.sleep(min(max(wait, 0.001), self.window))

    def update(self, event: list[float], tokens: int) -> None:
        """Replace a started request's token estimate with its real usage."""
        with self._lock:
            event[1] = float(tokens)

    @contextlib.contextmanager
    def slot(self, tokens: int = 0) -> Iterator[list[float]]:
        """Hold a concurrency slot and a window start for one request attempt."""
        if self._inflight is not None:
            self._inflight.acquire()
        try:
            yield self.acquire_start(tokens)
        finally:
            if self._inflight is not None:
                self._inflight.release()
