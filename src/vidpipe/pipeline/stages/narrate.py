"""The ``narrate`` stage: a text or recording into a narrated video (speak or
transcribe, images, render, through the stage cache)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from vidpipe.errors import InputError, UsageError
from vidpipe.files import atomic_write
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)
from vidpipe.pipeline.stages.images import ImagesStage
from vidpipe.pipeline.stages.render import RenderStage, _video_name
from vidpipe.types import Names, ParamsOf


class NarrateStage(Stage):
    """A text (given, or a .txt/.md/.pdf file) or a recording into a narrated video:
    the chain speak (or transcribe), images, render of this registry, run in-process
    through the stage cache (:func:`vidpipe.pipeline.narrate.narrate`). The work files
    go to ``work/`` in the job folder, the video to ``output``."""

    name = "narrate"
    takes = ("text", "file")

    class Options(StageOptions):
        output: str = Field("narrated.mp4", description="file name in the job folder")
        voice: Annotated[str | None, Names("voice")] = Field(
            None, description="joe, espeak:LANG or a Piper .onnx file"
        )
        language: str | None = None
        images: Annotated[str, Names("images")] = Field(
            "cards", description="cards, folder:DIR, frames, sdwebui, openai"
        )
        model: Annotated[str | None, Names("model")] = Field(
            None, description="ASR model for recordings (base)"
        )
        max_chunk: float = Field(20.0, gt=0, description="longest slide, seconds")
        image_base: Annotated[str | None, Names("url")] = None
        image_model: str | None = None
        llm_base: Annotated[str | None, Names("url")] = None
        llm_model: str | None = None
        render: Annotated[dict[str, Any], ParamsOf(lambda: RenderStage.Options)] = Field(
            default_factory=dict, description="render stage params (size, fps, subtitles...)"
        )

        _name = field_validator("output")(classmethod(lambda cls, v: _video_name(v)))

        @model_validator(mode="after")
        def _check(self):
            try:
                ImagesStage.Options(generator=self.images)
                RenderStage().parse_options(self.render | {"output": self.output})
            except UsageError as exc:
                raise ValueError(exc.message) from None
            return self

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        # imported here for start-up time: PyAV, NumPy
        from vidpipe.pipeline.narrate import NarrateOptions, narrate

        if inputs.given.path:
            src = inputs.file(inputs.given.path)
        elif inputs.given.text and inputs.given.text.strip():
            src = ctx.path("work/text.txt")

            with atomic_write(src, encoding="utf-8") as fh:
                fh.write(inputs.given.text)
        else:
            raise InputError("no text or recording to narrate", "give a text or a file")
        ropts = RenderStage().parse_options(options.render | {"output": options.output})
        given_out = inputs.given.output  # vidpipe narrate -o: a file of the user's
        if given_out:
            video = Path(given_out)
            work = Path(inputs.given.work_dir) if inputs.given.work_dir else None
        else:
            video = ctx.work_dir / options.output
            work = ctx.path("work/x").parent
        opts = NarrateOptions(
            voice=options.voice,
            language=options.language,
            images=options.images,
            model=options.model,
            max_chunk=options.max_chunk,
            music=inputs.file(inputs.given.music) if inputs.given.music else None,
            work_dir=work,
            render=ropts.render_options(),
            image_base=options.image_base,
            image_model=options.image_model,
            llm_base=options.llm_base,
            llm_model=options.llm_model,
        )
        weights = {"speech": 0.3, "transcript": 0.3, "images": 0.2, "chunks": 0.0, "render": 0.5}
        base = {"speech": 0.0, "transcript": 0.0, "chunks": 0.3, "images": 0.3, "render": 0.5}

        def progress(stage: str, done: float, total: float) -> None:
            part = done / total if total else 0.0
            ctx.progress(base.get(stage, 0.0) + weights.get(stage, 0.0) * part, stage)

        res = narrate(
            src,
            video,
            opts,
            catalog=ctx.catalog,
            progress=progress,
            threads=ctx.threads,
        )
        files = [res.output, *([res.render.srt] if res.render.srt else [])]
        work_files = [res.work_dir / n for n in ("transcript.json", "chunks.json", "prompts.json")]
        mine = [p for p in [*files, *work_files, *res.images] if p.is_file()]
        if given_out:  # files outside the job folder: named in the result, not artifacts
            mine = [p for p in mine if p.resolve().is_relative_to(ctx.work_dir.resolve())]
        extra = {"output": str(res.output), "work_dir": str(res.work_dir)} if given_out else {}
        return StageResult(
            result={
                "duration": res.render.duration,
                "frames": res.render.frames,
                "width": res.render.width,
                "height": res.render.height,
                "fps": res.render.fps,
                "slides": len(res.chunks),
                "reused": res.reused,
            }
            | extra,
            artifacts=[ctx.relative(p) for p in mine],
        )
