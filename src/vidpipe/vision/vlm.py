"""Frame descriptions from any OpenAI-compatible vision model (chat completions).

Only sampled still frames are sent, never the video: each is downscaled so its
longer side is at most :data:`MAX_SIDE` pixels, encoded as JPEG and embedded as a
``data:image/jpeg;base64,...`` URI in an ``image_url`` content part, the format
OpenAI, Ollama, vLLM, llama.cpp server and DashScope's compatible mode accept.

Requests are paced by a requests-per-minute limiter (:class:`vidpipe.retry.RateLimiter`)
shared by every call to the same endpoint and model in this process, and retried as
:mod:`vidpipe.retry` says (:func:`~vidpipe.retry.retryable_status`: 429, 5xx...;
connection errors and timeouts; full-jitter exponential backoff or ``Retry-After``)
through the one OpenAI-compatible client helper, :mod:`vidpipe.remote`.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from pathlib import Path

from PIL import Image

from vidpipe import remote
from vidpipe.errors import InputError, RemoteError, UsageError
from vidpipe.retry import RateLimiter, RetryPolicy

__all__ = [
    "DEFAULT_PROMPT",
    "DEFAULT_RPM",
    "MAX_SIDE",
    "describe_frames",
    "frame_data_uri",
    "limiter_for",
]

#: Longest side, in pixels, of a frame sent to the model.
MAX_SIDE = 768
#: Attempts per request (the first try plus retries).
MAX_ATTEMPTS = 4
#: Seconds: the first retry's longest wait; doubles each time, capped at :data:`MAX_BACKOFF`
#: (also the cap on a ``Retry-After``).
BACKOFF = 1.0
MAX_BACKOFF = 30.0
#: Seconds to wait for one response.
TIMEOUT = 120.0
#: Requests per minute when none is given (the ``vlm_rpm`` setting's default).
DEFAULT_RPM = 20.0

HINTS = remote.Hints.named(
    "VIDPIPE_VLM_BASE",
    "VIDPIPE_VLM_KEY",
    "VIDPIPE_VLM_MODEL",
    retries="the service is overloaded or rate-limited; lower VIDPIPE_VLM_RPM or retry later",
)
"""What the vision model's errors tell the user to do."""

DEFAULT_PROMPT = (
    "These are frames sampled in time order from one shot of a video. "
    "Describe in one or two sentences what is seen: setting, people or animals, "
    "objects and action. Do not guess at sound or speech."
)


_limiters: dict[tuple[str, str, float], RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(base_url: str, model: str, rpm: float) -> RateLimiter:
    """The process-wide limiter for one endpoint, model and requests-per-minute value:
    request starts at least ``60 / rpm`` seconds apart."""
    if not rpm or rpm <= 0:
        raise UsageError(f"vision requests per minute must be > 0, got {rpm}", "set vlm_rpm")
    key = (base_url.rstrip("/"), model, float(rpm))
    with _limiters_lock:
        if key not in _limiters:
            _limiters[key] = RateLimiter(1, window=60.0 / float(rpm), concurrency=None)
        return _limiters[key]


def frame_data_uri(frame: str | os.PathLike[str] | Image.Image, max_side: int = MAX_SIDE) -> str:
    """A still image as a ``data:image/jpeg;base64,...`` URI, longer side ≤ ``max_side`` px."""
    if isinstance(frame, Image.Image):
        img = frame.copy()
    else:
        try:
            with Image.open(Path(frame)) as src:
                img = src.convert("RGB")
        except OSError as exc:
            raise InputError(f"{frame}: not a readable image ({exc})", "check the file") from exc
    img = img.convert("RGB")
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def describe_frames(
    frames: list[Path],
    prompt: str = DEFAULT_PROMPT,
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    rpm: float = DEFAULT_RPM,
) -> str:
    """Ask a vision model to describe a few frames; return its text.

    Args:
        frames: JPEG/PNG paths (or Pillow images), sent in this order.
        prompt: the instruction sent before the images.
        base_url: OpenAI-compatible API root, e.g. ``http://127.0.0.1:11434/v1``.
        model: model name the endpoint knows, e.g. ``"llava"``.
        api_key: bearer key; local servers accept any
            (:data:`~vidpipe.retry.PLACEHOLDER_API_KEY` is sent if unset).
        rpm: requests per minute allowed (request starts are ≥ ``60 / rpm`` s apart).

    Returns:
        The model's answer, stripped.

    Raises:
        UsageError: no base URL, model or frames; bad ``rpm``.
        RemoteError: connection failure, HTTP error after retries, or a reply
            without text (one line).
    """
    if not base_url or not model:
        raise UsageError(
            "frame descriptions need a vision endpoint and model",
            "set VIDPIPE_VLM_BASE and VIDPIPE_VLM_MODEL",
        )
    if not frames:
        raise UsageError("no frames to describe")
    limiter = limiter_for(base_url, model, rpm)
    content: list[dict] = [{"type": "text", "text": prompt}]
    for frame in frames:
        content.append({"type": "image_url", "image_url": {"url": frame_data_uri(frame)}})
    client = remote.make_client(base_url, api_key, TIMEOUT)
    messages = [{"role": "user", "content": content}]

    def send():
        limiter.acquire_start()
        return client.chat.completions.create(model=model, messages=messages)

    reply = remote.call(
        send,
        where=f"vision model at {base_url}",
        policy=RetryPolicy(MAX_ATTEMPTS - 1, BACKOFF, MAX_BACKOFF, MAX_BACKOFF),
        timeout=TIMEOUT,
        hints=HINTS,
    )
    try:
        text = reply.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        text = None
    if not isinstance(text, str) or not text.strip():
        raise RemoteError(
            f"vision model at {base_url} returned no text",
            "check that the model accepts images",
        )
    return text.strip()
