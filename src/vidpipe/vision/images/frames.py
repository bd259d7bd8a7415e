"""The source video's own pictures: the ``frames`` generator."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from vidpipe.types import Chunk
from vidpipe.vision.images.base import (
    GeneratedImage,
    ImageRecords,
    ProgressCallback,
    _record,
)

__all__ = ["FrameImages"]


class FrameImages:
    """The source video's picture at each chunk's midpoint (JPEG keyframes).

    Args:
        source_video: a local video file.
        quality: JPEG quality, 1-95.

    Raises (from :meth:`generate`):
        InputError, MediaError: the video is missing or has no decodable picture.
    """

    name = "frames"

    def __init__(self, source_video: str | os.PathLike[str], *, quality: int = 90) -> None:
        self.source_video = Path(source_video)
        self.quality = quality

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
        """``out_dir/frame-NNN.jpg`` per chunk: the frame at ``(start + end) / 2`` seconds."""
        from vidpipe.vision.keyframes import extract_keyframes

        total = len(chunks)
        if progress:
            progress(0.0, float(total))
        if not chunks:
            return []
        times = [max(0.0, (c.start + c.end) / 2) for c in chunks]
        paths = extract_keyframes(
            self.source_video, times, out_dir, prefix="frame", quality=self.quality
        )
        results = []
        for chunk, path in zip(chunks, paths, strict=True):
            with Image.open(path) as im:
                w, h = im.size
            image = GeneratedImage(
                chunk_id=chunk.id, path=path, prompt=None, generator=self.name, width=w, height=h
            )
            results.append(image)
            _record(catalog, media_id, Path(out_dir), image)
        if progress:
            progress(float(total), float(total))
        return results
