"""Pictures from an OpenAI-compatible images endpoint: the ``openai`` generator.

(Named ``openai_images`` so that it is never mistaken for the ``openai`` client library.)
"""

from __future__ import annotations

import base64
from typing import Any

from PIL import Image

from vidpipe import remote
from vidpipe.errors import RemoteError
from vidpipe.errors import excerpt as _one_line
from vidpipe.retry import PLACEHOLDER_API_KEY
from vidpipe.types import Chunk
from vidpipe.vision.images.base import DEFAULT_HEIGHT, DEFAULT_WIDTH
from vidpipe.vision.images.models import _decode_png, _Remote, _to_size
from vidpipe.vision.images.prompts import DEFAULT_STYLE

__all__ = ["OPENAI_HINTS", "OpenAIImageGenerator"]


def _openai_size(width: int, height: int) -> str:
    """The closest size DALL-E 3 offers: ``1792x1024``, ``1024x1792`` or ``1024x1024``."""
    ratio = width / height
    if ratio >= 1.3:
        return "1792x1024"
    if ratio <= 1 / 1.3:
        return "1024x1792"
    return "1024x1024"


OPENAI_HINTS = remote.Hints.named(
    "VIDPIPE_IMAGE_BASE",
    "VIDPIPE_IMAGE_KEY",
    "VIDPIPE_IMAGE_MODEL",
    request="check the image model, size and prompt",
    retries="check that the server is running and has a model loaded",
)
"""What the ``openai`` image generator's errors tell the user to do."""


class OpenAIImageGenerator(_Remote):
    """Pictures from an OpenAI-compatible images endpoint (``/v1/images/generations``).

    Uses the official ``openai`` client: ``client.images.generate(model=..., prompt=...,
    size=..., response_format="b64_json", n=1)``; the picture is scaled/cropped to
    ``width`` x ``height``. A response carrying a ``url`` instead of ``b64_json`` is
    downloaded.

    Every setting is an argument (the front ends pass the ``image_base``, ``image_key``
    and ``image_model`` settings: :meth:`vidpipe.config.Settings.image_options`).

    Args:
        base_url: endpoint base, e.g. ``http://127.0.0.1:8000/v1`` (None: the client's
            own: ``OPENAI_BASE_URL`` or api.openai.com).
        api_key: key (None: a placeholder local servers accept).
        model: model name (None: ``dall-e-3``).
        width, height: final picture size in pixels.
        size: size string sent (default ``1792x1024`` for landscape, ``1024x1792`` for
            portrait, ``1024x1024`` for square-ish videos).
        quality: sent when given (``standard``/``hd`` for DALL-E 3).
        llm, style, timeout, max_retries, backoff, max_backoff: as for
            :class:`~vidpipe.vision.images.sdwebui.SDWebUIGenerator`.

    Raises (from :meth:`generate`):
        RemoteError: HTTP error, unreachable endpoint after retries, or a bad response.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        *,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        size: str | None = None,
        quality: str | None = None,
        llm: Any = None,
        style: str = DEFAULT_STYLE,
        timeout: float = 120.0,
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
        self.base_url = base_url or None
        self.api_key = api_key or PLACEHOLDER_API_KEY
        remote.check_endpoint(
            self.base_url,
            self.api_key,
            "--images openai",
            "VIDPIPE_IMAGE_BASE",
            "VIDPIPE_IMAGE_KEY or OPENAI_API_KEY",
            option="--image-base",
        )
        self.model = model or "dall-e-3"
        self.size = size or _openai_size(self.width, self.height)
        self.quality = quality
        self.where = self.base_url or "the OpenAI API"
        self._client: Any = None

    def _identity(self) -> dict[str, Any]:
        return {
            "base": self.base_url,
            "model": self.model,
            "size": [self.width, self.height],
            "api_size": self.size,
            "quality": self.quality,
        }

    def client(self) -> Any:
        """The ``openai.OpenAI`` client (created on first use; retries are vidpipe's)."""
        if self._client is None:
            self._client = remote.make_client(self.base_url, self.api_key, self.timeout)
        return self._client

    def _make(
        self, chunk: Chunk, language: str, position: int, total: int, prompt: str
    ) -> Image.Image:

        kwargs: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "size": self.size,
            "response_format": "b64_json",
            "n": 1,
        }
        if self.quality:
            kwargs["quality"] = self.quality
        client = self.client()

        def send() -> Any:
            self.requests += 1
            return client.images.generate(**kwargs)

        resp = remote.call(
            send, where=self.where, policy=self.retry, timeout=self.timeout, hints=OPENAI_HINTS
        )
        return _to_size(self._image_of(resp), self.width, self.height)

    def _image_of(self, resp: Any) -> Image.Image:
        try:
            item = resp.data[0]
        except (AttributeError, IndexError, TypeError) as exc:
            raise RemoteError(
                f"{self.where} answered without an image: {_one_line(resp, 120)}"
            ) from exc
        b64 = getattr(item, "b64_json", None)
        if b64:
            return _decode_png(b64, self.where)
        url = getattr(item, "url", None)
        if url:
            import httpx

            try:
                r = httpx.get(url, timeout=self.timeout, follow_redirects=True)
                r.raise_for_status()
            except httpx.HTTPError as exc:
                raise RemoteError(
                    f"cannot download the image {self.where} made: {_one_line(exc, 100)}"
                ) from exc
            return _decode_png(base64.b64encode(r.content).decode(), self.where)
        raise RemoteError(f"{self.where} answered without an image: {_one_line(item, 120)}")
