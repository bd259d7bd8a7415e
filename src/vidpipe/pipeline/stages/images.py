"""The ``images`` stage: one picture per chunk of a narration from an image generator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator

from vidpipe.config import get_settings, merge_options
from vidpipe.errors import InputError
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)
from vidpipe.text.chunking import chunk_transcript
from vidpipe.text.documents import looks_like_heading
from vidpipe.types import Chunk, Names


def _settings_llm(name: str):
    def default() -> str | None:
        return getattr(get_settings(), name, None)

    return default


def merge_short_chunks(chunks: list[Chunk], end: float, min_slide: float) -> list[Chunk]:
    """Chunks whose slide would last under ``min_slide`` seconds (to the next chunk's
    start, the last one to ``end``) merged into the one before, renumbered from 0.

    Args:
        chunks: in time order (seconds).
        end: when the last slide ends (the narration's duration), seconds.
        min_slide: shortest slide in seconds (0: keep every chunk).
    """
    out: list[Chunk] = []
    for i, c in enumerate(chunks):
        nxt = chunks[i + 1].start if i + 1 < len(chunks) else end
        if out and nxt - c.start < min_slide:
            prev = out[-1]
            out[-1] = prev.model_copy(
                update={
                    "end": c.end,
                    "text": f"{prev.text} {c.text}".strip(),
                    "segment_ids": prev.segment_ids + c.segment_ids,
                }
            )
        else:
            out.append(c.model_copy(update={"id": len(out)}))
    return out


def _artifact(ctx: StageContext, path: Path) -> str:
    """``path`` relative to the job folder, or absolute when it lies outside it (the
    user's own images of ``folder:DIR``)."""
    try:
        return ctx.relative(path)
    except ValueError:
        return str(Path(path).resolve())


class ImagesStage(Stage):
    """One image generator call: a picture per chunk of the dependency's transcript
    (a speak or transcribe job), or one picture of the given text.

    Chunks are :func:`~vidpipe.text.chunking.chunk_transcript`'s (``max_chunk``
    seconds at most, a heading opening a new one), those shorter than ``min_slide``
    merged into the one before (:func:`merge_short_chunks`); the result lists them
    (``chunks``) with the images.
    Prompts are written by the chat endpoint ``llm_base`` when there is one (default
    VIDPIPE_LLM_BASE), its responses cached in the catalog.
    """

    name = "images"
    cacheable = True
    takes = ("text", "dep:speak", "dep:transcribe")

    class Options(StageOptions):
        generator: Annotated[str, Names("images")] = Field(
            "cards", description="cards, folder:DIR, frames, sdwebui, openai"
        )
        width: int = Field(1920, ge=64, le=8192)
        height: int = Field(1080, ge=64, le=8192)
        max_chunk: float = Field(20.0, gt=0, description="longest chunk (slide), seconds")
        min_slide: float = Field(0.0, ge=0, description="shortest slide, seconds (0: any)")
        language: str | None = None
        image_base: Annotated[str | None, Names("url")] = Field(
            None, description="sdwebui/openai endpoint URL"
        )
        image_model: str | None = Field(None, description="image model name (openai)")
        llm_base: Annotated[str | None, Names("url")] = Field(
            default_factory=_settings_llm("llm_base"), description="chat endpoint for prompts"
        )
        llm_model: str | None = Field(default_factory=_settings_llm("llm_model"))

        @field_validator("generator")
        @classmethod
        def _known(cls, v: str) -> str:
            # imported here for start-up time: PyAV, NumPy
            from vidpipe.vision.images import GENERATOR_SPECS

            kind = v.strip().partition(":")[0].lower()
            if kind not in {s.partition(":")[0] for s in GENERATOR_SPECS}:
                raise ValueError(
                    f"unknown image source '{v}'; use one of {', '.join(GENERATOR_SPECS)}"
                )
            return v.strip()

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        # imported here for start-up time: PyAV, NumPy
        from vidpipe.vision.images import get_image_generator

        tr = inputs.transcript()
        if inputs.given.text and inputs.given.text.strip():
            chunks = [Chunk(id=0, start=0.0, end=0.0, text=inputs.given.text.strip())]
            language = options.language
        elif tr is not None:
            lang = options.language or tr.language
            chunks = chunk_transcript(  # a heading opens a slide
                tr,
                max_duration=options.max_chunk,
                break_before=lambda text: looks_like_heading(text, lang),
            )
            if options.min_slide and chunks:
                end = max(tr.duration, chunks[-1].end)
                chunks = merge_short_chunks(chunks, end, options.min_slide)
            language = options.language or tr.language
        else:
            raise InputError("an images job needs a text or a transcript", "give a text")
        if not chunks:
            raise InputError("nothing to draw: the transcript has no text", "check the input")

        settings = get_settings()  # the endpoints' settings, resolved here for the generator
        kwargs: dict[str, Any] = merge_options(
            settings.image_options(options.generator),
            base_url=options.image_base or None,
            model=options.image_model or None,
            width=options.width,
            height=options.height,
        )
        if inputs.given.path:
            kwargs["source_video"] = inputs.file(inputs.given.path)
        if options.llm_base:  # prompts from the LLM, its responses cached in the catalog
            # imported here for start-up time: NumPy
            from vidpipe.text.llm import OpenAIBackend

            kwargs["llm"] = OpenAIBackend(
                **merge_options(
                    settings.llm_options(),
                    base_url=options.llm_base,
                    model=options.llm_model,
                    catalog=ctx.catalog,
                )
            )
        gen = get_image_generator(options.generator, **kwargs)
        made = gen.generate(
            chunks,
            ctx.path("images/x").parent,
            language=language,
            progress=ctx.counter("images"),
            catalog=ctx.catalog,
            media_id=inputs.media_id(),
        )
        return StageResult(
            result={
                "images": [
                    g.model_dump(mode="json", exclude={"path"}) | {"path": _artifact(ctx, g.path)}
                    for g in made
                ],
                "chunks": [c.model_dump(mode="json") for c in chunks],
            },
            artifacts=[_artifact(ctx, g.path) for g in made],
        )
