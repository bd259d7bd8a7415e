"""The ``chapters`` stage: chapters of a media item's transcript."""

from __future__ import annotations

from typing import Any

from vidpipe.errors import InputError
from vidpipe.library import understanding as u
from vidpipe.library.catalog import Catalog
from vidpipe.library.understanding import (
    ChaptersRow,
    TextOptions,
    get_chapters,
    stored_hash,
    write_chapters,
)
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageResult,
)
from vidpipe.pipeline.stages.summarize import _media_item, _TextOptions
from vidpipe.text.script import chapters_to_script
from vidpipe.types import Chapter, Transcript


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


# ------------------------------------------------------------------- the work on catalog items


def chapters_media(
    cat: Catalog,
    media_id: int,
    transcript: Transcript | None = None,
    options: TextOptions | None = None,
    force: bool = False,
) -> tuple[list[Chapter], bool]:
    """Chapters of an item (stored or computed); see :func:`summarize_media`."""
    opts = options or TextOptions()
    opts.check()
    h = opts.hash("chapters", u.transcript_key(cat, media_id))
    if not force and (hit := get_chapters(cat, media_id, h)) is not None:
        return hit, False
    transcript = transcript or cat.get_transcript(media_id)
    if transcript is None:
        raise InputError(f"item {media_id} has no transcript yet", "run the transcribe step")
    from vidpipe.text.chunking import chunk_transcript
    from vidpipe.text.extractive import chapter_chunk_seconds

    media = cat.get_media(media_id)
    segments = transcript.segments
    duration = (
        transcript.duration
        or (media.duration if media else None)
        or (segments[-1].end if segments else 0.0)
    )
    # Chapters start at chunk starts: cut finer than the summary's chunks (~6 s for a
    # 2-minute talk) so a short talk can get its 2-4 chapters.
    chunks = chunk_transcript(transcript, chapter_chunk_seconds(duration, opts.max_chunk))
    language = opts.language or transcript.language
    chapters = chapters_to_script(
        opts.get_backend(cat).chapters(chunks, duration, language), opts.script(), language
    )
    u.store_row(
        cat,
        ChaptersRow(
            media_id=media_id,
            backend=opts.backend,
            model=opts.model_name(),
            options_hash=h,
            language=language,
            data=[c.model_dump(mode="json") for c in chapters],
        ),
    )
    return chapters, True
