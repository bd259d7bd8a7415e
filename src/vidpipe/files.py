"""File helpers: atomic writes so an interrupted run never leaves a half-written output."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from vidpipe.errors import InputError, OutputError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path`` and rename it over ``path`` on success.

    The rename is atomic on POSIX and Windows (``os.replace``), so readers see either
    the old file or the complete new one, never a partial write. On an exception the
    temporary file is removed and ``path`` is untouched.

    Args:
        path: destination file.
        mode: ``"w"`` (text, UTF-8 by default) or ``"wb"``.
        **kwargs: passed to :func:`open` (``encoding``, ``newline``...).

    Raises:
        OutputError: the folder cannot be created or written.
    """
    dest = Path(path)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise OutputError(
            f"cannot write to {dest.parent}: {exc.strerror or exc}",
            "choose another output folder with -o",
        ) from exc
    try:
        # mkstemp creates 0600 files; give the result the mode open() would (0666 & ~umask).
        if hasattr(os, "fchmod"):  # POSIX
            os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once at import: os.umask can only be read by setting it


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it over ``path`` on success.

    For writers that need a file name rather than a file object (encoders, PyAV).

    Raises:
        OutputError: the folder cannot be created.
    """
    dest = Path(path)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create {dest.parent}: {exc.strerror or exc}", "choose another output path"
        ) from exc
    tmp = dest.with_name(f".{dest.stem}.{os.getpid()}.part{dest.suffix}")
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def check_readable_file(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` is an existing, readable, regular file.

    Returns:
        The path as a :class:`~pathlib.Path`.

    Raises:
        InputError: missing, a directory, or not readable. (An empty file is a
            :class:`~vidpipe.errors.MediaError`, raised by the decoders.)
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file", "check the path")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a media file", "pass the files inside it")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: permission denied", "check the file's permissions")
    return p


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in ``chunk``-byte blocks (1 MiB by default)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
