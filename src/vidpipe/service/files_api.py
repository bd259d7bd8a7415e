"""``POST /v1/files`` (multipart upload, streamed to disk) and ``GET /v1/files/{file_id}``.

The body is parsed as it arrives (``python-multipart``'s streaming parser, off the event
loop): the part named ``file`` goes straight to a temporary file in the uploads folder
while its size is counted and its sha256 computed; past ``max_file_bytes`` the upload
stops with 413 and the temporary file is removed, so nothing over the limit stays on
disk. The type is sniffed from the bytes (:func:`vidpipe.library.uploads.sniff_type`);
a file that is none of media, image, PDF or text is refused with 415. The answer's
``id`` (``file-...``) names the file in job inputs (``POST /v1/jobs``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from datetime import datetime
from pathlib import Path

from anyio import to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel
from python_multipart.multipart import MultipartParser, parse_options_header

from vidpipe.errors import MediaError, TooLargeError, UsageError
from vidpipe.files import ensure_dir
from vidpipe.library.uploads import (
    get_upload,
    new_file_id,
    record_upload,
    safe_name,
    sniff_type,
)
from vidpipe.service.errors import error_responses

__all__ = ["FileInfo", "router"]

router = APIRouter(tags=["files"])

#: bytes of the file's start kept for sniffing its type
HEAD_BYTES = 4096


class FileInfo(BaseModel):
    """An uploaded file: its ``id`` for job inputs, the stored ``name``, ``size`` in
    bytes, ``sha256`` (hex) and the ``content_type`` sniffed from its bytes."""

    id: str
    name: str
    size: int
    sha256: str
    content_type: str
    created_at: datetime


def _info(up) -> FileInfo:
    return FileInfo(
        id=up.id,
        name=up.name,
        size=up.size,
        sha256=up.sha256,
        content_type=up.content_type,
        created_at=up.created_at,
    )


class _Receiver:
    """Callbacks of the multipart parser: the ``file`` part into ``tmp``."""

    def __init__(self, tmp: Path, limit: int) -> None:
        self.tmp, self.limit = tmp, limit
        self.fh = None
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.filename: str | None = None
        self.found = False
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self._current = False

    def on_part_begin(self) -> None:
        self._headers = {}
        self._current = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if params.get(b"name") == b"file" and not self.found:
            self.found = self._current = True
            raw = params.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None
            self.fh = open(self.tmp, "xb")  # noqa: SIM115 - closed in on_part_end/close

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._current:
            return
        chunk = data[start:end]
        self.size += len(chunk)
        if self.size > self.limit:
            raise TooLargeError(
                f"file over the upload limit of {self.limit} bytes",
                "send a smaller file (VIDPIPE_SERVICE_MAX_FILE_BYTES sets the limit)",
            )
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self.digest.update(chunk)
        self.fh.write(chunk)

    def on_part_end(self) -> None:
        if self._current:
            self.close()
            self._current = False

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


@router.post(
    "/v1/files",
    status_code=201,
    response_model=FileInfo,
    summary="Upload a file (multipart, part 'file')",
    responses=error_responses(400, 413, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
async def upload_file(request: Request) -> FileInfo:
    """Store the part named ``file``; answer its id, size, sha256 and sniffed type."""
    config = request.app.state.config
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UsageError(
            "the upload is not multipart/form-data",
            "send the file as the multipart part 'file' (curl -F file=@talk.mp4)",
        )
    file_id = new_file_id()
    folder = ensure_dir(Path(config.uploads_dir) / file_id)
    recv = _Receiver(folder / ".upload.part", config.max_file_bytes)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": recv.on_part_begin,
            "on_header_field": recv.on_header_field,
            "on_header_value": recv.on_header_value,
            "on_header_end": recv.on_header_end,
            "on_headers_finished": recv.on_headers_finished,
            "on_part_data": recv.on_part_data,
            "on_part_end": recv.on_part_end,
        },
    )
    done = False
    try:
        async for chunk in request.stream():
            if chunk:
                await to_thread.run_sync(parser.write, chunk)
        await to_thread.run_sync(parser.finalize)
        recv.close()
        if not recv.found:
            raise UsageError("no part named 'file' in the upload", "curl -F file=@talk.mp4")
        content_type = sniff_type(recv.head)
        if content_type is None:
            raise MediaError(
                f"{recv.filename or 'the file'} is not media, an image, a PDF or text",
                "upload audio or video, PNG/JPEG/WebP images, PDF, or UTF-8 text",
            )
        name = safe_name(recv.filename, content_type)
        final = folder / name
        os.replace(recv.tmp, final)
        up = await to_thread.run_sync(
            lambda: record_upload(
                request.app.state.catalog,
                file_id,
                name,
                final,
                recv.size,
                recv.digest.hexdigest(),
                content_type,
            )
        )
        done = True
    except ValueError as exc:  # python-multipart's MultipartParseError and friends
        raise UsageError(
            f"malformed multipart body: {' '.join(str(exc).split())}", "curl -F file=@talk.mp4"
        ) from None
    finally:
        recv.close()
        if not done:
            with contextlib.suppress(OSError):
                shutil.rmtree(folder)
    return _info(up)


@router.get(
    "/v1/files/{file_id}",
    response_model=FileInfo,
    summary="An uploaded file's facts",
    responses=error_responses(404),
)
async def file_info(request: Request, file_id: str) -> FileInfo:
    """The id, name, size, sha256 and type of an uploaded file."""
    up = await to_thread.run_sync(get_upload, request.app.state.catalog, file_id)
    return _info(up)
