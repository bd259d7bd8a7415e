"""One helper for every OpenAI-compatible endpoint vidpipe calls: the client, the
retry loop and the mapping of the client's errors to vidpipe's.

The chat backend (:mod:`vidpipe.text.llm`), the vision model (:mod:`vidpipe.vision.vlm`),
the ``openai`` image generator (:mod:`vidpipe.vision.images`) and the remote ASR
engine (:mod:`vidpipe.speech.remote`) all go through it:

- :func:`make_client`: the official ``openai`` client for a base URL, key and timeout,
  with ``max_retries=0`` (vidpipe retries, see below) and
  :data:`~vidpipe.retry.PLACEHOLDER_API_KEY` when no key is given.
- :func:`check_endpoint`: a backend given neither a base URL nor a key fails at once
  with a usage error naming the settings to set (without it, every request would go
  to api.openai.com without a key and fail after its retries).
- :func:`call`: one request with retries as :class:`vidpipe.retry.RetryPolicy` says
  (statuses :func:`vidpipe.retry.retryable_status` names, timeouts, connection
  errors; ``Retry-After`` honoured), every other failure and the last retry mapped by
  :func:`map_error` to a one-line :class:`~vidpipe.errors.RemoteError` whose hint
  comes from the caller's :class:`Hints` (like httpx's ``map_httpcore_exceptions``:
  the third-party exceptions stop at this boundary).

Core module: no settings read; the callers pass every value in.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from vidpipe.errors import RemoteError, UsageError, excerpt
from vidpipe.retry import PLACEHOLDER_API_KEY, RetryPolicy, retry_after, retryable_status

__all__ = [
    "OPENAI_API_BASE",
    "Failure",
    "Hints",
    "call",
    "check_endpoint",
    "connection_reason",
    "make_client",
    "map_error",
    "server_message",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

OPENAI_API_BASE = "https://api.openai.com/v1"
"""The ``openai`` client's base URL when none is given (and ``OPENAI_BASE_URL`` is unset)."""


def make_client(base_url: str | None, api_key: str | None, timeout: float) -> Any:
    """The ``openai.OpenAI`` client for one endpoint.

    Args:
        base_url: API root including the version path (``http://127.0.0.1:8000/v1``);
            None or empty: the client's own default (``OPENAI_BASE_URL`` or
            :data:`OPENAI_API_BASE`).
        api_key: bearer key; None or empty sends :data:`~vidpipe.retry.PLACEHOLDER_API_KEY`.
        timeout: seconds per request attempt.

    The client's own retries are off (``max_retries=0``): :func:`call` retries.
    """
    import openai

    return openai.OpenAI(
        base_url=base_url or None,
        api_key=api_key or PLACEHOLDER_API_KEY,
        max_retries=0,
        timeout=timeout,
    )


def check_endpoint(
    base_url: str | None,
    api_key: str | None,
    what: str,
    base_setting: str,
    key_setting: str,
    option: str | None = None,
    client_base: str | None = None,
) -> None:
    """Refuse a remote OpenAI-compatible backend that has nowhere to send requests.

    Without a base URL the ``openai`` client calls its own default (``OPENAI_BASE_URL``,
    else api.openai.com, which needs a key); with neither a base URL nor a key (only
    :data:`~vidpipe.retry.PLACEHOLDER_API_KEY`), every request would fail after its
    retries with an error that does not say what to set.

    Args:
        base_url: the base URL given or configured (None/empty: none).
        api_key: the key given or configured (None, empty or the placeholder: none).
        what: the backend, for the message (``"the openai text backend"``).
        base_setting: the setting of the base URL (``VIDPIPE_LLM_BASE``).
        key_setting: the setting(s) of the key (``VIDPIPE_LLM_KEY or OPENAI_API_KEY``).
        option: the command-line option of the base URL, if any (``--llm-base``).
        client_base: the client's own base URL; None: asked of the ``openai`` client
            (its ``OPENAI_BASE_URL``), which counts as a base URL unless it is
            :data:`OPENAI_API_BASE`.

    Raises:
        UsageError: neither a base URL nor a key (exit 2), naming the settings.
    """
    if base_url or (api_key and api_key != PLACEHOLDER_API_KEY):
        return
    if client_base is None:
        client_base = str(make_client(None, None, 10.0).base_url).rstrip("/")
        client_base = "" if client_base == OPENAI_API_BASE else client_base
    if client_base:
        return
    where = f"{base_setting} or {option}" if option else base_setting
    raise UsageError(
        f"{what} has no endpoint: neither a base URL nor an API key is set",
        f"set {where} to an OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1, "
        f"or {key_setting} for the OpenAI API",
    )


@dataclass(frozen=True)
class Hints:
    """What the user can do about each kind of failure of one backend (the errors'
    ``hint``). Each names the backend's own settings."""

    key: str = "check the API key"
    """HTTP 401 and 403."""
    request: str | None = None
    """Any other status that is not retried (400, 422...)."""
    not_found: str = "check the base URL: it usually ends in /v1, e.g. http://127.0.0.1:8000/v1"
    """HTTP 404."""
    retries: str | None = "check that the server is running and not overloaded"
    """A retried status (429, 5xx...) or a timeout that lasted through every retry."""
    connect: str | None = "check that the server runs and the base URL is right"
    """The server could not be reached through every retry."""

    @classmethod
    def named(
        cls,
        base: str,
        key: str,
        model: str | None = None,
        *,
        request: str | None = None,
        retries: str | None = None,
    ) -> Hints:
        """The hints of a backend configured by the settings named ``base`` (its base
        URL), ``key`` and ``model``; ``request`` and ``retries`` replace the hints for a
        refused request and for retries that ran out."""
        and_model = f" and {model}" if model else ""
        return cls(
            key=f"check {key}",
            request=request or f"check {base}{and_model}",
            not_found=f"check {base} (it usually ends in /v1){and_model}",
            retries=retries or cls.retries,
            connect=f"check that the server runs and {base} is right",
        )


@dataclass(frozen=True)
class Failure:
    """One failed attempt, read from the ``openai`` client's exception.

    Attributes:
        kind: ``"status"`` (an HTTP error status), ``"timeout"``, ``"connect"`` or
            ``"response"`` (an answer the client could not read: never retried).
        what: one line for messages and logs (``"HTTP 500: boom"``, ``"no answer within
            5 s"``, ``"connection failed: connection refused"``).
        retryable: worth another attempt.
        status: the HTTP status (``kind == "status"``), else None.
        said: the server's own error text (may be empty).
        retry_after: seconds the server asked to wait, or None.
    """

    kind: str
    what: str
    retryable: bool
    status: int | None = None
    said: str = ""
    retry_after: float | None = None


def map_error(exc: BaseException, timeout: float) -> Failure:
    """Classify an exception of the ``openai`` client (or of httpx below it, or the
    ``json.JSONDecodeError`` the client lets through for a body that is not JSON).

    Args:
        exc: what the request raised.
        timeout: the client's timeout in seconds, for the message.

    Raises:
        TypeError: ``exc`` is none of those (a bug: not mapped).
    """
    import httpx
    import openai

    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        said = server_message(exc)
        what = f"HTTP {status}: {said}" if said else f"HTTP {status}"
        headers = getattr(exc.response, "headers", None)
        return Failure("status", what, retryable_status(status), status, said, retry_after(headers))
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return Failure("timeout", f"no answer within {timeout:g} s", True)
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        return Failure("connect", f"connection failed: {connection_reason(exc)}", True)
    if isinstance(exc, json.JSONDecodeError):  # a 200 whose body is not JSON
        said = excerpt(exc.doc, 160, "(empty body)")
        return Failure("response", f"an answer that is not the expected JSON: {said}", False)
    if isinstance(exc, openai.OpenAIError | httpx.HTTPError):
        body = getattr(exc, "body", None)
        said = excerpt(body if body is not None else exc, 160, "(empty body)")
        return Failure("response", f"an answer that is not the expected JSON: {said}", False)
    raise TypeError(f"not a client error: {exc!r}")


def _client_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the ``openai`` client or httpx (mapped by :func:`map_error`)."""
    import httpx
    import openai

    return isinstance(exc, openai.OpenAIError | httpx.HTTPError | json.JSONDecodeError)


def _error(f: Failure, where: str, attempts: int, hints: Hints) -> RemoteError:
    """The one-line error for a failure that ends the request."""
    said = f": {f.said}" if f.said else ""
    tries = f"{attempts} attempt" + ("s" if attempts != 1 else "")
    if f.kind == "connect":
        return RemoteError(f"cannot reach {where}: {f.what} ({tries})", hints.connect)
    if f.kind == "timeout":
        return RemoteError(f"{where} failed after {tries}: {f.what}", hints.retries)
    if f.kind == "response":
        return RemoteError(f"{where} answered with {f.what}", hints.not_found)
    if f.retryable:
        return RemoteError(f"{where} failed after {tries}: {f.what}", hints.retries)
    if f.status == 401:
        return RemoteError(f"{where} rejected the API key (HTTP 401){said}", hints.key)
    if f.status == 403:
        return RemoteError(f"{where} refused access (HTTP 403){said}", hints.key)
    if f.status == 404:
        return RemoteError(f"{where} not found (HTTP 404){said}", hints.not_found)
    return RemoteError(f"{where} answered {f.what}", hints.request)


def call(
    request: Callable[[], T],
    *,
    where: str,
    policy: RetryPolicy,
    timeout: float,
    hints: Hints | None = None,
    on_status: Callable[[Failure], RemoteError | None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``request()`` (one call of the ``openai`` client) with retries; return its result.

    Retries what :func:`map_error` calls retryable, waiting :meth:`RetryPolicy.delay`
    (the server's ``Retry-After`` when it sent one), at most ``policy.max_retries``
    times. Rate limits belong inside ``request`` (every attempt passes them).

    Args:
        request: sends one attempt; any exception that is not the client's passes through.
        where: the endpoint as named in messages (``"http://127.0.0.1:8080/v1"``,
            ``"vision model at ..."``).
        policy: how often and how long to retry.
        timeout: the client's timeout in seconds (for messages).
        hints: what to tell the user per kind of failure (default :class:`Hints`).
        on_status: a caller's own error for a final HTTP status (e.g. 413 with its upload
            limit); None from it: the usual message.
        sleep: waits between attempts (seconds).

    Raises:
        RemoteError: a failure that is not retried, or the last attempt's (one line;
            the client's exception is its ``__cause__``).
    """
    hints = hints or Hints()
    for attempt in range(1, policy.attempts + 1):
        try:
            return request()
        except Exception as exc:
            if not _client_error(exc):
                raise
            failure = map_error(exc, timeout)
            if not failure.retryable or attempt == policy.attempts:
                err = on_status(failure) if on_status and failure.kind == "status" else None
                raise (err or _error(failure, where, attempt, hints)) from exc
        delay = policy.delay(attempt, failure.retry_after)
        log.info("%s: %s; retry %d in %.1f s", where, failure.what, attempt, delay)
        sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def server_message(exc: Any, limit: int = 200) -> str:
    """The error text a server put in its body, in any of the usual shapes (OpenAI's
    ``{"error": {"message": ...}}``, FastAPI's ``{"detail": ...}``, a plain string...),
    as one line of at most ``limit`` characters; empty when there is none."""
    body = getattr(exc, "body", None)
    candidates: list[object] = []
    if isinstance(body, Mapping):
        err = body.get("error")
        detail = body.get("detail")
        if isinstance(err, Mapping):
            candidates.append(err.get("message"))
        candidates.append(err)
        if isinstance(detail, Mapping):  # FastAPI HTTPException(detail={"error": {...}})
            inner = detail.get("error")
            if isinstance(inner, Mapping):
                candidates.append(inner.get("message"))
            candidates.append(detail.get("message"))
        candidates.append(detail)
        candidates.append(body.get("message"))
        candidates.append(body.get("errors"))
    elif isinstance(body, str):
        candidates.append(body)
    for c in candidates:
        if isinstance(c, str) and c.strip():
            return excerpt(c, limit)
    if isinstance(body, list | Mapping):  # e.g. FastAPI's 422 validation list
        return excerpt(json.dumps(body), limit)
    try:
        return excerpt(exc.response.text, limit)
    except Exception:  # pragma: no cover - no response body at all
        return ""


def connection_reason(exc: BaseException) -> str:
    """'connection refused', 'name or service not known'... from the exception chain."""
    seen = set()
    current: BaseException | None = exc
    reason = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror.lower()
        text = str(current)
        if text and text != "Connection error.":
            reason = text
        current = current.__cause__ or current.__context__
    reason = " ".join(reason.split())
    if "refused" in reason.lower():
        return "connection refused"
    return reason or "connection failed"
