"""The endpoints of the services vidpipe replaces, with their request and response fields.

``POST /generateVideo`` (the video microservice): slides and a narration into an MP4,
as a ``render`` job (:class:`vidpipe.pipeline.registry.RenderStage`)::

    {"audio_path": "/srv/media/voice.wav",
     "image_paths": ["/srv/media/1.jpg", "/srv/media/2.jpg"],
     "fps": 24, "resolution": [1920, 1080], "slide_duration": 3.0,
     "transition_duration": 0.5, "enable_ken_burns": true, "zoom_factor": 1.1}

or ``voice_track_id`` (a ``speak`` or ``audio`` job) and ``slide_ids`` (``images``
jobs) naming the jobs whose outputs to use, the dependent tasks of that service.
Server paths must lie inside the media roots
(:func:`~vidpipe.service.security.check_server_path`); upload file ids (``POST /v1/files``)
and http(s) URLs are taken too, as in job inputs.
The answer is ``202`` with the job (``job_id``, also as ``task_id``, ``status``,
``progress``); ``?wait=SECONDS`` holds the request until the video is done (then
``200`` with ``video_path``, ``video_url``, ``duration``) or the time is up (``202``).
A failed job answers ``200`` with ``status: "failed"`` and ``error`` (its reason).

``POST /encode_audio`` (the audio-vector service): ``{"video_url": URL}`` ->
``{"features": [[...]], "processing_time": s, "video_length": s, "channels": n}``:
the audio embedding of the video (:func:`vidpipe.embed_audio`, Whisper encoder) as a
1 x N list. The URL is checked (:func:`~vidpipe.service.security.check_url`) and
downloaded by vidpipe's downloader with the same policy on every redirect; a server
path inside the media roots is accepted too.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vidpipe.errors import (
    BusyError,
    ForbiddenError,
    MediaError,
    RemoteError,
    TooLargeError,
    UnavailableError,
    UsageError,
    VidpipeError,
)
from vidpipe.types import Job

__all__ = ["router"]

router = APIRouter(tags=["compatibility"])

#: Seconds between two looks at a job while ``?wait`` holds a request.
POLL_SECONDS = 0.25
#: Longest ``?wait`` in seconds.
MAX_WAIT = 3600.0
#: The video a render job writes (its ``output`` option).
VIDEO_NAME = "video.mp4"


class GenerateVideoRequest(BaseModel):
    """The body of ``POST /generateVideo``; field names and defaults as the service had."""

    model_config = ConfigDict(extra="forbid")

    audio_path: str | None = Field(None, description="narration file on the server")
    image_paths: list[str] = Field(default_factory=list, max_length=10_000)
    fps: float = Field(24, ge=1, le=120)
    resolution: tuple[int, int] = Field((1920, 1080), description="[width, height], even")
    slide_duration: float = Field(3.0, gt=0, le=3600, description="seconds without audio")
    transition_duration: float = Field(0.5, ge=0, le=60, description="seconds")
    enable_ken_burns: bool = True
    zoom_factor: float = Field(1.1, ge=1.0, le=2.0)
    voice_track_id: str | None = Field(None, max_length=64, description="a speak/audio job")
    slide_ids: list[str] = Field(default_factory=list, max_length=1000, description="images jobs")
    subtitles: Literal["none", "burn", "soft", "both"] = Field(
        "none", description="vidpipe's addition: subtitles from the voice track's transcript"
    )

    @model_validator(mode="after")
    def _inputs(self):
        if not self.image_paths and not self.slide_ids:
            raise ValueError("give image_paths or slide_ids")
        if self.audio_path and self.voice_track_id:
            raise ValueError("give audio_path or voice_track_id, not both")
        return self


class GenerateVideoResponse(BaseModel):
    """A render job as the video service reported its tasks."""

    job_id: str
    task_id: str = Field(description="the same as job_id")
    status: str = Field(description="waiting, queued, running, succeeded, failed, canceled")
    progress: float = Field(description="0..1")
    step: str | None = None
    video_path: str | None = Field(None, description="the MP4 on the server, when done")
    video_url: str | None = Field(None, description="where to download it, when done")
    duration: float | None = Field(None, description="seconds, when done")
    error: str | None = Field(None, description="why it failed")


def _config(request: Request) -> Any:
    return request.app.state.config


def _store(request: Request):
    return request.app.state.store


def _render_params(body: GenerateVideoRequest) -> dict[str, Any]:
    width, height = body.resolution
    return {
        "output": VIDEO_NAME,
        "width": width,
        "height": height,
        "fps": body.fps,
        "slide_duration": body.slide_duration,
        "transition_duration": body.transition_duration,
        "ken_burns": body.enable_ken_burns,
        "zoom": body.zoom_factor,
        "subtitles": body.subtitles,
    }


def _create_render(
    request: Request, body: GenerateVideoRequest, images: list[str], audio: str | None
) -> Job:
    """Check the queue and the named jobs, create the render job and queue it (in a
    worker thread: database)."""
    from vidpipe.service.jobs_api import _enqueue

    cfg = _config(request)
    store = _store(request)
    counts = store.counts()
    if counts.get("waiting", 0) + counts.get("queued", 0) >= cfg.max_queue:
        raise BusyError(
            f"the queue is full ({cfg.max_queue} jobs waiting)", "try again later", retry_after=30
        )
    deps: list[str] = []
    if body.voice_track_id:
        voice = store.get(body.voice_track_id)
        if voice.kind not in ("speak", "audio"):
            raise UsageError(
                f"voice_track_id {voice.id} is a {voice.kind} job", "name a speak or audio job"
            )
        deps.append(voice.id)
    for sid in body.slide_ids:
        slide = store.get(sid)
        if slide.kind != "images":
            raise UsageError(f"slide id {slide.id} is a {slide.kind} job", "name images jobs")
        deps.append(slide.id)
    if len(set(deps)) != len(deps):
        raise UsageError("a job is named twice in voice_track_id and slide_ids")
    job = store.create(
        "render",
        _render_params(body),
        input={"images": images, "audio": audio},
        depends_on=deps,
    )
    if job.status == "queued":
        _enqueue(request, job)
    return job


def _answer(request: Request, job: Job) -> GenerateVideoResponse:
    store = _store(request)
    out = GenerateVideoResponse(
        job_id=job.id, task_id=job.id, status=job.status, progress=job.progress, step=job.step
    )
    if job.status == "succeeded":
        video = next((a for a in job.artifacts if a.endswith(VIDEO_NAME)), None)
        if video is not None:
            out.video_path = str(store.root / video)
            out.video_url = f"/v1/jobs/{job.id}/artifacts/{VIDEO_NAME}"
        out.duration = (job.result or {}).get("duration")
    elif job.error is not None:
        out.error = job.error.message + (f" ({job.error.hint})" if job.error.hint else "")
    return out


async def _wait(request: Request, job: Job, seconds: float) -> Job:
    from vidpipe.library.models import JOB_FINAL

    deadline = time.monotonic() + seconds
    store = _store(request)
    while job.status not in JOB_FINAL and time.monotonic() < deadline:
        await anyio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        job = await anyio.to_thread.run_sync(store.get, job.id)
    return job


@router.post(
    "/generateVideo",
    response_model=GenerateVideoResponse,
    status_code=202,
    summary="Slides and narration to an MP4 (the video service's endpoint)",
    responses={200: {"model": GenerateVideoResponse, "description": "finished (with ?wait)"}},
)
async def generate_video(
    request: Request,
    body: GenerateVideoRequest,
    wait: float = Query(0.0, ge=0.0, le=MAX_WAIT, description="seconds to wait for the video"),
) -> Any:
    """Create a render job from server paths (upload file ids and URLs work too:
    :func:`~vidpipe.service.jobs_api.resolve_file`) or from the outputs of other jobs.

    Raises:
        ForbiddenError: a path outside the media roots (403).
        NotFoundError: a missing file or job (404).
        UsageError: a job of the wrong kind, bad render options (400).
    """
    from vidpipe.service.jobs_api import resolve_file

    images = [
        await resolve_file(request, p, f"image_paths[{i}]") for i, p in enumerate(body.image_paths)
    ]
    audio = await resolve_file(request, body.audio_path, "audio_path") if body.audio_path else None
    job = await anyio.to_thread.run_sync(_create_render, request, body, images, audio)
    if wait > 0:
        job = await _wait(request, job, wait)
    answer = _answer(request, job)
    from vidpipe.library.models import JOB_FINAL

    status = 200 if job.status in JOB_FINAL else 202
    return JSONResponse(answer.model_dump(mode="json"), status_code=status)


# --------------------------------------------------------------------------- encode_audio


class EncodeAudioRequest(BaseModel):
    """The body of ``POST /encode_audio``."""

    model_config = ConfigDict(extra="ignore")

    video_url: str = Field(..., min_length=1, max_length=8192, description="http(s) URL")


class EncodeAudioResponse(BaseModel):
    """What the audio-vector service answered."""

    features: list[list[float]] = Field(description="the embedding, 1 x N")
    processing_time: float = Field(description="seconds spent on the request")
    video_length: float | None = Field(description="seconds of media")
    channels: int | None = Field(description="audio channels of the media")


async def _fetch(request: Request, url: str, folder: Path) -> Path:
    """Download ``url`` into ``folder`` with the service's URL policy on every hop."""
    from vidpipe.library.download import DownloadLimits, download_all
    from vidpipe.library.urls import safe_filename
    from vidpipe.service.security import check_url, url_policy

    cfg = _config(request)
    policy = url_policy(bool(cfg.allow_private_urls), getattr(request.app.state, "resolver", None))
    clean = await check_url(url, policy)
    limits = DownloadLimits(
        url_policy=policy, max_bytes=int(cfg.max_file_bytes), retries=2, deadline=600.0
    )
    dest = folder / safe_filename(clean)
    (result,) = await download_all([(0, clean, dest)], limits)
    if result.status == "done" and result.path is not None:
        return result.path
    reason = result.reason or result.error or "download failed"
    if result.error == "Blocked":
        raise ForbiddenError(reason, "give a public URL")
    if result.error == "TooLarge":
        raise TooLargeError(f"the video is too large: {reason}", "send a shorter video")
    if result.error == "NotMedia":
        raise MediaError(f"{clean} is not media: {reason}", "give the URL of a video file")
    if result.error in ("InvalidURL", "UnsupportedRedirect"):
        raise UsageError(reason, "give an http(s) URL of a video file")
    raise RemoteError(f"cannot download {clean}: {reason}", "check the URL answers")


def _embed(path: Path) -> dict[str, Any]:
    """Probe facts and the embedding of ``path`` (in a worker thread)."""
    try:
        from vidpipe.pipeline.embed import embed_audio
    except ImportError:
        raise UnavailableError(
            "audio embeddings are not available in this version", "update vidpipe (issue 11)"
        ) from None
    from vidpipe.media.probe import probe

    info = probe(path)
    stream = info.audio_streams[0] if info.audio_streams else None
    vector = embed_audio(path, model="whisper")
    return {
        "features": [[float(x) for x in vector.reshape(-1)]],
        "video_length": info.duration if info.duration is not None else stream and stream.duration,
        "channels": stream.channels if stream else None,
    }


@router.post(
    "/encode_audio",
    response_model=EncodeAudioResponse,
    summary="Audio embedding of a video (the audio-vector service's endpoint)",
)
async def encode_audio(request: Request, body: EncodeAudioRequest) -> EncodeAudioResponse:
    """Download the video, decode its audio and answer its embedding vector.

    Raises:
        UsageError: not an http(s) URL (400). ForbiddenError: a private address or a
        path outside the media roots (403). MediaError: not media or no audio (415/422).
        RemoteError: the download failed (502). UnavailableError: no embeddings (503).
    """
    from vidpipe.service.security import check_server_path

    t0 = time.perf_counter()
    url = body.video_url.strip()
    folder: Path | None = None
    try:
        if url.lower().startswith(("http://", "https://")) or "://" in url:
            tmp_root = Path(_config(request).home) / "tmp"
            await anyio.to_thread.run_sync(lambda: tmp_root.mkdir(parents=True, exist_ok=True))
            folder = Path(tempfile.mkdtemp(prefix="encode-", dir=tmp_root))
            path = await _fetch(request, url, folder)
        else:
            roots = list(_config(request).media_roots)
            path = await anyio.to_thread.run_sync(check_server_path, url, roots)
        from vidpipe.service.openai_api import model_limiter

        async with model_limiter(request):
            try:
                facts = await anyio.to_thread.run_sync(_embed, path)
            except VidpipeError as exc:
                if folder is not None:  # name the URL, not the temporary file
                    exc.message = exc.message.replace(str(path), url)
                raise
    finally:
        if folder is not None:
            with contextlib.suppress(OSError):
                await anyio.to_thread.run_sync(shutil.rmtree, folder)
    return EncodeAudioResponse(processing_time=round(time.perf_counter() - t0, 3), **facts)
