"""The ``audio`` stage: the audio track as a file, its duration recorded."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)


class AudioStage(Stage):
    """The audio track as a file (``extract-audio``); its duration is recorded on the
    media item. Without job files (``vidpipe run``) only the duration is measured."""

    name = "audio"
    takes = ("media", "file")
    media_step = True
    in_all = True
    needs_audio = True

    class Options(StageOptions):
        format: Literal["wav", "flac", "mp3", "m4a"] = "wav"
        sample_rate: int | None = Field(None, gt=0, le=384_000, description="Hz; None keeps it")
        channels: int | None = Field(None, ge=1, le=8, description="None keeps them")
        stream: int | None = Field(None, ge=0, description="audio stream index (0-based)")

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        # imported here for start-up time: PyAV, NumPy
        from vidpipe.media.audio import audio_duration, extract_audio

        path, mid = inputs.source(ctx.catalog)
        if not ctx.write_artifacts:
            ctx.progress(0.0, f"checking the audio of {path.name}")
            seconds = audio_duration(path)
            if mid is not None and ctx.catalog is not None:
                ctx.catalog.set_duration(mid, seconds)
            return StageResult(result={"duration": seconds, "media_id": mid})
        out = extract_audio(
            path,
            ctx.path(f"audio.{options.format}"),
            sample_rate=options.sample_rate,
            channels=options.channels,
            stream=options.stream,
            progress=ctx.counter(f"extracting audio of {path.name}"),
        )
        seconds = audio_duration(out)
        if mid is not None and ctx.catalog is not None:
            ctx.catalog.set_duration(mid, seconds)
        result: dict[str, Any] = {"duration": seconds, "format": options.format}
        if mid is not None:
            result["media_id"] = mid
        return StageResult(result=result, artifacts=[ctx.relative(out)])
