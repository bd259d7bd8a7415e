"""The ``chapters`` stage: chapters of a media item's transcript."""

from __future__ import annotations

from typing import Any

from vidpipe.library.understanding import chapters_media, stored_hash, write_chapters
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageResult,
)
from vidpipe.pipeline.stages.summarize import _media_item, _TextOptions


class ChaptersStage(Stage):
    """Chapters of a media item's transcript (stored in the catalog; cached by options)."""

    name = "chapters"
    takes = ("media", "dep:transcribe")
    Options = _TextOptions
    media_step = True
    needs_audio = True
    builds_on = ("transcribe",)

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        mid, cat = _media_item(ctx, inputs, self.name)
        ctx.progress(0.0, f"chapters of item {mid}")
        topts = options.text_options()
        chapters, computed = chapters_media(cat, mid, options=topts)
        paths = write_chapters(chapters, ctx.work_dir, "chapters") if ctx.write_artifacts else []
        result = {
            "media_id": mid,
            "computed": computed,
            "chapters": [c.model_dump(mode="json") for c in chapters],
            # the key it is stored under (options and transcript): a rerun reuses this job
            "stored_hash": stored_hash(cat, self.name, mid, topts),
        }
        return StageResult(result=result, artifacts=[ctx.relative(p) for p in paths])
