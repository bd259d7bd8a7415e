"""The jobs API: create, list, show, cancel, retry, follow (server-sent events), artifacts.

Jobs are the pipeline's (:class:`~vidpipe.pipeline.jobs.JobStore`): ``kind`` is a stage
name, ``params`` its options (refused with 400 naming the bad field when the stage
refuses them), ``input`` what it works on. File inputs (``input.path``, ``input.audio``,
``input.images``) may be:

- an uploaded file id (``file-...`` from ``POST /v1/files``);
- an http(s) URL: checked in the handler (hosts resolving to private, loopback,
  link-local, multicast or reserved addresses are refused unless
  ``VIDPIPE_ALLOW_PRIVATE_URLS=1``), then fetched by a ``download`` job that the job
  depends on (``job:<id>`` in its input; the policy is applied again on every
  redirect), never inside the request handler; a failed download fails the job with
  its reason;
- a path on the server inside the media roots (``VIDPIPE_MEDIA_ROOTS``; 403 otherwise).

``POST /v1/jobs`` answers 202 at once: the job is queued for the workers (or waits for
its ``depends_on``). The same ``Idempotency-Key`` header gives back the same job. When
``waiting`` plus ``queued`` jobs reach ``max_queue`` the answer is 429 with
``Retry-After``. ``callback_url`` receives one POST of the final job (see
:mod:`vidpipe.service.callbacks`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from vidpipe.errors import (
    BusyError,
    ConflictError,
    NotFoundError,
    RemoteError,
    UsageError,
    VidpipeError,
)
from vidpipe.library.models import JOB_FINAL
from vidpipe.library.urls import redact_secrets
from vidpipe.service.errors import error_responses
from vidpipe.types import Job, JobError

__all__ = ["JobCreate", "JobInput", "JobList", "JobOut", "job_out", "router"]

router = APIRouter(tags=["jobs"])

#: seconds between two looks at a job while its events are followed
EVENTS_POLL = 0.5
#: seconds a job's events stream waits at most (then it ends; reconnect to go on)
EVENTS_MAX = 6 * 3600.0


class JobInput(BaseModel):
    """What the job works on; file fields take a file id, an http(s) URL or a server
    path inside the media roots."""

    model_config = ConfigDict(extra="forbid")

    media_id: int | None = Field(None, ge=1, description="A catalog media item id.")
    path: str | None = Field(None, description="A media or document file.")
    text: str | None = Field(None, max_length=1_000_000, description="Text to speak or draw.")
    images: list[str] = Field(default_factory=list, max_length=1000, description="Slides.")
    audio: str | None = Field(None, description="Narration for render.")


class JobCreate(BaseModel):
    """A job to create."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(..., description="A stage name: probe, audio, transcribe, speak...")
    params: dict[str, Any] = Field(default_factory=dict, description="The stage's options.")
    input: JobInput = Field(default_factory=JobInput)
    depends_on: list[str] = Field(
        default_factory=list, max_length=1000, description="Ids of jobs whose outputs it takes."
    )
    callback_url: str | None = Field(
        None, max_length=2000, description="Gets one POST of the final job when it ends."
    )
    max_attempts: int = Field(3, ge=1, le=20, description="Runs allowed before it fails.")


class ArtifactLink(BaseModel):
    """A file the job wrote: ``name`` (inside the job's folder), ``url``, ``size``."""

    name: str
    url: str
    size: int | None = None


class JobLinks(BaseModel):
    """Where to follow the job."""

    self: str
    events: str
    cancel: str
    retry: str


class JobOut(BaseModel):
    """A job as the API shows it."""

    id: str
    kind: str
    status: str
    progress: float
    step: str | None = None
    params: dict[str, Any]
    input: dict[str, Any]
    depends_on: list[str]
    result: dict[str, Any] | None = None
    error: JobError | None = None
    attempts: int
    max_attempts: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    artifacts: list[ArtifactLink]
    links: JobLinks


class JobList(BaseModel):
    """One page of jobs, newest first; ``next_cursor`` fetches the next (``None``: last)."""

    jobs: list[JobOut]
    next_cursor: str | None = None


def _artifact_name(job: Job, stored: str) -> str:
    prefix = PurePosixPath("jobs") / job.id
    p = PurePosixPath(stored)
    try:
        return p.relative_to(prefix).as_posix()
    except ValueError:
        return p.as_posix()


def job_out(job: Job, root: Path) -> JobOut:
    """The API view of ``job`` (artifact sizes from the storage ``root``), URL
    passwords and query values in it redacted (:func:`vidpipe.pipeline.jobs.redacted`)."""
    from vidpipe.pipeline.jobs import redacted

    job = redacted(job)
    base = f"/v1/jobs/{job.id}"
    artifacts = []
    for stored in job.artifacts:
        name = _artifact_name(job, stored)
        try:
            size = (root / stored).stat().st_size
        except OSError:
            size = None
        artifacts.append(ArtifactLink(name=name, url=f"{base}/artifacts/{name}", size=size))
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        progress=job.progress,
        step=job.step,
        params=job.params,
        input=job.input,
        depends_on=job.depends_on,
        result=job.result,
        error=job.error,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        artifacts=artifacts,
        links=JobLinks(
            self=base, events=f"{base}/events", cancel=f"{base}/cancel", retry=f"{base}/retry"
        ),
    )


def _out(request: Request, job: Job) -> JobOut:
    return job_out(job, request.app.state.store.root)


# --------------------------------------------------------------------------- inputs


async def check_url(request: Request, url: str, what: str) -> None:
    """Refuse ``url`` unless it is http(s) and (private URLs not allowed) its host
    resolves to public addresses only: :func:`vidpipe.service.security.check_url` with
    the service's policy, the message naming ``what`` the URL was given as.

    Raises:
        UsageError: not an absolute http(s) URL, or its host does not resolve.
        ForbiddenError: the host is, or resolves to, a refused address.
    """
    from vidpipe.service import security

    resolver = getattr(request.app.state, "resolver", None)
    policy = security.url_policy(request.app.state.config.allow_private_urls, resolver)
    await security.check_url(url, policy, what)


def download_params(request: Request, *, into_job: bool, images: bool) -> dict[str, Any]:
    """The ``download`` stage's params under the service's limits and URL policy: the
    one way the service fetches a URL input (a ``download`` job run by a worker, never
    the request handler). ``into_job``: into the job's own folder, not a library item;
    ``images``: PNG/JPEG/WebP/GIF are taken too (slides)."""
    from vidpipe.pipeline.render_inputs import download_params as params

    cfg = request.app.state.config
    return params(
        max_bytes=int(cfg.max_file_bytes),
        allow_private=bool(cfg.allow_private_urls),
        into_job=into_job,
        images=images,
    )


async def resolve_file(request: Request, value: str, what: str) -> str:
    """The server path of a file input: an upload id or a server path inside the media
    roots. (URLs are not fetched here: callers turn them into ``download`` jobs.)

    Raises:
        NotFoundError: an unknown file id.
        ForbiddenError: a path outside the media roots.
        UsageError: a URL (the caller should have made it a download job).
    """
    from vidpipe.library.uploads import FILE_ID, get_upload
    from vidpipe.service.security import check_server_path, check_text

    value = check_text(value, what).strip()
    if FILE_ID.match(value):
        up = await to_thread.run_sync(get_upload, request.app.state.catalog, value)
        return str(up.path)
    if "://" in value:
        raise UsageError(f"{what}: a URL is downloaded by a download job, not resolved here")
    roots = request.app.state.config.media_roots
    real = await to_thread.run_sync(lambda: check_server_path(value, roots, "file", what))
    return str(real)


async def check_params(request: Request, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` of a ``kind`` job once every value that names something has passed the
    service's checks, at any depth (:func:`vidpipe.service.security.check_options`
    over the stage's options model, with :func:`~vidpipe.service.security.name_checker`):
    URLs (``llm_base``, ``image_base``...) must pass the URL policy; files and folders
    (``voice``, ``font``, ``model``, ``folder:DIR``, ``render.font`` of ``narrate``...)
    must lie inside the media roots and are replaced by their real paths; a relative
    path is taken relative to the first root, never to the server's working folder.

    Raises:
        UsageError: unknown kind, params the stage refuses, a URL that is not http(s).
        ForbiddenError: a refused URL or a path outside the media roots.
        NotFoundError: a path inside the roots that does not exist.
    """
    from vidpipe.pipeline.registry import get_stage
    from vidpipe.service import security

    stage = get_stage(kind)
    stage.parse_options(params)
    resolver = getattr(request.app.state, "resolver", None)
    config = request.app.state.config
    policy = security.url_policy(config.allow_private_urls, resolver)
    visit = security.name_checker(config.media_roots, policy)
    return await security.check_options(stage.Options, params, visit)


def _is_url(value: str) -> bool:
    return "://" in value


async def _input(
    request: Request, given: JobInput, depends_on: list[str]
) -> tuple[dict[str, Any], dict[tuple[str, bool], None]]:
    """The job's input with its file fields resolved (upload ids and server paths), and
    the http(s) URLs among them, checked against the URL policy (DNS only, nothing
    fetched): ``{(url, is_image): None}`` in order. A URL field is left as the URL;
    :func:`_with_downloads` replaces it by ``job:<id>`` of its download job. A
    ``job:<id>`` field (the file of a download job, as an earlier job's input shows it)
    is kept when ``<id>`` is in ``depends_on``.

    Raises:
        UsageError: a ``job:<id>`` whose job is not a dependency.
    """
    from vidpipe.pipeline.stages import JOB_REF

    data = given.model_dump(exclude_none=True)
    urls: dict[tuple[str, bool], None] = {}

    async def one(value: str, what: str, is_image: bool) -> str:
        if value.startswith(JOB_REF):
            if value[len(JOB_REF) :] not in depends_on:
                raise UsageError(
                    f"{what} {value} names a job that is not in depends_on",
                    "add that job's id to depends_on",
                )
            return value
        if _is_url(value):
            value = value.strip()
            if (value, is_image) not in urls:
                await check_url(request, value, what)
                urls[(value, is_image)] = None
            return value
        return await resolve_file(request, value, what)

    if given.path:
        data["path"] = await one(given.path, "input.path", False)
    if given.audio:
        data["audio"] = await one(given.audio, "input.audio", False)
    if given.images:
        data["images"] = [
            await one(p, f"input.images[{i}]", True) for i, p in enumerate(given.images)
        ]
    if not data.get("images"):
        data.pop("images", None)
    return data, urls


def _with_downloads(
    request: Request, data: dict[str, Any], urls: dict[tuple[str, bool], None], cap: int
) -> tuple[dict[str, Any], list[Job]]:
    """Create one ``download`` job per URL of ``data`` (:func:`download_params`, into the
    job's own folder) and point the fields at them (``job:<id>``). ``cap``: the queue
    cap, kept for the job that will depend on them (checked atomically per insert).

    Raises:
        BusyError: the queue cannot take them (the downloads made so far are canceled).
    """
    from vidpipe.pipeline.stages import JOB_REF

    store = request.app.state.store
    downloads: dict[tuple[str, bool], Job] = {}
    still = len(urls) + 1  # this request's jobs not yet created
    try:
        for url, is_image in urls:
            still -= 1
            downloads[(url, is_image)] = store.create(
                "download",
                download_params(request, into_job=True, images=is_image),
                input={"url": url},
                max_backlog=cap - still,
            )
    except BusyError:
        for d in downloads.values():
            store.cancel(d.id)
        raise

    def ref(value: str, is_image: bool) -> str:
        return JOB_REF + downloads[(value, is_image)].id if _is_url(value) else value

    out = dict(data)
    for key in ("path", "audio"):
        if out.get(key):
            out[key] = ref(out[key], False)
    if out.get("images"):
        out["images"] = [ref(p, True) for p in out["images"]]
    return out, list(downloads.values())


# --------------------------------------------------------------------------- routes


def _enqueue(request: Request, job: Job) -> None:
    import logging

    from vidpipe.pipeline.queue import enqueue

    try:
        enqueue(job, url=request.app.state.config.queue_url)
    except RemoteError as exc:  # the job is stored queued: the reaper sends it later
        logging.getLogger("vidpipe.service").warning(
            "job %s not enqueued now: %s", job.id, exc.one_line()
        )


@router.post(
    "/v1/jobs",
    status_code=202,
    response_model=JobOut,
    summary="Create a job",
    responses=error_responses(400, 403, 404, 409, 413, 429, 502),
)
async def create_job(
    request: Request,
    body: JobCreate,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="The same key gives back the same job."),
    ] = None,
) -> JobOut:
    """Store the job (validated by its stage) and queue it; 202 with its id and status."""
    from vidpipe.service.security import find_text_error

    for field, value in body.model_dump().items():
        find_text_error(value, field)
    if idempotency_key is not None:
        find_text_error(idempotency_key, "Idempotency-Key")
    store = request.app.state.store
    config = request.app.state.config
    if idempotency_key is not None:
        existing = await to_thread.run_sync(store.by_idempotency_key, idempotency_key)
        if existing is not None:
            if existing.kind != body.kind:
                raise ConflictError(
                    f"Idempotency-Key {idempotency_key} was used for a {existing.kind} job",
                    "use a new key for a different request",
                )
            return _out(request, existing)
    if body.callback_url:
        await check_url(request, body.callback_url, "callback_url")
    params = await check_params(request, body.kind, body.params)
    counts = await to_thread.run_sync(store.counts)
    backlog = counts["waiting"] + counts["queued"]
    if backlog >= config.max_queue:
        raise BusyError(
            f"the queue is full ({backlog} jobs waiting or queued)",
            "retry later (see Retry-After)",
            retry_after=30,
        )
    given, urls = await _input(request, body.input, body.depends_on)

    def create() -> Job:
        data, downloads = _with_downloads(request, given, urls, config.max_queue)
        try:
            job = store.create(
                body.kind,
                params,
                input=data,
                depends_on=[*(d.id for d in downloads), *body.depends_on],
                max_attempts=body.max_attempts,
                idempotency_key=idempotency_key,
                max_backlog=config.max_queue,  # the cap, checked atomically with the insert
            )
        except VidpipeError:
            for d in downloads:
                store.cancel(d.id)
            raise
        if body.callback_url:
            store.set_callback(job.id, body.callback_url)
        for d in downloads:
            _enqueue(request, d)
        if job.status == "queued":
            _enqueue(request, job)
        return job

    job = await to_thread.run_sync(create)
    return _out(request, job)


@router.get(
    "/v1/jobs",
    response_model=JobList,
    summary="List jobs",
    responses=error_responses(400),
)
async def list_jobs(
    request: Request,
    status: Annotated[
        str | None, Query(description="Statuses, comma-separated (e.g. queued,running).")
    ] = None,
    kind: Annotated[str | None, Query(description="A stage name.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> JobList:
    """Jobs newest first, filtered by status and kind, a page at a time."""
    statuses = [s.strip() for s in status.split(",") if s.strip()] if status else None
    store = request.app.state.store
    page = await to_thread.run_sync(lambda: store.list(statuses, kind, limit=limit, cursor=cursor))
    return JobList(jobs=[_out(request, j) for j in page.jobs], next_cursor=page.cursor)


@router.get(
    "/v1/jobs/{job_id}",
    response_model=JobOut,
    summary="A job: status, progress, step, error, result, artifact links",
    responses=error_responses(404),
)
async def get_job(request: Request, job_id: str) -> JobOut:
    """The job as it is now."""
    job = await to_thread.run_sync(request.app.state.store.get, job_id)
    return _out(request, job)


@router.post(
    "/v1/jobs/{job_id}/cancel",
    response_model=JobOut,
    summary="Cancel a job",
    responses=error_responses(404, 409),
)
async def cancel_job(request: Request, job_id: str) -> JobOut:
    """A waiting or queued job is canceled at once; a running one stops at its next
    progress report (``cancel_requested`` until then). 409 when it already ended."""
    job = await to_thread.run_sync(request.app.state.store.cancel, job_id)
    return _out(request, job)


@router.post(
    "/v1/jobs/{job_id}/retry",
    status_code=202,
    response_model=JobOut,
    summary="Run a failed or canceled job again",
    responses=error_responses(404, 409),
)
async def retry_job(request: Request, job_id: str) -> JobOut:
    """Queue a failed or canceled job again (fresh attempts); 409 for other statuses."""

    def retry() -> Job:
        job = request.app.state.store.retry(job_id)
        if job.status == "queued":
            _enqueue(request, job)
        return job

    job = await to_thread.run_sync(retry)
    return _out(request, job)


def _event(name: str, data: Any) -> dict[str, str]:
    return {"event": name, "data": json.dumps(data, default=str)}


@router.get(
    "/v1/jobs/{job_id}/events",
    summary="Follow a job (server-sent events)",
    response_class=EventSourceResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Events 'status' (the job, at start and on each status change), "
            "'progress' ({progress, step}) and 'end' (the final job), then the stream ends.",
        },
        **error_responses(404),
    },
)
async def job_events(request: Request, job_id: str) -> EventSourceResponse:
    """Server-sent events until the job ends: ``status`` with the job at once and at each
    status change, ``progress`` with ``{"progress", "step"}`` as it moves, ``end`` with the
    final job."""
    store = request.app.state.store
    job = await to_thread.run_sync(store.get, job_id)

    async def stream():
        nonlocal job
        last_status, last_progress = job.status, (job.progress, job.step)
        yield _event("status", _out(request, job).model_dump(mode="json"))
        loop = asyncio.get_running_loop()
        start = loop.time()
        while job.status not in JOB_FINAL and loop.time() - start < EVENTS_MAX:
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENTS_POLL)
            try:
                job = await to_thread.run_sync(store.get, job_id)
            except NotFoundError:
                return
            if (job.progress, job.step) != last_progress:
                last_progress = (job.progress, job.step)
                step = redact_secrets(job.step) if job.step else job.step
                yield _event("progress", {"progress": job.progress, "step": step})
            if job.status != last_status:
                last_status = job.status
                yield _event("status", _out(request, job).model_dump(mode="json"))
        if job.status in JOB_FINAL:
            yield _event("end", _out(request, job).model_dump(mode="json"))

    return EventSourceResponse(stream(), ping=15)


@router.get(
    "/v1/jobs/{job_id}/artifacts/{name:path}",
    summary="A file the job wrote (HTTP Range supported)",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file"},
        206: {"description": "The requested byte range"},
        **error_responses(404, 416),
    },
)
async def job_artifact(request: Request, job_id: str, name: str) -> FileResponse:
    """One artifact of the job by its name (as listed in the job's ``artifacts``);
    ``Range: bytes=...`` gives 206 Partial Content, so a browser can seek in a video."""
    store = request.app.state.store
    job = await to_thread.run_sync(store.get, job_id)
    for stored in job.artifacts:
        if _artifact_name(job, stored) == name:
            path = store.root / stored
            if path.is_file():
                return FileResponse(
                    path, filename=PurePosixPath(name).name, content_disposition_type="inline"
                )
            break
    raise NotFoundError(
        f"job {job_id} has no artifact {name}", "see the artifacts listed by GET /v1/jobs/{id}"
    )
