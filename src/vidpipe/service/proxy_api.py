"""Playable copies of items the browser cannot decode (the ``proxy`` stage).

=====================================  =================================================
route                                  answers
=====================================  =================================================
``POST /v1/items/{id}/proxy``          starts the item's ``proxy`` job (202), or gives
                                       the one waiting, running or done (200): the job
``GET /v1/items/{id}/proxy``           the H.264/AAC MP4 (HTTP Range) once made; 404
                                       before
``GET /v1/items/{id}/proxy/poster``    its first picture (JPEG)
=====================================  =================================================
"""

from __future__ import annotations

from pathlib import Path

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import select

from vidpipe.errors import NotFoundError
from vidpipe.library.models import JobRow
from vidpipe.service.errors import error_responses

__all__ = ["router"]

router = APIRouter(tags=["library"])

ItemId = PathParam(..., ge=1, le=2**31 - 1, description="catalog item (media) id")
_LIVE = ("waiting", "queued", "running", "succeeded")


def _latest(request: Request, item_id: int, statuses: tuple[str, ...]) -> str | None:
    """Id of the newest proxy job of ``item_id`` in one of ``statuses``."""
    cat = request.app.state.store.catalog
    with cat.session(write=False) as s:
        rows = s.execute(
            select(JobRow.id, JobRow.input, JobRow.status)
            .where(JobRow.kind == "proxy", JobRow.status.in_(statuses))
            .order_by(JobRow.created_at.desc())
            .limit(500)
        ).all()
    return next((j for j, given, _ in rows if (given or {}).get("media_id") == item_id), None)


def _item(request: Request, item_id: int) -> None:
    if request.app.state.store.catalog.get_media(item_id) is None:
        raise NotFoundError(f"no item with id {item_id} in the catalog", "see GET /v1/items")


@router.post(
    "/v1/items/{item_id}/proxy",
    summary="Make a copy of the item the browser can play",
    responses={202: {"description": "a proxy job started"}, **error_responses(404, 422)},
)
async def make_proxy(request: Request, item_id: int = ItemId) -> JSONResponse:
    """The item's ``proxy`` job (H.264 + AAC MP4 and a poster): a new one (202), or the
    one already waiting, running or done (200). Follow it at ``/v1/jobs/{id}``.

    Raises:
        NotFoundError: no such item (404).
    """
    from vidpipe.service.jobs_api import _enqueue, _out

    def run():
        _item(request, item_id)
        store = request.app.state.store
        found = _latest(request, item_id, _LIVE)
        if found is not None:
            return store.get(found), False
        job = store.create("proxy", {}, input={"media_id": item_id})
        if job.status == "queued":
            _enqueue(request, job)
        return job, True

    job, created = await to_thread.run_sync(run)
    return JSONResponse(
        _out(request, job).model_dump(mode="json"), status_code=202 if created else 200
    )


def _artifact(request: Request, item_id: int, name: str) -> Path:
    _item(request, item_id)
    store = request.app.state.store
    found = _latest(request, item_id, ("succeeded",))
    if found is not None:
        for path in store.artifact_paths(store.get(found)):
            if path.name == name and path.is_file():
                return path
    raise NotFoundError(
        f"item {item_id} has no playable copy yet", "POST /v1/items/{id}/proxy makes one"
    )


@router.get(
    "/v1/items/{item_id}/proxy",
    response_class=FileResponse,
    summary="The item's playable copy (HTTP Range)",
    responses={200: {"content": {"video/mp4": {}}}, **error_responses(404, 422)},
)
async def get_proxy(request: Request, item_id: int = ItemId) -> FileResponse:
    """The H.264/AAC MP4 made by the item's ``proxy`` job.

    Raises:
        NotFoundError: no such item, or no copy made yet (404).
    """
    path = await to_thread.run_sync(_artifact, request, item_id, "proxy.mp4")
    return FileResponse(path, media_type="video/mp4", content_disposition_type="inline")


@router.get(
    "/v1/items/{item_id}/proxy/poster",
    response_class=FileResponse,
    summary="The playable copy's first picture",
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(404, 422)},
)
async def get_poster(request: Request, item_id: int = ItemId) -> FileResponse:
    """The first picture of the item's playable copy (JPEG).

    Raises:
        NotFoundError: no such item, or no copy made yet (404).
    """
    path = await to_thread.run_sync(_artifact, request, item_id, "poster.jpg")
    return FileResponse(path, media_type="image/jpeg")
