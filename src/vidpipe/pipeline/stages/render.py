"""The ``render`` stage: slides and a narration into an MP4."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from vidpipe.errors import InputError, UsageError
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)
from vidpipe.types import Names


def _video_name(v: str) -> str:
    """A bare video file name (``.mp4``, ``.m4v``, ``.mov``) for a job folder."""
    if Path(v).name != v or Path(v).suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise ValueError("give a file name ending in .mp4, .m4v or .mov")
    return v


class RenderStage(Stage):
    """Slides (given, or the images jobs' pictures in ``depends_on`` order) and a
    narration (given, or the speak/audio job's) into an MP4; subtitles from the speak
    or transcribe job's transcript."""

    name = "render"
    cacheable = True
    takes = ("images", "dep:images")

    class Options(StageOptions):
        output: str = Field("video.mp4", description="file name in the job folder")
        width: int = 1920
        height: int = 1080
        fps: float = 24.0
        slide_duration: float = 3.0
        transition: str = "crossfade"
        transition_duration: float = 0.5
        ken_burns: bool = True
        zoom: float = 1.1
        motion: str = "vary"
        fit: str = "fit"
        subtitles: str = Field("burn", description="burn, soft, both or none")
        font: Annotated[str | None, Names("font")] = None
        crf: int = 20
        preset: str = "medium"
        music_volume_db: float = Field(-14.0, description="background music level, dB")
        duck_db: float = Field(-12.0, description="extra music ducking under speech, dB")
        audio_bitrate: int = Field(160_000, gt=0, description="AAC bits per second")
        style: dict[str, Any] = Field(
            default_factory=dict, description="SubtitleStyle fields besides the font"
        )
        durations: list[float] | None = None
        starts: list[float] | None = None

        _name = field_validator("output")(classmethod(lambda cls, v: _video_name(v)))

        @model_validator(mode="after")
        def _check(self):
            try:
                self.render_options().check()
            except UsageError as exc:
                raise ValueError(exc.message) from None
            return self

        def render_options(self):
            # imported here for start-up time: PyAV, NumPy
            from vidpipe.media.render import RenderOptions
            from vidpipe.media.subtitles import SubtitleStyle

            fields = self.model_dump(exclude={"output", "font", "durations", "starts", "style"})
            style = {k: tuple(v) if isinstance(v, list) else v for k, v in self.style.items()}
            try:
                look = SubtitleStyle(**style, font=self.font)
            except TypeError as exc:
                raise UsageError(f"bad subtitle style: {exc}") from None
            return RenderOptions(**fields, style=look)

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        # imported here for start-up time: PyAV, NumPy
        from vidpipe.media.render import render_slideshow

        images = inputs.images()
        if not images:
            raise InputError("a render job has no images", "depend on images jobs")
        cues = inputs.transcript() if options.subtitles != "none" else None
        res = render_slideshow(
            images,
            ctx.path(options.output),
            audio=inputs.audio(),
            durations=options.durations,
            starts=options.starts,
            subtitles=cues,
            music=inputs.file(inputs.given.music) if inputs.given.music else None,
            options=options.render_options(),
            progress=ctx.counter("rendering"),
        )
        artifacts = [ctx.relative(res.output)]
        if res.srt is not None:
            artifacts.append(ctx.relative(res.srt))
        return StageResult(
            result={
                "duration": res.duration,
                "frames": res.frames,
                "width": res.width,
                "height": res.height,
                "fps": res.fps,
                "slides": len(images),
                "audio_duration": res.audio_duration,
                "bounds": list(res.plan.bounds),
                "output": ctx.relative(res.output),
                "srt": ctx.relative(res.srt) if res.srt is not None else None,
                "seconds": res.seconds,
            },
            artifacts=artifacts,
        )
