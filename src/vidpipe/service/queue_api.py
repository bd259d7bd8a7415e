"""The queue as a whole: paused or running, and the jobs per status.

=====================================  =================================================
route                                  answers
=====================================  =================================================
``GET /v1/queue``                      ``{paused, paused_since, counts}``: counts of jobs
                                       per status over the whole catalog
``POST /v1/queue/pause``               pause: queue workers take no new job (running
                                       jobs go on; queued ones stay queued)
``POST /v1/queue/resume``              resume: workers take jobs again
``GET /v1/queue/groups``               jobs grouped by input (one per source or upload or
                                       chain: file name, steps, state, one readable
                                       error line, times;
                                       :mod:`vidpipe.library.job_groups`), ``?state=``,
                                       ``limit``, ``offset``, ``all=true`` (with cleared)
``POST /v1/queue/retry-failed``        retry every job that failed on its own: each
                                       chain goes on from its failed step
``POST /v1/queue/clear-finished``      hide the groups that have ended (nothing deleted)
=====================================  =================================================

The flag lives in the catalog (:mod:`vidpipe.library.queue_flags`), so every worker of
the catalog (the service's own, ``vidpipe worker`` on other machines) sees it within
about a second.
"""

from __future__ import annotations

from typing import Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from vidpipe.service.errors import error_responses

__all__ = ["router"]

router = APIRouter(tags=["jobs"])


class QueueOut(BaseModel):
    paused: bool
    paused_since: str | None = Field(None, description="UTC, ISO 8601, when paused")
    counts: dict[str, int] = Field(description="jobs per status, whole catalog")


def _state(request: Request, paused: bool | None = None) -> QueueOut:
    from vidpipe.library.queue_flags import paused_since, set_paused

    store = request.app.state.store
    since = paused_since(store.catalog) if paused is None else set_paused(store.catalog, paused)
    return QueueOut(
        paused=since is not None,
        paused_since=since.isoformat() if since is not None else None,
        counts=store.counts(),
    )


@router.get("/v1/queue", response_model=QueueOut, summary="The queue: paused? jobs per status")
async def queue_state(request: Request) -> QueueOut:
    """Whether the queue is paused (and since when) and the jobs per status."""
    return await to_thread.run_sync(_state, request)


@router.post(
    "/v1/queue/pause",
    response_model=QueueOut,
    summary="Pause the queue",
    responses=error_responses(500),
)
async def pause_queue(request: Request) -> QueueOut:
    """Workers take no new job until resumed; running jobs go on, queued ones wait."""
    return await to_thread.run_sync(_state, request, True)


@router.post(
    "/v1/queue/resume",
    response_model=QueueOut,
    summary="Resume the queue",
    responses=error_responses(500),
)
async def resume_queue(request: Request) -> QueueOut:
    """Workers take jobs again."""
    return await to_thread.run_sync(_state, request, False)


class GroupsOut(BaseModel):
    groups: list[dict[str, Any]] = Field(description="JobGroup.to_dict() of each group")
    counts: dict[str, int] = Field(description="groups per state (running, queued, ...)")
    total: int = Field(description="groups matching state=, over every page")
    paused: bool


@router.get(
    "/v1/queue/groups",
    response_model=GroupsOut,
    summary="Jobs grouped by input",
    responses=error_responses(422),
)
async def job_groups(
    request: Request,
    state: Literal["running", "queued", "failed", "succeeded"] | None = Query(None),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
    all: bool = Query(False, description="also the groups cleared by clear-finished"),
) -> GroupsOut:
    """One row per input (a submitted source, an upload, a URL, a chain of jobs) with
    its steps in order, the most recently changed first; counts per state over all."""
    from vidpipe.library.job_groups import job_groups as groups_of
    from vidpipe.library.queue_flags import paused_since

    def load() -> GroupsOut:
        cat = request.app.state.store.catalog
        page, counts, total = groups_of(
            cat, state=state, limit=limit, offset=offset, include_cleared=all
        )
        return GroupsOut(
            groups=[g.to_dict() for g in page],
            counts=counts,
            total=total,
            paused=paused_since(cat) is not None,
        )

    return await to_thread.run_sync(load)


class RetriedOut(BaseModel):
    retried: list[str] = Field(description="ids of the jobs queued again")


@router.post(
    "/v1/queue/retry-failed",
    response_model=RetriedOut,
    summary="Retry every failed job from its failed step",
)
async def retry_failed(request: Request) -> RetriedOut:
    """Every job that failed on its own is queued again with fresh attempts; the steps
    after it that failed because of it wait again (each chain goes on from its failed
    step)."""
    from vidpipe.errors import ConflictError, NotFoundError
    from vidpipe.library.job_groups import failed_roots
    from vidpipe.service.jobs_api import _enqueue

    def run() -> list[str]:
        store = request.app.state.store
        done = []
        for job_id in failed_roots(store.catalog):
            try:
                job = store.retry(job_id)
            except (ConflictError, NotFoundError):  # retried or gone meanwhile
                continue
            if job.status == "queued":
                _enqueue(request, job)
            done.append(job_id)
        return done

    return RetriedOut(retried=await to_thread.run_sync(run))


class ClearedOut(BaseModel):
    cleared_at: str


@router.post(
    "/v1/queue/clear-finished",
    response_model=ClearedOut,
    summary="Hide the groups that have ended",
)
async def clear_finished(request: Request) -> ClearedOut:
    """Groups whose steps had all ended by now leave the grouped list (``all=true``
    still shows them); nothing is deleted (items' statuses come from their jobs)."""
    from vidpipe.library.job_groups import clear_finished as clear

    when = await to_thread.run_sync(clear, request.app.state.store.catalog)
    return ClearedOut(cleared_at=when.isoformat())
