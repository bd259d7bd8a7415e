"""The interface every image generator implements, its records, and PNG provenance.

:class:`ImageGenerator` (one picture per chunk) and :class:`GeneratedImage` (one
picture), the catalog hook :class:`ImageRecords`, the PNG files with their provenance
text chunks (:func:`write_png`, :func:`read_image_metadata`) and
``_PngGenerator``, the shared loop of the generators that make PNGs (cards,
sdwebui, openai). See :mod:`vidpipe.vision.images` for which generator to choose.
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from PIL import Image, PngImagePlugin
from pydantic import BaseModel, Field

from vidpipe.files import atomic_write
from vidpipe.text.language import guess_language
from vidpipe.types import Chunk

__all__ = [
    "DEFAULT_HEIGHT",
    "DEFAULT_WIDTH",
    "GENERATOR_SPECS",
    "META_CHUNK",
    "META_GENERATOR",
    "META_KEY",
    "META_PROMPT",
    "SAFE_BOTTOM",
    "GeneratedImage",
    "ImageGenerator",
    "ImageRecords",
    "ProgressCallback",
    "read_image_metadata",
    "write_png",
]


class ImageRecords(Protocol):
    """Where generated pictures are recorded (the catalog's ``images`` table implements
    it: :meth:`vidpipe.library.catalog.Catalog.record_image`). Passed in by the caller:
    this building block never opens the catalog itself."""

    def record_image(
        self,
        *,
        chunk_id: int,
        path: str | os.PathLike[str],
        generator: str,
        width: int,
        height: int,
        prompt: str | None = None,
        media_id: int | None = None,
        work_dir: str | os.PathLike[str] | None = None,
    ) -> int:
        """Record the picture made for one chunk; returns the row id."""
        ...


DEFAULT_WIDTH = 1920
"""Default picture width in pixels (the video's)."""
DEFAULT_HEIGHT = 1080
"""Default picture height in pixels."""

SAFE_BOTTOM = 0.22
"""Fraction of the frame height at the bottom kept free of card text (burned subtitles)."""

GENERATOR_SPECS = ("cards", "folder:DIR", "frames", "sdwebui", "openai")
"""The spec strings :func:`get_image_generator` accepts."""


META_PROMPT = "vidpipe:prompt"
META_GENERATOR = "vidpipe:generator"
META_CHUNK = "vidpipe:chunk"
META_KEY = "vidpipe:key"


ProgressCallback = Callable[[float, float], None]
"""``progress(images_done, images_total)``."""


# --------------------------------------------------------------------------- interface


class GeneratedImage(BaseModel):
    """One picture for one chunk.

    ``path`` is the image file (PNG for generated pictures, JPEG for frames, the
    user's own file for ``folder``); ``prompt`` the text it was made from (for cards:
    the headline and key phrases, one per line; ``None`` for folder images and
    frames); ``width``/``height`` its size in pixels.
    """

    chunk_id: int
    path: Path
    prompt: str | None = None
    generator: str = Field(description="Generator name: cards, folder, frames, sdwebui, openai.")
    width: int
    height: int


@runtime_checkable
class ImageGenerator(Protocol):
    """Makes one picture per chunk.

    ``generate`` returns one :class:`GeneratedImage` per chunk, in chunk order. When
    ``catalog`` is given each picture is recorded there (:meth:`ImageRecords.record_image`)
    under ``media_id`` (optional) and the output folder.
    """

    name: str

    def generate(
        self,
        chunks: list[Chunk],
        out_dir: Path,
        *,
        language: str | None = None,
        progress: ProgressCallback | None = None,
        catalog: ImageRecords | None = None,
        media_id: int | None = None,
    ) -> list[GeneratedImage]: ...


# --------------------------------------------------------------------------- PNG files


def write_png(img: Image.Image, path: str | os.PathLike[str], metadata: dict[str, str]) -> Path:
    """Save ``img`` as PNG at ``path`` atomically, with ``metadata`` as UTF-8 text chunks.

    Raises:
        OutputError: the folder cannot be written.
    """
    info = PngImagePlugin.PngInfo()
    for key, value in metadata.items():
        info.add_itxt(key, str(value))
    dest = Path(path)
    with atomic_write(dest, "wb") as fh:
        img.save(fh, format="PNG", pnginfo=info, compress_level=6)
    return dest


def read_image_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The text chunks of a PNG (``vidpipe:prompt``, ``vidpipe:generator``...).

    Returns an empty dict for a missing, unreadable or non-PNG file.
    """
    try:
        with Image.open(path) as im:
            if im.format != "PNG":
                return {}
            text = dict(getattr(im, "text", {}) or {})
    except (OSError, ValueError, SyntaxError):
        return {}
    return {str(k): str(v) for k, v in text.items()}


def _key(payload: dict[str, Any]) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _record(
    catalog: ImageRecords | None, media_id: int | None, out_dir: Path, image: GeneratedImage
) -> None:
    if catalog is None:
        return
    catalog.record_image(
        chunk_id=image.chunk_id,
        path=str(image.path),
        generator=image.generator,
        width=image.width,
        height=image.height,
        prompt=image.prompt,
        media_id=media_id,
        work_dir=str(out_dir.resolve()),
    )


class _PngGenerator(ABC):
    """Shared loop of the generators that make PNGs: draw or fetch, save, record."""

    name = "png"

    @abstractmethod
    def _identity(self) -> dict[str, Any]:
        """Parameters that change the picture (part of each provenance key)."""

    @abstractmethod
    def _prompt(self, chunk: Chunk, language: str, position: int, total: int) -> str:
        """The prompt (or card text) recorded with the picture of ``chunk``."""

    @abstractmethod
    def _make(
        self, chunk: Chunk, language: str, position: int, total: int, prompt: str
    ) -> Image.Image:
        """Draw or fetch the picture of ``chunk``, at the generator's size."""

    def _key_fields(self, chunk: Chunk, language: str, position: int, total: int) -> dict[str, Any]:
        """What the picture of ``chunk`` depends on (hashed into its provenance key);
        generators add their own fields."""
        return {
            "generator": self.name,
            "params": self._identity(),
            "text": chunk.text,
            "language": language,
        }

    def _chunk_key(self, chunk: Chunk, language: str, position: int, total: int) -> str:
        return _key(self._key_fields(chunk, language, position, total))

    def generate(
        self,
        chunks: list[Chunk],
        out_dir: Path,
        *,
        language: str | None = None,
        progress: ProgressCallback | None = None,
        catalog: ImageRecords | None = None,
        media_id: int | None = None,
    ) -> list[GeneratedImage]:
        """One PNG per chunk in ``out_dir`` (``<name>-NNN.png``), in chunk order, each
        drawn or requested now (a file already there is replaced).

        Args:
            chunks: the narration's chunks (times in seconds).
            out_dir: folder for the PNGs (created).
            language: the text's ISO 639-1 code (``None``: guessed per chunk).
            progress: called as ``progress(done, total)``.
            catalog: record each picture there (optional), with ``media_id``.

        Raises:
            RemoteError: an image or LLM endpoint failed (remote generators).
            OutputError: ``out_dir`` cannot be written.
        """
        out = Path(out_dir)
        total = len(chunks)
        results: list[GeneratedImage] = []
        if progress:
            progress(0.0, float(total))
        for pos, chunk in enumerate(chunks):
            lang = language or guess_language(chunk.text)
            path = out / f"{self.name}-{pos + 1:03d}.png"
            key = self._chunk_key(chunk, lang, pos, total)
            prompt = self._prompt(chunk, lang, pos, total)
            img = self._make(chunk, lang, pos, total, prompt)
            write_png(
                img,
                path,
                {
                    META_PROMPT: prompt,
                    META_GENERATOR: self.name,
                    META_CHUNK: str(chunk.id),
                    META_KEY: key,
                },
            )
            size = img.size
            image = GeneratedImage(
                chunk_id=chunk.id,
                path=path,
                prompt=prompt,
                generator=self.name,
                width=size[0],
                height=size[1],
            )
            results.append(image)
            _record(catalog, media_id, out, image)
            if progress:
                progress(float(pos + 1), float(total))
        return results
