"""The ``probe`` stage: container, duration and streams of a file."""

from __future__ import annotations

from typing import Any

from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)


class ProbeStage(Stage):
    """Container, duration and streams of a file (recorded on its media item)."""

    name = "probe"
    takes = ("media", "file")
    media_step = True
    in_all = True

    class Options(StageOptions):
        pass

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        # imported here for start-up time: PyAV, NumPy
        from vidpipe.media.probe import probe

        path, mid = inputs.source(ctx.catalog)
        ctx.progress(0.0, f"probing {path.name}")
        info = probe(path)
        if mid is not None and ctx.catalog is not None:
            ctx.catalog.record_probe(mid, info)
        result = info.model_dump(mode="json")
        if mid is not None:
            result["media_id"] = mid
        return StageResult(result=result)
