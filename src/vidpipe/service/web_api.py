"""Read routes the web page needs beside the library API: the report and item previews.

- ``GET /v1/report``: ``vidpipe report``'s totals, the failures grouped by reason
  (each failed source with its own message), the languages present and the link of
  the durations plot and the durations themselves (the page draws its own plot);
- ``GET /v1/report/durations.png``: ``vidpipe report``'s duration distribution plot
  (:func:`vidpipe.library.report.write_plot`);
- ``GET /v1/items/{item_id}/thumbnail``: the item's preview JPEG, a keyframe or a
  waveform (:func:`vidpipe.library.thumbnails.thumbnail`, cached by content);
- ``GET /v1/items/{item_id}/scenes/{index}/keyframe``: the keyframe JPEG of one scene
  (as ``vidpipe describe`` stored it).

Handlers are plain functions: FastAPI runs them in its thread pool, so decoding a
frame or drawing the plot never blocks the event loop.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from vidpipe.service.errors import error_responses

__all__ = ["router"]

router = APIRouter(tags=["library"])


class FailedSource(BaseModel):
    """One failed input line (or item sent to jobs): its label, its media item (if
    any), its own message and the step that failed (from its jobs; None when the
    status comes from its input line)."""

    source: str
    media_id: int | None = None
    message: str | None = None
    step: str | None = None


class FailureGroup(BaseModel):
    """Failed sources whose reasons differ only in their own details (paths, URLs)."""

    reason: str
    items: list[FailedSource]


class ReportOut(BaseModel):
    """``vidpipe report`` for the page. ``totals``: counts per state, ``duration`` in
    seconds, ``words``; ``durations``: the probed duration of each media file in
    seconds (the values of the durations plot, which the page draws itself);
    ``plot``: the link of the PNG plot, ``None`` without any probed duration."""

    totals: dict[str, float | int]
    failures: list[FailureGroup]
    languages: list[str]
    durations: list[float] = []
    plot: str | None = None


def _thumb_dir(request: Request) -> Path:
    return Path(request.app.state.config.storage) / "cache" / "thumbnails"


@router.get("/v1/report", response_model=ReportOut)
def report(request: Request) -> dict[str, Any]:
    """Totals, failures by reason (each with its message), languages, the durations
    and the PNG plot's link."""
    from vidpipe.library.report import build_report, failure_group

    rep = build_report(request.app.state.catalog)
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rep.rows:
        if row.state == "failed":
            groups.setdefault(failure_group(row.reason), []).append(
                {
                    "source": row.source,
                    "media_id": row.media_id,
                    "message": row.reason,
                    "step": row.step,
                }
            )
    failures = [
        {"reason": k, "items": v} for k, v in sorted(groups.items(), key=lambda kv: -len(kv[1]))
    ]
    languages = sorted({r.language for r in rep.rows if r.language})
    durations = rep.media_durations()
    return {
        "totals": rep.totals,
        "failures": failures,
        "languages": languages,
        "durations": durations,
        "plot": "/v1/report/durations.png" if durations else None,
    }


@router.get(
    "/v1/report/durations.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **error_responses(400)},
)
def durations_plot(request: Request) -> Response:
    """The duration distribution of ``vidpipe report`` (histogram and sorted durations)
    as a PNG; 400 when no item has a probed duration yet."""
    from vidpipe.library.report import build_report, write_plot

    rep = build_report(request.app.state.catalog)
    with tempfile.TemporaryDirectory(prefix="vidpipe-plot-") as tmp:
        path = write_plot(rep.media_durations(), Path(tmp) / "durations.png")
        data = path.read_bytes()
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-cache"})


@router.get(
    "/v1/items/{item_id}/thumbnail",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(404, 415)},
)
def item_thumbnail(
    request: Request,
    item_id: int = PathParam(..., ge=1, le=2**31 - 1, description="catalog item (media) id"),
    width: int = Query(320, ge=16, le=1920, description="pixels"),
) -> FileResponse:
    """The item's preview: a keyframe (video) or its waveform (audio), JPEG."""
    from vidpipe.library.thumbnails import thumbnail

    path = thumbnail(request.app.state.catalog, item_id, _thumb_dir(request), width)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})


@router.get(
    "/v1/items/{item_id}/scenes/{index}/keyframe",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(404)},
)
def scene_keyframe(
    request: Request,
    item_id: int = PathParam(..., ge=1, le=2**31 - 1, description="catalog item (media) id"),
    index: int = PathParam(..., ge=0, le=100_000, description="the scene's index"),
) -> FileResponse:
    """The keyframe of scene ``index`` of the item (the path is the catalog's, never
    the client's)."""
    from vidpipe.errors import NotFoundError
    from vidpipe.library.understanding import get_scenes

    scenes = get_scenes(request.app.state.catalog, item_id) or []
    scene = next((s for s in scenes if s.index == index), None)
    if scene is None or not scene.keyframe or not Path(scene.keyframe).is_file():
        raise NotFoundError(
            f"no keyframe of scene {index} of item {item_id}", "run vidpipe describe on it"
        )
    return FileResponse(scene.keyframe, media_type="image/jpeg")
