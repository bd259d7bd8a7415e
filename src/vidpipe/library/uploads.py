"""Uploaded files: what the HTTP service received (``POST /v1/files``), by file id.

A file id is ``file-`` and 24 hex digits; the file itself is ``<uploads>/<id>/<name>``
(``name`` sanitised, with its suffix). Rows are in the catalog's ``uploads`` table
(migration 0007). :func:`sniff_type` tells what the bytes are, whatever the client said.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from vidpipe.errors import NotFoundError
from vidpipe.library.catalog import Catalog
from vidpipe.library.download import sniff_image, sniff_media
from vidpipe.library.models import UploadRow, utcnow

__all__ = [
    "FILE_ID",
    "Upload",
    "get_upload",
    "new_file_id",
    "record_upload",
    "safe_name",
    "sniff_type",
]

#: the shape of a file id
FILE_ID = re.compile(r"^file-[0-9a-f]{24}$")

_MEDIA_MIME = {
    "mp4": "video/mp4",
    "matroska": "video/x-matroska",
    "wav": "audio/wav",
    "avi": "video/x-msvideo",
    "mp3": "audio/mpeg",
    "mpeg-audio": "audio/mpeg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "aiff": "audio/aiff",
    "flv": "video/x-flv",
    "asf": "video/x-ms-asf",
    "amr": "audio/amr",
    "mpeg-ps": "video/mpeg",
    "mpeg-ts": "video/mp2t",
}


@dataclass(frozen=True)
class Upload:
    """A received file: ``id``, client ``name``, absolute ``path``, ``size`` in bytes,
    ``sha256`` (hex), sniffed ``content_type`` (MIME), ``created_at`` (UTC)."""

    id: str
    name: str
    path: Path
    size: int
    sha256: str
    content_type: str
    created_at: datetime


def new_file_id() -> str:
    """A new random file id (``file-`` + 24 hex digits, 96 random bits)."""
    return f"file-{secrets.token_hex(12)}"


def sniff_type(head: bytes) -> str | None:
    """The MIME type of a file from its first bytes (at least 512 are best): audio and
    video containers (:func:`vidpipe.library.download.sniff_media`), PNG, JPEG, WebP,
    GIF, PDF, and UTF-8 text (``text/plain``); ``None`` for anything else."""
    media = sniff_media(head)
    if media is not None:
        return _MEDIA_MIME.get(media, "application/octet-stream")
    image = sniff_image(head)
    if image is not None:
        return f"image/{image}"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # not merely a character cut at the end
                return None
        return "text/plain"
    return None


_SUFFIX = {
    "video/mp4": ".mp4",
    "video/x-matroska": ".mkv",
    "audio/wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/flac": ".flac",
    "audio/ogg": ".ogg",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}


def safe_name(name: str | None, content_type: str) -> str:
    """A file name safe to store: the last path part of ``name``, letters, digits and
    ``._-`` only (others become ``_``), at most 100 characters, never hidden, with a
    suffix (the sniffed type's when ``name`` has none)."""
    base = unicodedata.normalize("NFKC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "upload"
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = f".{suffix[:10]}" if suffix else _SUFFIX.get(content_type, ".bin")
    return stem[: 100 - len(suffix)] + suffix


def _upload(row: UploadRow) -> Upload:
    created = row.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return Upload(
        id=row.id,
        name=row.name,
        path=Path(row.path),
        size=row.size,
        sha256=row.sha256,
        content_type=row.content_type,
        created_at=created,
    )


def record_upload(
    catalog: Catalog,
    file_id: str,
    name: str,
    path: str | Path,
    size: int,
    sha256: str,
    content_type: str,
) -> Upload:
    """Store the row of an upload whose file is already at ``path``."""
    row = UploadRow(
        id=file_id,
        name=name,
        path=str(Path(path).absolute()),
        size=int(size),
        sha256=sha256,
        content_type=content_type,
        created_at=utcnow(),
    )
    with catalog.session() as s:
        s.add(row)
    return _upload(row)


def get_upload(catalog: Catalog, file_id: str) -> Upload:
    """The upload ``file_id``.

    Raises:
        NotFoundError: no such file id (or its file is gone).
    """
    hint = "upload it with POST /v1/files and use the id it returns"
    if not FILE_ID.match(file_id or ""):
        raise NotFoundError(f"no file {file_id}", hint)
    with catalog.session(write=False) as s:
        row = s.scalars(select(UploadRow).where(UploadRow.id == file_id)).first()
        if row is None:
            raise NotFoundError(f"no file {file_id}", hint)
        up = _upload(row)
    if not up.path.is_file():
        raise NotFoundError(f"the file of {file_id} is gone", hint)
    return up
