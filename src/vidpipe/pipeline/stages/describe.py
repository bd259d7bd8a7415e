"""The ``describe`` stage: scenes of a video (keyframes, on-screen text, speech)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from vidpipe.errors import InputError
from vidpipe.library.understanding import describe_media, resolve_video
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)
from vidpipe.types import Names


class DescribeStage(Stage):
    """Scenes of a video: keyframes, on-screen text, what is said (and seen, with a
    vision endpoint); ``scenes.json`` and ``scenes.md`` in the job folder (in ``vidpipe
    run``: the item's folder). A catalog item that is audio only has nothing to see:
    it succeeds with ``{"scenes": 0, "video": false}``."""

    name = "describe"
    takes = ("media", "file", "dep:transcribe")
    media_step = True
    builds_on = ("transcribe",)

    class Options(StageOptions):
        vlm_base: Annotated[str | None, Names("url")] = None
        vlm_model: str | None = None
        frames_per_scene: int = Field(1, ge=1, le=16)
        model: Annotated[str | None, Names("model")] = Field(
            None, description="ASR model when a transcript is needed"
        )
        language: str | None = None

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        if ctx.catalog is None:
            raise InputError("a describe job needs a catalog", "run it from a job store")
        path, mid = inputs.source(ctx.catalog)
        media = ctx.catalog.get_media(mid) if mid is not None else None
        if media is not None and media.probe is not None and media.video_codec is None:
            return StageResult(result={"media_id": mid, "scenes": 0, "video": False})
        target = str(path) if mid is None else str(mid)
        ctx.progress(0.0, f"describing {path.name}")
        mid, tr, _stem, path = resolve_video(ctx.catalog, target, options.model, options.language)
        out = ctx.path("scenes.json").parent
        scenes = describe_media(
            ctx.catalog,
            mid,
            path,
            out,
            tr,
            options.vlm_base,
            options.vlm_model,
            options.frames_per_scene,
            progress=ctx.counter(f"describing {path.name}"),
        )
        files = sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
        return StageResult(
            result={"media_id": mid, "scenes": len(scenes)},
            artifacts=[ctx.relative(p) for p in files],
        )
