"""The ``download`` stage: one URL into a file recorded by content."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from vidpipe.config import storage_root
from vidpipe.errors import InputError, RemoteError
from vidpipe.files import ensure_dir, sha256_file
from vidpipe.library.ingest import record_by_content
from vidpipe.library.urls import UrlPolicy, is_direct_media_url, redact_url, safe_filename
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
    StageSkipped,
)
from vidpipe.types import Names


class DownloadFailed(RemoteError):
    """A download that failed after :mod:`vidpipe.library.download`'s own retries
    (``HTTP 404 Not Found``, ``HTML page, not media``...). Not retried as a job: the
    downloader already retried what was worth it, with back-off.

    Attributes:
        error: the downloader's short error class (``HTTPStatusError``, ``NotMedia``...).
    """

    retryable = False

    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error or "DownloadError"


def _limit(name: str):
    def default():
        # imported here for start-up time: httpx
        from vidpipe.library.download import DownloadLimits

        return getattr(DownloadLimits(), name)

    return default


class DownloadStage(Stage):
    """Download one URL (a direct media link with :func:`~vidpipe.library.download.
    download_many`, a page with yt-dlp) into ``dest`` and record the file by content
    (:func:`~vidpipe.library.ingest.record_by_content`), with the limits and URL
    policy of ``vidpipe run``. A file already complete at its destination (renamed
    into place by a killed job) is taken as it is; a ``.part`` is resumed.

    A file whose content another, earlier input line holds ends ``skipped`` with
    ``duplicate content of ...`` (the source row says so); so do the later jobs of its
    chain (:func:`~vidpipe.pipeline.chains.skip_reason`).

    With ``into_job`` the file goes into the job's own folder as its artifact and is not
    recorded in the catalog (a file the job only hands on: the slides and narration of
    a ``render`` given as URLs); a download that fails then leaves no partial file.
    ``images`` also accepts PNG/JPEG/WebP/GIF files (else only media containers).
    """

    name = "download"
    takes = ("url",)
    resource = "io"

    class Options(StageOptions):
        dest: Annotated[str | None, Names("folder")] = Field(
            None, description="folder; None: <storage root>/media"
        )
        retries: int = Field(default_factory=_limit("retries"), ge=0)
        connect_timeout: float = Field(default_factory=_limit("connect_timeout"), gt=0)
        read_timeout: float = Field(default_factory=_limit("read_timeout"), gt=0)
        max_bytes: int = Field(default_factory=_limit("max_bytes"), ge=1)
        deadline: float | None = Field(default_factory=_limit("deadline"), gt=0)
        min_speed: float = Field(default_factory=_limit("min_speed"), ge=0)
        speed_time: float = Field(default_factory=_limit("speed_time"), gt=0)
        rps_per_host: float | None = Field(None, gt=0)
        allow_private: bool = True
        images: bool = Field(False, description="also accept images (slides)")
        into_job: bool = Field(False, description="into the job folder, not recorded")

        @classmethod
        def from_limits(cls, limits: Any = None, dest: Any = None) -> dict[str, Any]:
            """The params for ``limits`` (a :class:`~vidpipe.library.download.
            DownloadLimits`; ``None``: the defaults) and ``dest`` (a folder)."""
            params: dict[str, Any] = {}
            if dest:
                params["dest"] = str(Path(dest).expanduser().absolute())
            if limits is not None:
                for name in cls.model_fields:
                    if name not in ("dest", "allow_private") and hasattr(limits, name):
                        params[name] = getattr(limits, name)
                params["allow_private"] = limits.url_policy.allow_private
            return params

        def limits(self):
            # imported here for start-up time: httpx
            from vidpipe.library.download import DownloadLimits

            fields = self.model_dump(exclude={"dest", "allow_private", "into_job"})
            return DownloadLimits(
                concurrency=1,
                per_host=1,
                **fields,
                url_policy=UrlPolicy(allow_private=self.allow_private),
            )

    @staticmethod
    def _recorded(ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult | None:
        """The result of this job's download when an earlier run of it already recorded
        the item (a run killed between recording it and ending the job): the source holds
        a media item whose file is on disk at its recorded size. ``None`` otherwise.
        (Downloading again would find the content already held by the source's own
        earlier file and skip the source as a duplicate of itself.)"""
        if options.into_job or ctx.catalog is None or not inputs.given.source_id:
            return None
        src = ctx.catalog.get_source(inputs.given.source_id)
        if src is None or src.media_id is None or src.state != "pending":
            return None
        media = ctx.catalog.get_media(src.media_id)
        if media is None:
            return None
        path = Path(media.path)
        try:
            if not path.is_file() or path.stat().st_size != media.size:
                return None
        except OSError:
            return None
        ctx.progress(1.0, "downloaded before")
        return StageResult(result={"media_id": media.id, "path": media.path})

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        # imported here for start-up time: httpx
        from vidpipe.library.download import download_many, download_page

        url = (inputs.given.url or "").strip()
        if not url:
            raise InputError("a download job needs a URL", "give input.url")
        if options.into_job:
            folder = ctx.work_dir
        elif options.dest:
            folder = Path(options.dest)
        else:
            folder = (ctx.storage_root or storage_root()) / "media"
        done = self._recorded(ctx, inputs, options)
        if done is not None:
            return done
        ensure_dir(folder)
        limits = options.limits()
        ctx.progress(0.0, f"downloading {redact_url(url)}")
        dest = folder / safe_filename(url)
        # a file already at dest is adopted only when verified against the server's
        # length (download_many); else the download goes to a free name beside it
        digest: str | None = None
        if options.into_job or is_direct_media_url(url):  # a job's inputs: file URLs

            def bytes_in(_key: Any, done: int, total: int | None) -> None:
                ctx.progress(done / total if total else 0.0, None)  # also sees a cancel

            (res,) = download_many([(0, url, dest)], limits, on_progress=bytes_in)
        else:
            res = asyncio.run(download_page(url, folder, limits=limits))
        if res.status != "done" or res.path is None:
            if options.into_job:  # nothing of a failed download stays in the job folder
                # imported here for start-up time: httpx
                from vidpipe.library.download import part_path

                part_path(dest).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty
            reason = res.reason or res.error or "download failed"
            raise DownloadFailed(" ".join(redact_url(reason).split()), res.error)
        path, digest = Path(res.path), res.sha256
        if options.into_job:
            return StageResult(result={"path": str(path)}, artifacts=[ctx.relative(path)])
        if ctx.catalog is None:
            return StageResult(result={"path": str(path)})
        digest = digest or sha256_file(path)
        src = ctx.catalog.get_source(inputs.given.source_id) if inputs.given.source_id else None
        if src is None:
            media = ctx.catalog.media_by_sha256(digest)
            if media is None:
                media, _ = ctx.catalog.add_media(path.resolve(), digest, path.stat().st_size)
            return StageResult(result={"media_id": media.id, "path": str(path)})
        media, duplicate = record_by_content(ctx.catalog, src, path, digest, path.stat().st_size)
        if duplicate is not None:
            raise StageSkipped(duplicate, media.id)
        return StageResult(result={"media_id": media.id, "path": media.path})
