"""Shared parts of the generators that ask an image model (``sdwebui``, ``openai``).

``_Remote``: size checks, prompts (:func:`vidpipe.vision.images.prompts.image_prompt`),
the provenance key (which includes the LLM and the style), retry policy; and the
decoding of the base64 pictures the endpoints answer with.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from PIL import Image, ImageOps

from vidpipe.errors import RemoteError, UsageError
from vidpipe.errors import excerpt as _one_line
from vidpipe.retry import RetryPolicy
from vidpipe.types import Chunk
from vidpipe.vision.images.base import _PngGenerator
from vidpipe.vision.images.prompts import _llm_identity, image_prompt

__all__ = ["MAX_RETRY_AFTER"]


MAX_RETRY_AFTER = 60.0
"""Longest ``Retry-After`` an image endpoint may make a retry wait, in seconds."""


def _decode_png(data: str, where: str) -> Image.Image:
    """A base64 image from a response, decoded and checked.

    Raises:
        RemoteError: not base64 or not a readable picture.
    """
    if isinstance(data, str) and data.startswith("data:") and "," in data:
        data = data.split(",", 1)[1]
    try:
        raw = base64.b64decode(data, validate=False)
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (binascii.Error, TypeError, ValueError, OSError) as exc:
        raise RemoteError(
            f"{where} sent an image that is not a readable picture ({_one_line(exc, 80)})"
        ) from exc
    return img


def _to_size(img: Image.Image, width: int, height: int) -> Image.Image:
    """``img`` scaled and centre-cropped to exactly ``width`` x ``height`` pixels (RGB)."""
    img = img.convert("RGB")
    if img.size == (width, height):
        return img
    return ImageOps.fit(img, (width, height), Image.Resampling.LANCZOS)


class _Remote(_PngGenerator):
    """Shared parts of the image-model generators: prompts, sizes, retry delays."""

    where = "the image endpoint"

    def __init__(
        self,
        *,
        width: int,
        height: int,
        llm: Any,
        style: str,
        timeout: float,
        max_retries: int,
        backoff: float,
        max_backoff: float,
    ) -> None:
        if width < 64 or height < 64:
            raise UsageError(f"image size {width}x{height} is too small", "use at least 64x64")
        self.width = int(width)
        self.height = int(height)
        self.llm = llm
        self.style = style
        self.timeout = timeout
        self.retry = RetryPolicy(max(0, int(max_retries)), backoff, max_backoff, MAX_RETRY_AFTER)
        self.requests = 0
        """Request attempts sent to the image endpoint."""

    def _key_fields(self, chunk: Chunk, language: str, position: int, total: int) -> dict[str, Any]:
        fields = super()._key_fields(chunk, language, position, total)
        return {**fields, "llm": _llm_identity(self.llm), "style": self.style}

    def _prompt(self, chunk: Chunk, language: str, position: int, total: int) -> str:
        return image_prompt(chunk, language, self.llm, style=self.style)

    def _give_up(self, attempts: int, what: str, exc: BaseException | None) -> RemoteError:
        err = RemoteError(
            f"{self.where} failed after {attempts} attempts: {what}",
            "check that the server is running and has a model loaded",
        )
        err.__cause__ = exc
        return err
