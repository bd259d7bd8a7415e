"""Pictures from Stable Diffusion WebUI's API: the ``sdwebui`` generator."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from PIL import Image

from vidpipe.errors import RemoteError, UsageError
from vidpipe.errors import excerpt as _one_line
from vidpipe.retry import retry_after, retryable_status
from vidpipe.types import Chunk
from vidpipe.vision.images.base import DEFAULT_HEIGHT, DEFAULT_WIDTH
from vidpipe.vision.images.models import _decode_png, _Remote, _to_size
from vidpipe.vision.images.prompts import DEFAULT_STYLE

__all__ = ["NEGATIVE_PROMPT", "SDWEBUI_DEFAULT_BASE", "SDWebUIGenerator"]

log = logging.getLogger(__name__)


NEGATIVE_PROMPT = "text, letters, words, caption, watermark, logo, signature, blurry, lowres"
"""Stable Diffusion negative prompt: no lettering, no artefacts."""


def _sd_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """Generation size for Stable Diffusion: the video's aspect ratio, sides multiple of 64."""
    ratio = height / width
    if width >= height:
        w = long_side
        h = max(64, round(long_side * ratio / 64) * 64)
    else:
        h = long_side
        w = max(64, round(long_side / ratio / 64) * 64)
    return int(w), int(h)


def _sd_error(response: Any) -> str:
    """The error message in a WebUI (FastAPI) error body, else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return _one_line(response.text or response.reason_phrase, 160)
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, list):  # FastAPI validation errors
            parts = []
            for d in detail[:3]:
                if isinstance(d, dict):
                    loc = ".".join(str(x) for x in d.get("loc", [])[1:])
                    parts.append(f"{loc}: {d.get('msg')}" if loc else str(d.get("msg")))
            return _one_line("; ".join(parts), 160)
        for key in ("errors", "detail", "error", "message"):
            if body.get(key):
                return _one_line(body[key], 160)
    return _one_line(body, 160)


SDWEBUI_DEFAULT_BASE = "http://127.0.0.1:7860"
"""Where Stable Diffusion WebUI listens when started with ``--api`` and no ``--port``."""


class SDWebUIGenerator(_Remote):
    """Pictures from Stable Diffusion WebUI's API (AUTOMATIC1111, Forge, SD.Next).

    Sends ``POST {base_url}/sdapi/v1/txt2img`` with ``prompt``, ``negative_prompt``,
    ``width``/``height`` (the video's aspect ratio, longer side ``gen_size``, multiples
    of 64), ``steps``, ``seed``, ``cfg_scale`` and ``sampler_name``; reads the first
    base64 PNG of ``images`` and scales/crops it to ``width`` x ``height``. The WebUI
    must run with ``--api``.

    Args:
        base_url: e.g. ``http://127.0.0.1:7860`` (None: :data:`SDWEBUI_DEFAULT_BASE`;
            the front ends pass the ``sdwebui_base`` setting).
        width, height: final picture size in pixels (the video's).
        gen_size: longer side of the generated picture in pixels (SD 1.5 likes 768,
            SDXL 1024).
        steps, cfg_scale, sampler_name: sampling parameters.
        seed: base seed; each picture uses ``seed + position``. ``None``: a seed derived
            from the prompt, so reruns with the same prompt give the same picture.
        negative_prompt: what to avoid (lettering by default).
        llm: writes the prompts (see :func:`~vidpipe.vision.images.prompts.image_prompt`);
            ``style``: appended to them.
        timeout: seconds per request; max_retries: retries after the first attempt on
            what :func:`vidpipe.retry.retryable_status` names (5xx, 408, 429...),
            timeouts and connection errors; ``backoff``, ``max_backoff``: seconds, the
            :class:`vidpipe.retry.RetryPolicy` waits (``Retry-After`` is honoured up to
            :data:`~vidpipe.vision.images.models.MAX_RETRY_AFTER`).

    Raises (from :meth:`generate`):
        RemoteError: HTTP error, unreachable server after retries, or a bad response.
    """

    name = "sdwebui"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        gen_size: int = 1024,
        steps: int = 25,
        cfg_scale: float = 6.5,
        sampler_name: str | None = "DPM++ 2M",
        seed: int | None = None,
        negative_prompt: str = NEGATIVE_PROMPT,
        llm: Any = None,
        style: str = DEFAULT_STYLE,
        timeout: float = 300.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__(
            width=width,
            height=height,
            llm=llm,
            style=style,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
        )
        self.base_url = (base_url or SDWEBUI_DEFAULT_BASE).rstrip("/")
        self.gen_size = int(gen_size)
        self.steps = int(steps)
        self.cfg_scale = float(cfg_scale)
        self.sampler_name = sampler_name
        self.seed = seed
        self.negative_prompt = negative_prompt
        self.where = f"Stable Diffusion WebUI at {self.base_url}"

    def _identity(self) -> dict[str, Any]:
        return {
            "base": self.base_url,
            "size": [self.width, self.height],
            "gen": self.gen_size,
            "steps": self.steps,
            "cfg": self.cfg_scale,
            "sampler": self.sampler_name,
            "seed": self.seed,
            "negative": self.negative_prompt,
        }

    def payload(self, prompt: str, position: int = 0) -> dict[str, Any]:
        """The txt2img JSON body for ``prompt`` (the picture at ``position``)."""
        w, h = _sd_size(self.width, self.height, self.gen_size)
        if self.seed is not None:
            seed = int(self.seed) + position
        else:
            seed = int(hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:8], 16) % 2**31
        body: dict[str, Any] = {
            "prompt": prompt,
            "negative_prompt": self.negative_prompt,
            "width": w,
            "height": h,
            "steps": self.steps,
            "cfg_scale": self.cfg_scale,
            "seed": seed,
            "batch_size": 1,
            "n_iter": 1,
            "send_images": True,
            "save_images": False,
        }
        if self.sampler_name:
            body["sampler_name"] = self.sampler_name
        return body

    def _make(
        self, chunk: Chunk, language: str, position: int, total: int, prompt: str
    ) -> Image.Image:
        data = self._post(self.payload(prompt, position))
        images = data.get("images") if isinstance(data, dict) else None
        if not isinstance(images, list) or not images or not isinstance(images[0], str):
            raise RemoteError(
                f"{self.where} answered without an image: {_one_line(data, 120)}",
                "check the WebUI's console",
            )
        return _to_size(_decode_png(images[0], self.where), self.width, self.height)

    def _post(self, body: dict[str, Any]) -> Any:
        import httpx

        url = f"{self.base_url}/sdapi/v1/txt2img"
        what, error = "", None
        timeout = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))
        with httpx.Client(timeout=timeout) as client:
            for attempt in range(self.retry.attempts):
                after = None
                self.requests += 1
                try:
                    response = client.post(url, json=body)
                except httpx.TimeoutException as exc:
                    what, error = f"no answer within {self.timeout:g} s", exc
                except httpx.TransportError as exc:
                    what, error = f"connection failed: {_one_line(exc, 100)}", exc
                except httpx.InvalidURL as exc:
                    raise UsageError(f"invalid Stable Diffusion WebUI URL '{url}'") from exc
                else:
                    status = response.status_code
                    if status < 400:
                        try:
                            return response.json()
                        except ValueError as exc:
                            raise RemoteError(
                                f"{self.where} answered with something that is not JSON: "
                                f"{_one_line(response.text, 80)}",
                                "is this the WebUI started with --api?",
                            ) from exc
                    said = _sd_error(response)
                    if status == 404:
                        raise RemoteError(
                            f"{self.where} has no /sdapi/v1/txt2img (HTTP 404)",
                            "start the WebUI with --api",
                        )
                    if not retryable_status(status):
                        raise RemoteError(
                            f"{self.where} answered HTTP {status}: {said}",
                            "check the prompt, size and sampler settings",
                        )
                    what, error = f"HTTP {status}: {said}", None
                    after = retry_after(response.headers)
                if attempt >= self.retry.max_retries:
                    raise self._give_up(attempt + 1, what, error)
                delay = self.retry.delay(attempt + 1, after)
                log.info("txt2img failed (%s); retry %d in %.1f s", what, attempt + 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover
