"""The user's own pictures from a folder: the ``folder:DIR`` generator."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from vidpipe.errors import InputError
from vidpipe.files import image_files
from vidpipe.types import Chunk
from vidpipe.vision.images.base import (
    GeneratedImage,
    ImageRecords,
    ProgressCallback,
    _record,
)

__all__ = ["FolderImages"]


class FolderImages:
    """The user's own pictures from a folder, in natural name order.

    The folder's pictures as :func:`vidpipe.files.image_files` finds them (JPEG, PNG,
    WebP, TIFF, BMP, GIF by suffix; hidden and other files are ignored). With fewer
    images than chunks the images repeat from the first; with more, the first ones are
    used. Each used image
    is decoded once to check it.

    Args:
        folder: the folder of images.

    Raises (from :meth:`generate`):
        InputError: the folder is missing, empty of images, or an image is unreadable.
    """

    name = "folder"

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).expanduser()

    def files(self) -> list[Path]:
        """The image files of the folder in natural name order.

        Raises:
            InputError: the folder does not exist or has no image files.
        """
        files = image_files(self.folder, "give folder:DIR with your images")
        if not files:
            raise InputError(
                f"{self.folder}: no images in the folder",
                "add JPEG/PNG/WebP files, or use --images cards",
            )
        return files

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
        """The folder's images assigned to ``chunks`` in order (cycled), not copied.

        ``out_dir`` is only used as the catalog's work folder key.

        Raises:
            InputError: missing or empty folder, or an unreadable/corrupt image (named).
        """
        files = self.files()
        total = len(chunks)
        if progress:
            progress(0.0, float(total))
        sizes: dict[Path, tuple[int, int]] = {}
        results: list[GeneratedImage] = []
        for pos, chunk in enumerate(chunks):
            path = files[pos % len(files)]
            if path not in sizes:
                sizes[path] = _check_image(path)
            w, h = sizes[path]
            image = GeneratedImage(
                chunk_id=chunk.id, path=path, prompt=None, generator=self.name, width=w, height=h
            )
            results.append(image)
            _record(catalog, media_id, Path(out_dir), image)
            if progress:
                progress(float(pos + 1), float(total))
        return results


def _check_image(path: Path) -> tuple[int, int]:
    """Decode ``path`` completely; its display size in pixels (EXIF rotation applied).

    Raises:
        InputError: not readable, not an image, or truncated/corrupt.
    """
    try:
        with Image.open(path) as im:
            im.load()
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file", "check the folder") from exc
    except PermissionError as exc:
        raise InputError(f"{path}: permission denied", "check the file's permissions") from exc
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(
            f"{path}: not a readable image ({reason})", "replace or remove the file"
        ) from exc
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
