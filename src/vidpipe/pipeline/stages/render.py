"""The ``render`` stage: slides and a narration into an MP4."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, field_validator, model_validator

from vidpipe.config import get_settings
from vidpipe.errors import InputError, UsageError
from vidpipe.files import image_files
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)
from vidpipe.types import Names

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.media.render import RenderOptions, RenderResult


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


# --------------------------------------------------------------------------- the command's work


def _noop(*_args: Any) -> None:
    return None


def slide_images(
    images: Sequence[str | os.PathLike[str]] = (), image_dir: str | os.PathLike[str] | None = None
) -> list[Path]:
    """The slides of ``render``: the given image files, then the images of
    ``image_dir`` (:func:`vidpipe.files.image_files`, natural name order).

    Raises:
        UsageError: no image at all. InputError: ``image_dir`` is not a folder.
    """
    paths = [Path(p) for p in images]
    if image_dir is not None:
        paths += image_files(image_dir, "check --image-dir")
    if not paths:
        raise UsageError("no images given", "list image files, or use --image-dir DIR")
    return paths


def subtitle_source(
    spec: str,
    audio: str | os.PathLike[str] | None,
    model: str = "base",
    on_transcribe: Callable[[Path], Any] | None = None,
):
    """Cues for ``render --subtitles``: ``spec`` is a subtitle file (.srt/.vtt/.ass/.json),
    or ``auto``: a .srt/.vtt/.ass beside ``audio``, else ``audio`` transcribed with
    ``model``. ``None`` without audio (auto).

    Args:
        on_transcribe(audio): called before transcribing; may return a context manager
            that is held while it runs (a spinner).

    Returns:
        A :class:`~vidpipe.types.Transcript` or the loaded cues, or ``None``.

    Raises:
        InputError, MediaError: the file cannot be read. ModelError: no such model.
    """
    # imported here for start-up time: PyAV, NumPy
    from vidpipe.media.subtitles import load_subtitles

    if spec != "auto":
        return load_subtitles(spec)
    if audio is None:
        return None
    audio = Path(audio)
    for suffix in (".srt", ".vtt", ".ass"):
        side = audio.with_suffix(suffix)
        if side.is_file():
            return load_subtitles(side)
    # imported here for start-up time: NumPy, ASR/TTS engines
    from vidpipe.speech.transcribe import transcribe as transcribe_file

    held = on_transcribe(audio) if on_transcribe is not None else None
    with held if held is not None else contextlib.nullcontext():
        return transcribe_file(audio, model=model, settings=get_settings())


def render_video(
    output: str | os.PathLike[str],
    options: RenderOptions,
    *,
    images: Sequence[str | os.PathLike[str]] = (),
    image_dir: str | os.PathLike[str] | None = None,
    audio: str | os.PathLike[str] | None = None,
    subtitles: str = "auto",
    model: str = "base",
    durations: Sequence[float] | None = None,
    starts: Sequence[float] | None = None,
    music: str | os.PathLike[str] | None = None,
    on_transcribe: Callable[[Path], Any] | None = None,
    on_start: Callable[[], None] = _noop,
    progress: Callable[[float, float], None] | None = None,
) -> tuple[RenderResult, int]:
    """``render``: slides (:func:`slide_images`) and a narration into a video with
    :func:`vidpipe.media.render.render_slideshow`; subtitles from :func:`subtitle_source`
    (none when ``subtitles`` or ``options.subtitles`` is ``none``).

    Args:
        on_transcribe: see :func:`subtitle_source`.
        on_start(): the slides and subtitles are ready; rendering starts.
        progress(done, total): frames encoded.

    Returns:
        ``(result, number of slides)``.

    Raises:
        UsageError: no images, bad times. InputError, MediaError: unreadable inputs.
        OutputError: the video cannot be written.
    """
    # imported here for start-up time: PyAV, NumPy
    from vidpipe.media.render import render_slideshow

    paths = slide_images(images, image_dir)
    cues = None
    if subtitles != "none" and options.subtitles != "none":
        cues = subtitle_source(subtitles, audio, model, on_transcribe)
    on_start()
    result = render_slideshow(
        paths,
        output,
        audio=audio,
        durations=durations,
        starts=starts,
        subtitles=cues,
        music=music,
        options=options,
        progress=progress,
    )
    return result, len(paths)
