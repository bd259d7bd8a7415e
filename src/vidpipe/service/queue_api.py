"""The queue as a whole: paused or running, and the jobs per status.

=====================================  =================================================
route                                  answers
=====================================  =================================================
``GET /v1/queue``                      ``{paused, paused_since, counts}``: counts of jobs
                                       per status over the whole catalog
``POST /v1/queue/pause``               pause: queue workers take no new job (running
                                       jobs go on; queued ones stay queued)
``POST /v1/queue/resume``              resume: workers take jobs again
=====================================  =================================================

The flag lives in the catalog (:mod:`vidpipe.library.queue_flags`), so every worker of
the catalog (the service's own, ``vidpipe worker`` on other machines) sees it within
about a second.
"""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Request
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
