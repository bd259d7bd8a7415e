"""The endpoints of the services vidpipe replaces, with their request and response fields.

``POST /generateVideo`` (the video microservice): slides and a narration into an MP4,
as a ``render`` job (:class:`vidpipe.pipeline.stages.render.RenderStage`)::

    {"audio_path": "/srv/media/voice.wav",
     "image_paths": ["/srv/media/1.jpg", "/srv/media/2.jpg"],
     "fps": 24, "resolution": [1920, 1080], "slide_duration": 3.0,
     "transition_duration": 0.5, "enable_ken_burns": true, "zoom_factor": 1.1}

or ``voice_track_id`` (a ``speak`` or ``audio`` job) and ``slide_ids`` (``images``
jobs) naming the jobs whose outputs to use, the dependent tasks of that service.
Server paths must lie inside the media roots
(:func:`~vidpipe.service.security.check_server_path`); upload file ids (``POST /v1/files``)
are taken too. An http(s) URL (checked by the URL policy, nothing fetched in the
request) becomes a ``download`` job (into its own job folder; images accepted) that the
render job depends on; at most :data:`MAX_URLS` distinct URLs per request. A download
that fails fails the render with ``dependency <id> failed: <reason>`` and leaves no
file behind (the downloads that succeeded are their jobs' artifacts).

The answer is the job: ``job_id`` (also as ``task_id``), ``status``, ``progress``,
``status_url`` (``GET /v1/jobs/{id}``, to poll), ``video_path`` (the MP4 on the server:
where it *will* appear, complete, renamed into place, while the job waits or runs;
where it is once it succeeded; ``null`` when the job failed), ``video_url`` (its
download link, 404 until done), ``duration`` and ``error`` once it ended. Clients of
the replaced service polled, so the first answer already names the file and the place
to poll.

``?wait=SECONDS`` holds the request until the job ended (``200``) or the time is up
(``202`` with the job as it is): never a timeout error for a running job. The wait is
capped below the service's request timeout (``VIDPIPE_SERVICE_REQUEST_TIMEOUT``,
300 s by default) by :func:`wait_cap`: the timeout less 10 % of it (at least 1 s, at
most 10 s), 290 s by default. A longer ``wait`` is clamped to the cap, not refused; the
answer's ``wait_cap`` always says the cap and ``note`` says when the wait was clamped.
A failed job answers ``200`` with ``status: "failed"`` and ``error`` (its reason).

``POST /encode_audio`` (the audio-vector service): ``{"video_url": URL}`` ->
``{"features": [[...]], "processing_time": s, "video_length": s, "channels": n}``:
the audio embedding of the video as a 1 x 1024 list, the size the replaced service
answered: the Whisper ``base`` encoder's frame states (512 values each) pooled by
mean and standard deviation (``"pooling": "meanstd"``, the default); ``"pooling":
"mean"`` gives the 512 mean values. It goes through the jobs of ``vidpipe submit``
(:func:`~vidpipe.pipeline.submit.submit_embed`): a URL becomes a catalog source and a
``download`` job (URL policy on every redirect, the service's size limit), then an
``embed`` job stores the vector with its processing facts (audio duration, channels,
sample rate, seconds) on the media item, exactly as ``vidpipe embed --pool meanstd``
does (same options, so the same set of vectors): ``vidpipe similar --pool meanstd``,
``vidpipe embed --fit-pca`` and ``vidpipe export --embeddings`` see it. ``features``
is that stored raw vector; compare vectors as ``vidpipe similar`` does (centred and
scaled by the collection, or its PCA, then L2-normalised), not by raw cosine (raw
vectors of unrelated recordings have cosine near 0.95). A failed download is recorded
as ``vidpipe submit`` records it (the source ``failed``, a row in the failures), a
failed embedding as a failure of its item. A server path inside the media roots or an
upload file id is embedded in place. The same URL again reuses its item and vector
(no second download). The answer also has ``media_id``, ``job_id``, ``pooling``.

The request waits for its jobs, at most :func:`wait_cap` seconds (``?wait=`` asks for
less; ``0``: not at all); not done by then: ``202`` with ``job_id``, ``status``,
``status_url`` and ``wait_cap`` (POST the same body again later: the stored vector is
answered at once). A download that failed answers 502 (``415`` not media, ``413``
too large), a video without sound ``415`` (``NoAudioError``).
"""

from __future__ import annotations

import time
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vidpipe.errors import (
    BusyError,
    MediaError,
    NoAudioError,
    RemoteError,
    TooLargeError,
    UsageError,
    VidpipeError,
)
from vidpipe.library.models import JOB_FINAL
from vidpipe.pipeline import render_inputs
from vidpipe.service.errors import error_responses
from vidpipe.types import Job

__all__ = ["MAX_URLS", "router", "wait_cap"]

router = APIRouter(tags=["compatibility"])

#: Seconds between two looks at a job while a request waits for it.
POLL_SECONDS = 0.25
#: Distinct URL inputs (download jobs) one ``/generateVideo`` request may make.
MAX_URLS = render_inputs.MAX_URLS
#: The video a render job writes (its ``output`` option).
VIDEO_NAME = render_inputs.VIDEO_NAME


def wait_cap(request_timeout: float) -> float:
    """The longest time a request waits for its job, in seconds: ``request_timeout``
    less 10 % of it, at least 1 s and at most 10 s of margin (300 s -> 290 s, 30 s ->
    27 s, 4 s -> 3 s), so the answer always starts before the service's timeout (504)."""
    return max(0.0, request_timeout - min(10.0, max(1.0, 0.1 * request_timeout)))


def _config(request: Request) -> Any:
    return request.app.state.config


def _store(request: Request):
    return request.app.state.store


_is_url = render_inputs.is_url


def _download_params(request: Request, *, into_job: bool, images: bool) -> dict[str, Any]:
    from vidpipe.service.jobs_api import download_params

    return download_params(request, into_job=into_job, images=images)


def _check_room(request: Request, new_jobs: int) -> None:
    """Refuse when ``new_jobs`` more would overfill the queue (429)."""
    cfg = _config(request)
    counts = _store(request).counts()
    waiting = counts.get("waiting", 0) + counts.get("queued", 0)
    if waiting + new_jobs > cfg.max_queue:
        raise BusyError(
            f"the queue is full ({waiting} of {cfg.max_queue} jobs waiting, "
            f"this request needs {new_jobs})",
            "try again later",
            retry_after=30,
        )


def _enqueue(request: Request, jobs: list[Job]) -> None:
    from vidpipe.service.jobs_api import _enqueue as enqueue_one

    for job in jobs:
        if job.status == "queued":
            enqueue_one(request, job)


async def _wait(request: Request, job: Job, seconds: float) -> Job:
    """``job`` once it ended or after ``seconds``, whichever comes first."""
    deadline = time.monotonic() + seconds
    store = _store(request)
    while job.status not in JOB_FINAL and time.monotonic() < deadline:
        await anyio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        job = await anyio.to_thread.run_sync(store.get, job.id)
    return job


def _waiting_time(request: Request, asked: float | None, started: float) -> tuple[float, float]:
    """``(seconds left to wait, the cap)``: ``asked`` (``None``: the cap) clamped to the
    cap, less the time the request has already taken since ``started``."""
    cap = wait_cap(float(_config(request).request_timeout))
    want = cap if asked is None else min(asked, cap)
    return max(0.0, want - (time.monotonic() - started)), cap


# --------------------------------------------------------------------------- generateVideo


class GenerateVideoRequest(BaseModel):
    """The body of ``POST /generateVideo``; field names and defaults as the service had."""

    model_config = ConfigDict(extra="forbid")

    audio_path: str | None = Field(None, description="narration: server path, file id or URL")
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
    status_url: str = Field(description="GET it to poll the job (/v1/jobs/{id})")
    video_path: str | None = Field(
        None, description="the MP4 on the server: where it is, or will appear when done"
    )
    video_url: str | None = Field(None, description="where to download it (404 until done)")
    duration: float | None = Field(None, description="seconds, when done")
    error: str | None = Field(None, description="why it failed")
    wait_cap: float = Field(description="the longest ?wait this service holds, seconds")
    note: str | None = Field(None, description="e.g. that the wait asked for was clamped")


def _create_render(
    request: Request,
    body: GenerateVideoRequest,
    images: list[str],
    audio: str | None,
) -> tuple[Job, list[Job]]:
    """Check the queue and the named jobs, then create one download job per distinct
    URL of ``images``/``audio`` and the render job on them
    (:func:`vidpipe.pipeline.render_inputs.create_render`; in a worker thread: database)."""
    store = _store(request)
    urls = render_inputs.url_inputs(images, audio)
    _check_room(request, len(urls) + 1)
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
    return render_inputs.create_render(
        store,
        render_inputs.render_params(body),
        images,
        audio,
        download=lambda image: _download_params(request, into_job=True, images=image),
        deps=deps,
        max_backlog=_config(request).max_queue,
    )


def _answer(request: Request, job: Job, cap: float, note: str | None) -> GenerateVideoResponse:
    store = _store(request)
    out = GenerateVideoResponse(
        job_id=job.id,
        task_id=job.id,
        status=job.status,
        progress=job.progress,
        step=job.step,
        status_url=f"/v1/jobs/{job.id}",
        wait_cap=cap,
        note=note,
    )
    if job.status not in ("failed", "canceled"):
        out.video_path = str(store.job_dir(job.id) / VIDEO_NAME)
        out.video_url = f"/v1/jobs/{job.id}/artifacts/{VIDEO_NAME}"
    if job.status == "succeeded":
        video = next((a for a in job.artifacts if a.endswith(VIDEO_NAME)), None)
        if video is not None:
            out.video_path = str(store.root / video)
        out.duration = (job.result or {}).get("duration")
    elif job.error is not None:
        out.error = job.error.message + (f" ({job.error.hint})" if job.error.hint else "")
    return out


def _clamp_note(asked: float, cap: float, timeout: float) -> str | None:
    if asked <= cap:
        return None
    return (
        f"wait {asked:g} s is over this service's cap of {cap:g} s (request timeout "
        f"{timeout:g} s): waited at most {cap:g} s; poll status_url"
    )


@router.post(
    "/generateVideo",
    response_model=GenerateVideoResponse,
    status_code=202,
    summary="Slides and narration to an MP4 (the video service's endpoint)",
    responses={
        200: {"model": GenerateVideoResponse, "description": "the job ended (with ?wait)"},
        **error_responses(400, 403, 404, 422, 429, 502),
    },
)
async def generate_video(
    request: Request,
    body: GenerateVideoRequest,
    wait: float = Query(
        0.0,
        ge=0.0,
        description="seconds to wait for the video; clamped to wait_cap (the request "
        "timeout less 10 %, at most 10 s less)",
    ),
) -> Any:
    """Create a render job from server paths, upload file ids or URLs (download jobs),
    or from the outputs of other jobs; optionally wait for it (see the module doc).

    Raises:
        ForbiddenError: a path outside the media roots, a refused URL (403).
        NotFoundError: a missing file or job (404).
        UsageError: a job of the wrong kind, bad render options, too many URLs (400).
        BusyError: the queue cannot take the jobs (429).
    """
    from vidpipe.service.jobs_api import check_url, resolve_file

    started = time.monotonic()
    cfg = _config(request)
    try:
        urls = render_inputs.url_inputs(body.image_paths, body.audio_path)
    except UsageError as exc:  # over MAX_URLS
        raise UsageError(
            exc.message, "upload the files (POST /v1/files) or give server paths"
        ) from None
    for u in urls:
        await check_url(request, u.url, u.what)
    images = [
        p.strip() if _is_url(p) else await resolve_file(request, p, f"image_paths[{i}]")
        for i, p in enumerate(body.image_paths)
    ]
    audio = body.audio_path.strip() if body.audio_path else None
    if audio and not _is_url(audio):
        audio = await resolve_file(request, audio, "audio_path")
    job, downloads = await anyio.to_thread.run_sync(_create_render, request, body, images, audio)
    await anyio.to_thread.run_sync(_enqueue, request, [*downloads, job])
    left, cap = _waiting_time(request, wait, started)
    if wait > 0:
        job = await _wait(request, job, left)
    note = _clamp_note(wait, cap, float(cfg.request_timeout))
    answer = _answer(request, job, cap, note)
    status = 200 if job.status in JOB_FINAL else 202
    return JSONResponse(answer.model_dump(mode="json"), status_code=status)


# --------------------------------------------------------------------------- encode_audio


class EncodeAudioRequest(BaseModel):
    """The body of ``POST /encode_audio``."""

    model_config = ConfigDict(extra="ignore")

    video_url: str = Field(
        ..., min_length=1, max_length=8192, description="http(s) URL, server path or file id"
    )
    pooling: Literal["meanstd", "mean"] = Field(
        "meanstd",
        description="meanstd: mean and standard deviation of the Whisper base encoder's "
        "frames, 1 x 1024 (the replaced service's size); mean: 1 x 512",
    )


class EncodeAudioResponse(BaseModel):
    """What the audio-vector service answered, and where vidpipe stored it."""

    features: list[list[float]] = Field(description="the stored raw embedding, 1 x 1024 (or 512)")
    processing_time: float = Field(description="seconds this request took")
    video_length: float | None = Field(description="seconds of audio")
    channels: int | None = Field(description="audio channels of the media")
    media_id: int = Field(description="the catalog item")
    job_id: str = Field(description="the embed job")
    pooling: str = Field(description="meanstd or mean")


class EncodeAudioPending(BaseModel):
    """The embed job, not done within the wait."""

    job_id: str
    status: str
    progress: float
    status_url: str = Field(description="GET it to poll the job (/v1/jobs/{id})")
    wait_cap: float = Field(description="the longest wait this service holds, seconds")


def _embed_params(pooling: str) -> dict[str, Any]:
    return {"model": "whisper", "pool": pooling}


def _submit_embed(request: Request, item: str, pooling: str) -> tuple[Job | None, Job]:
    """The download (for a URL) and embed jobs of ``item``, queued (in a worker thread)."""
    from vidpipe.pipeline.submit import submit_embed

    _check_room(request, 2)
    down, job = submit_embed(
        _store(request),
        item,
        _embed_params(pooling),
        _download_params(request, into_job=False, images=False),
    )
    _enqueue(request, [j for j in (down, job) if j is not None])
    return down, job


def _failure(request: Request, job: Job, down: Job | None, what: str) -> VidpipeError:
    """The error to answer for a failed embed job (its download's, when that failed).
    The source is settled first (:func:`~vidpipe.pipeline.chains.settle_source`, which
    the worker also runs, just after the job's end): the answer may come between the two,
    and a client told "cannot download" must find the source ``failed``."""
    from vidpipe.pipeline.chains import settle_source
    from vidpipe.pipeline.jobs import DEPENDENCY_FAILED

    settle_source(_store(request), job.id)
    err = job.error
    if err is not None and err.error_class == DEPENDENCY_FAILED and down is not None:
        down = _store(request).get(down.id)
        reason = down.error.message if down.error else down.status
        low = reason.lower()
        if "not media" in low:
            return MediaError(f"{what} is not media: {reason}", "give the URL of a video file")
        if low.startswith("file is ") and "limit" in low:
            return TooLargeError(f"the video is too large: {reason}", "send a shorter video")
        return RemoteError(f"cannot download {what}: {reason}", "check the URL answers")
    from vidpipe import errors

    message = err.message if err else f"the embed job {job.status}"
    if down is not None:  # name the URL, not the downloaded file
        got = (_store(request).get(down.id).result or {}).get("path")
        if got:
            message = message.replace(str(got), what)
    cls = getattr(errors, err.error_class, None) if err else None
    if not (isinstance(cls, type) and issubclass(cls, VidpipeError)):
        cls = errors.OutputError  # an unexpected failure of the job: 500 with its reason
    return cls(message, err.hint if err else None)


def _features(request: Request, job: Job, pooling: str) -> dict[str, Any]:
    """The stored vector and facts of a succeeded embed job (in a worker thread)."""
    import numpy as np

    from vidpipe.pipeline.embed import EmbedOptions

    result = job.result or {}
    row = _store(request).catalog.embedding(
        int(result["media_id"]), EmbedOptions(**_embed_params(pooling)).key()
    )
    vec = np.frombuffer(row.vector, dtype="<f4")
    return {
        "features": [[float(x) for x in vec]],
        "video_length": row.duration,
        "channels": row.channels,
        "media_id": int(result["media_id"]),
    }


@router.post(
    "/encode_audio",
    response_model=EncodeAudioResponse,
    summary="Audio embedding of a video (the audio-vector service's endpoint)",
    responses={
        202: {"model": EncodeAudioPending, "description": "not done within the wait"},
        **error_responses(400, 403, 404, 413, 415, 422, 429, 502, 503),
    },
)
async def encode_audio(
    request: Request,
    body: EncodeAudioRequest,
    wait: float | None = Query(
        None, ge=0.0, description="seconds to wait for the vector (default and most: wait_cap)"
    ),
) -> Any:
    """Embed the video's audio through download and embed jobs and answer the stored
    vector (see the module doc).

    Raises:
        UsageError: not an http(s) URL (400). ForbiddenError: a private address or a
        path outside the media roots (403). MediaError: not media, or no audio (415).
        TooLargeError: over the size limit (413). RemoteError: the download failed
        (502). BusyError: the queue is full (429).
    """
    from vidpipe.service.jobs_api import check_url, resolve_file

    started = time.monotonic()
    url = body.video_url.strip()
    if _is_url(url):
        await check_url(request, url, "video_url")
        item = url
    else:
        item = await resolve_file(request, url, "video_url")
    down, job = await anyio.to_thread.run_sync(_submit_embed, request, item, body.pooling)
    left, cap = _waiting_time(request, wait, started)
    job = await _wait(request, job, left)
    if job.status not in JOB_FINAL:
        pending = EncodeAudioPending(
            job_id=job.id,
            status=job.status,
            progress=job.progress,
            status_url=f"/v1/jobs/{job.id}",
            wait_cap=cap,
        )
        return JSONResponse(pending.model_dump(mode="json"), status_code=202)
    if job.status != "succeeded":
        raise await anyio.to_thread.run_sync(_failure, request, job, down, url)
    if (job.result or {}).get("skipped"):
        raise NoAudioError(
            f"{url}: {job.result['skipped']}: nothing to embed", "give a video with sound"
        )
    facts = await anyio.to_thread.run_sync(_features, request, job, body.pooling)
    return EncodeAudioResponse(
        processing_time=round(time.monotonic() - started, 3),
        job_id=job.id,
        pooling=body.pooling,
        **facts,
    )
