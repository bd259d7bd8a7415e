"""Operations routes: ``/health`` (no key, no work), ``/ready`` and ``/metrics``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from vidpipe import __version__
from vidpipe.service.errors import error_payload, request_id

__all__ = ["router"]

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    """The process answers."""

    status: Literal["ok"] = "ok"
    version: str


class Check(BaseModel):
    """One part the service needs: ``ok`` and, when not, why."""

    ok: bool
    detail: str | None = None


class Ready(BaseModel):
    """Whether the service can take work: catalog and queue reachable, a worker seen."""

    status: Literal["ready", "not ready"]
    checks: dict[str, Check]
    workers: int


@router.get("/health", response_model=Health, summary="Liveness (no key needed)")
async def health() -> Health:
    """Answers ``{"status": "ok", "version": ...}`` without touching anything."""
    return Health(version=__version__)


def _checks(request: Request) -> tuple[dict[str, Check], int]:
    from vidpipe.pipeline.queue import check_queue

    app = request.app
    config = app.state.config
    checks: dict[str, Check] = {}
    try:
        app.state.store.counts()
        checks["catalog"] = Check(ok=True)
    except Exception as exc:
        checks["catalog"] = Check(ok=False, detail=" ".join(str(exc).split())[:300])
    try:
        check_queue(config.queue_url)
        checks["queue"] = Check(ok=True)
    except Exception as exc:
        checks["queue"] = Check(ok=False, detail=" ".join(str(exc).split())[:300])
    workers = 0
    worker = app.state.worker
    if worker is not None and worker.alive:
        workers = 1
    if checks["catalog"].ok:
        try:
            seen = app.state.store.workers(within=config.ready_worker_seconds)
            workers = max(workers, len(seen))
        except Exception as exc:
            checks["catalog"] = Check(ok=False, detail=" ".join(str(exc).split())[:300])
    checks["workers"] = (
        Check(ok=True)
        if workers
        else Check(
            ok=False,
            detail=f"no worker seen in the last {config.ready_worker_seconds:g} s "
            "(start vidpipe worker, or vidpipe serve without --no-worker)",
        )
    )
    return checks, workers


@router.get(
    "/ready",
    response_model=Ready,
    summary="Readiness: catalog, queue and workers",
    responses={503: {"model": Ready, "description": "A part is missing (see checks)"}},
)
async def ready(request: Request) -> JSONResponse:
    """200 when the catalog and the queue answer and a worker was seen in the last 30 s;
    503 naming the part that is missing otherwise."""
    checks, workers = await run_in_threadpool(_checks, request)
    ok = all(c.ok for c in checks.values())
    body = Ready(status="ready" if ok else "not ready", checks=checks, workers=workers)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    """Jobs by status, queue depth, job durations and HTTP counters, in Prometheus's
    text format."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    try:
        body = await run_in_threadpool(generate_latest, request.app.state.metrics.registry)
    except Exception as exc:  # pragma: no cover - collectors guard themselves
        return JSONResponse(
            error_payload("InternalError", str(exc), None, request_id(request)), 500
        )
    return Response(body, media_type=CONTENT_TYPE_LATEST)
