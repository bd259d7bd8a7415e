"""The ``summarize`` stage: a summary of a media item's transcript (and the text
options and item lookup it shares with ``chapters``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from vidpipe.errors import InputError
from vidpipe.library import understanding as u
from vidpipe.library.catalog import Catalog
from vidpipe.library.understanding import (
    SummaryRow,
    TextOptions,
    get_summary,
    stored_hash,
    write_summary,
)
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)
from vidpipe.text.script import summary_to_script
from vidpipe.types import Names, Summary, Transcript


class _TextOptions(StageOptions):
    backend: Literal["extractive", "openai"] = "extractive"
    llm_base: Annotated[str | None, Names("url")] = None
    llm_model: str | None = None
    max_chunk: float = Field(60.0, gt=0, description="seconds")
    language: str | None = None
    zh_script: str | None = None

    def text_options(self):
        return TextOptions(**self.model_dump())


class SummarizeStage(Stage):
    """Summary of a media item's transcript (stored in the catalog; cached by options)."""

    name = "summarize"
    takes = ("media", "dep:transcribe")
    Options = _TextOptions
    media_step = True
    needs_audio = True
    builds_on = ("transcribe",)

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        mid, cat = _media_item(ctx, inputs, self.name)
        ctx.progress(0.0, f"summarizing item {mid}")
        topts = options.text_options()
        summary, computed = summarize_media(cat, mid, options=topts)
        paths = write_summary(summary, ctx.work_dir, "summary") if ctx.write_artifacts else []
        result = summary.model_dump(mode="json") | {"media_id": mid, "computed": computed}
        # the key it is stored under (options and transcript): a rerun reuses this job
        result["stored_hash"] = stored_hash(cat, self.name, mid, topts)
        return StageResult(result=result, artifacts=[ctx.relative(p) for p in paths])


def _media_item(ctx: StageContext, inputs: StageInputs, kind: str):
    mid = inputs.media_id()
    if mid is None or ctx.catalog is None:
        raise InputError(
            f"a {kind} job needs a catalog item with a transcript",
            "give a media item id, or depend on a transcribe job",
        )
    return mid, ctx.catalog


# ------------------------------------------------------------------- the work on catalog items


def summarize_media(
    cat: Catalog,
    media_id: int,
    transcript: Transcript | None = None,
    options: TextOptions | None = None,
    force: bool = False,
) -> tuple[Summary, bool]:
    """Summary of an item: stored one if computed with the same options, else computed
    and stored. Returns ``(summary, computed)``."""
    opts = options or TextOptions()
    opts.check()
    h = opts.hash("summary", u.transcript_key(cat, media_id))
    if not force and (hit := get_summary(cat, media_id, h)) is not None:
        return hit, False
    transcript = transcript or cat.get_transcript(media_id)
    if transcript is None:
        raise InputError(f"item {media_id} has no transcript yet", "run the transcribe step")
    from vidpipe.text.chunking import chunk_transcript

    chunks = chunk_transcript(transcript, max_duration=opts.max_chunk)
    language = opts.language or transcript.language
    summary = summary_to_script(
        opts.get_backend(cat).summarize(chunks, language), opts.script(), language
    )
    u.store_row(
        cat,
        SummaryRow(
            media_id=media_id,
            backend=summary.backend,
            model=summary.model,
            options_hash=h,
            language=summary.language or language,
            data=summary.model_dump(mode="json"),
        ),
    )
    return summary, True
