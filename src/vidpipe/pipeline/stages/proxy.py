"""The ``proxy`` stage: a copy of a video that web browsers play (H.264 + AAC MP4) and
its poster frame (:func:`vidpipe.media.proxy.make_proxy`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)


class ProxyStage(Stage):
    """A browser-playable copy (``proxy.mp4``) and poster (``poster.jpg``) of a media
    item or file, for media whose codec browsers cannot decode. The web page starts one
    when such an item is opened (``POST /v1/items/{id}/proxy``)."""

    name = "proxy"
    takes = ("media", "file")

    class Options(StageOptions):
        max_height: int = Field(720, ge=90, le=2160, description="tallest picture, pixels")

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        # imported here for start-up time: PyAV
        from vidpipe.media.proxy import make_proxy

        path, mid = inputs.source(ctx.catalog)
        ctx.progress(0.0, f"making a playable copy of {path.name}")
        made = make_proxy(
            path,
            ctx.path("proxy.mp4"),
            max_height=options.max_height,
            poster=ctx.path("poster.jpg"),
            progress=ctx.counter(f"making a playable copy of {path.name}"),
        )
        result: dict[str, Any] = {
            "width": made.width,
            "height": made.height,
            "duration": made.duration,
        }
        if mid is not None:
            result["media_id"] = mid
        files = [ctx.relative(made.path)] + ([ctx.relative(made.poster)] if made.poster else [])
        return StageResult(result=result, artifacts=files)
