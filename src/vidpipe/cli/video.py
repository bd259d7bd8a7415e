"""Text and audio to video: ``speak``, ``render``, ``narrate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from vidpipe.cli._common import (
    _catalog,
    _frames_progress,
    _QuietOpt,
    _run,
    err,
)
from vidpipe.timecode import hms_ms as _hms

_LangOpt = Annotated[
    str | None, typer.Option("--language", "-l", help="Transcript language (default: detect).")
]
# --------------------------------------------------------------------------- speak


def speak(
    text: Annotated[
        str,
        typer.Argument(help="Text to speak, or a .txt/.md/.pdf file ('-' reads standard input)."),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Audio file: .wav, .flac, .mp3 or .m4a.")
    ],
    voice: Annotated[
        str | None,
        typer.Option(
            "--voice", "-v", help="joe (default, English), espeak:LANG, or a Piper .onnx file."
        ),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option(
            "--language", "-l", help="ISO 639-1 code; without --voice, not English uses espeak-ng."
        ),
    ] = None,
    timings: Annotated[
        Path | None,
        typer.Option("--timings", help="Also write sentence times: .json, .srt, .vtt or .tsv."),
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads.")] = None,
    quiet: _QuietOpt = False,
) -> None:
    """Speak text offline (Piper; espeak-ng for other languages) into an audio file.

    Sentences are timed from the synthesized samples; --timings writes those times.
    The audio is written sentence by sentence, so any length of text fits in memory.
    """
    from vidpipe.pipeline.stages.speak import speak_text

    progress = _frames_progress(quiet)
    task: list[int] = []

    def read() -> None:  # the text is good: show the display from here on
        progress.start()
        task.append(progress.add_task("loading voice", total=None))

    def loaded(name: str) -> None:
        progress.update(task[0], description=f"{output.name}: speaking ({name})")

    def advance(done: float, total: float) -> None:
        progress.update(task[0], completed=done, total=total)

    try:
        spoken = _run(
            lambda: speak_text(
                text,
                output,
                voice=voice,
                language=language,
                threads=threads,
                timings=timings,
                on_read=read,
                on_voice=loaded,
                progress=advance,
            )
        )
    finally:
        if task:  # started (stopping an unstarted display prints a blank line)
            progress.stop()
    result, wall = spoken.result, spoken.wall
    if not quiet:
        n = len(result.sentences)
        rtf = wall / result.duration if result.duration else 0.0
        extra = f", timings -> {timings}" if timings is not None else ""
        err.print(
            f"{output}: {_hms(result.duration)} of speech, {n} sentence{'s' if n != 1 else ''}, "
            f"voice {result.voice} ({result.language}, {result.sample_rate} Hz) "
            f"in {wall:.1f} s (RTF {rtf:.3f}){extra}",
            highlight=False,
        )


# --------------------------------------------------------------------------- video generation


def _size(value: str) -> tuple[int, int]:
    from vidpipe.errors import UsageError

    try:
        w, h = (int(v) for v in value.lower().replace("×", "x").split("x"))
    except ValueError:
        raise UsageError(f"bad --size {value!r}", "use WIDTHxHEIGHT, e.g. 1920x1080") from None
    return w, h


def _floats(value: str | None, name: str) -> list[float] | None:
    from vidpipe.errors import UsageError

    if value is None:
        return None
    try:
        return [float(v) for v in value.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"bad {name} {value!r}", "give seconds separated by commas") from None


_SizeOpt = Annotated[str, typer.Option("--size", help="Frame size WIDTHxHEIGHT (even numbers).")]
_FpsOpt = Annotated[float, typer.Option("--fps", help="Frames per second.")]
_TransOpt = Annotated[
    str, typer.Option("--transition", help="crossfade, fade (through black) or none.")
]
_TransDurOpt = Annotated[
    float, typer.Option("--transition-duration", help="Transition length in seconds.")
]
_KbOpt = Annotated[
    bool, typer.Option("--ken-burns/--no-ken-burns", help="Slow zoom and pan over each image.")
]
_ZoomOpt = Annotated[float, typer.Option("--zoom", help="Ken Burns zoom factor.")]
_MotionOpt = Annotated[
    str, typer.Option("--motion", help="vary (default), in, out, left, right, up or down.")
]
_FitOpt = Annotated[
    str, typer.Option("--fit", help="fit (whole image over a blurred fill) or fill (crop).")
]
_SubModeOpt = Annotated[
    str,
    typer.Option(
        "--subtitle-mode", help="burn (into the picture), soft (text track + .srt), both, none."
    ),
]
_FontOpt = Annotated[
    str | None, typer.Option("--font", help="Subtitle font file (default: bundled Noto Sans CJK).")
]
_MusicOpt = Annotated[
    Path | None, typer.Option("--music", help="Background music, ducked under the narration.")
]
_CrfOpt = Annotated[int, typer.Option("--crf", help="x264 quality, 0-51 (lower is better).")]
_PresetOpt = Annotated[str, typer.Option("--preset", help="x264 speed preset.")]


def _render_options(size, fps, transition, transition_duration, ken_burns, zoom, motion, fit,
                    subtitle_mode, font, crf, preset, slide_duration=3.0):  # fmt: skip
    from vidpipe.media.render import RenderOptions
    from vidpipe.media.subtitles import SubtitleStyle

    w, h = _run(lambda: _size(size))
    opts = RenderOptions(
        width=w,
        height=h,
        fps=fps,
        slide_duration=slide_duration,
        transition=transition,
        transition_duration=transition_duration,
        ken_burns=ken_burns,
        zoom=zoom,
        motion=motion,
        fit=fit,
        subtitles=subtitle_mode,
        style=SubtitleStyle(font=font),
        crf=crf,
        preset=preset,
    )
    _run(opts.check)
    if font is not None:
        from vidpipe.media.fonts import load_font

        _run(lambda: load_font(font, 20))
    return opts


def render(
    images: Annotated[
        list[Path] | None, typer.Argument(help="Image files, one per slide, in order.")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output video (.mp4).")] = Path(
        "slideshow.mp4"
    ),
    audio: Annotated[
        Path | None, typer.Option("--audio", "-a", help="Narration; the video lasts as long.")
    ] = None,
    image_opt: Annotated[
        list[Path] | None,
        typer.Option("--images", "-i", help="Image files (repeat, or list them after it)."),
    ] = None,
    image_dir: Annotated[
        Path | None, typer.Option("--image-dir", "-d", help="Use the images in this folder.")
    ] = None,
    subtitles: Annotated[
        str,
        typer.Option(
            "--subtitles",
            "-s",
            help="auto (a .srt/.vtt beside the audio, else transcribe it), none, or a "
            ".srt/.vtt/.ass/.json file.",
        ),
    ] = "auto",
    slide_duration: Annotated[
        float, typer.Option("--slide-duration", help="Seconds per slide without audio.")
    ] = 3.0,
    durations: Annotated[
        str | None, typer.Option("--durations", help="Seconds per slide, comma-separated.")
    ] = None,
    starts: Annotated[
        str | None,
        typer.Option("--starts", help="Slide start times in seconds, comma-separated."),
    ] = None,
    size: _SizeOpt = "1920x1080",
    fps: _FpsOpt = 24.0,
    transition: _TransOpt = "crossfade",
    transition_duration: _TransDurOpt = 0.5,
    ken_burns: _KbOpt = True,
    zoom: _ZoomOpt = 1.1,
    motion: _MotionOpt = "vary",
    fit: _FitOpt = "fit",
    subtitle_mode: _SubModeOpt = "burn",
    font: _FontOpt = None,
    music: _MusicOpt = None,
    crf: _CrfOpt = 20,
    preset: _PresetOpt = "medium",
    model: Annotated[
        str, typer.Option("--model", "-m", help="ASR model for --subtitles auto.")
    ] = "base",
    quiet: _QuietOpt = False,
) -> None:
    """Render images (and narration) into an MP4 slideshow: Ken Burns motion,
    transitions, subtitles, optional ducked music. H.264 + AAC, faststart."""
    from vidpipe.pipeline.stages.render import render_video

    opts = _render_options(size, fps, transition, transition_duration, ken_burns, zoom, motion,
                           fit, subtitle_mode, font, crf, preset, slide_duration)  # fmt: skip
    slide_durations = _run(lambda: _floats(durations, "--durations"))
    slide_starts = _run(lambda: _floats(starts, "--starts"))
    progress = _frames_progress(quiet)
    task: list[int] = []

    def transcribing(path: Path):
        return err.status(Text(f"transcribing {path.name} for subtitles"), spinner="dots")

    def start() -> None:
        progress.start()
        task.append(progress.add_task(f"rendering {output.name}", total=None))

    def advance(done: float, total: float) -> None:
        progress.update(task[0], completed=done, total=total)

    try:
        result, n_slides = _run(
            lambda: render_video(
                output,
                opts,
                images=[*(image_opt or []), *(images or [])],
                image_dir=image_dir,
                audio=audio,
                subtitles=subtitles,
                model=model,
                durations=slide_durations,
                starts=slide_starts,
                music=music,
                on_transcribe=transcribing,
                on_start=start,
                progress=advance,
            )
        )
    finally:
        if task:  # started (stopping an unstarted display prints a blank line)
            progress.stop()
    speed = result.duration / result.seconds if result.seconds else 0.0
    extra = f", subtitles {result.srt}" if result.srt else ""
    err.print(
        f"{result.output}: {n_slides} slides, {result.duration:.2f} s, {result.frames} frames "
        f"{result.width}x{result.height}@{result.fps:g} in {result.seconds:.1f} s "
        f"({speed:.2f}x real time){extra}",
        highlight=False,
    )


def narrate(
    source: Annotated[
        Path, typer.Argument(help="Text (.txt, .md, .pdf) to speak, or an audio/video recording.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output video (.mp4).")] = Path(
        "narrated.mp4"
    ),
    voice: Annotated[
        str | None,
        typer.Option("--voice", "-v", help="TTS voice: joe (bundled), espeak:LANG, or a .onnx."),
    ] = None,
    language: _LangOpt = None,
    images: Annotated[
        str,
        typer.Option(
            "--images", "-i", help="cards (default), folder:DIR, frames, sdwebui[:URL], openai."
        ),
    ] = "cards",
    image_base: Annotated[
        str | None, typer.Option("--image-base", help="Base URL of the sdwebui/openai endpoint.")
    ] = None,
    image_model: Annotated[
        str | None, typer.Option("--image-model", help="Image model name (openai).")
    ] = None,
    llm_base: Annotated[
        str | None,
        typer.Option("--llm-base", help="OpenAI-compatible chat endpoint for image prompts."),
    ] = None,
    llm_model: Annotated[str | None, typer.Option("--llm-model", help="Chat model name.")] = None,
    max_chunk: Annotated[
        float, typer.Option("--max-chunk", help="Longest slide (chunk) in seconds.")
    ] = 20.0,
    work_dir: Annotated[
        Path | None, typer.Option("--work-dir", help="Artifacts folder (default OUTPUT.work).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="ASR model for recordings (base, tiny.en).")
    ] = None,
    size: _SizeOpt = "1920x1080",
    fps: _FpsOpt = 24.0,
    transition: _TransOpt = "crossfade",
    transition_duration: _TransDurOpt = 0.5,
    ken_burns: _KbOpt = True,
    zoom: _ZoomOpt = 1.1,
    motion: _MotionOpt = "vary",
    fit: _FitOpt = "fit",
    subtitle_mode: _SubModeOpt = "burn",
    font: _FontOpt = None,
    music: _MusicOpt = None,
    crf: _CrfOpt = 20,
    preset: _PresetOpt = "medium",
    quiet: _QuietOpt = False,
) -> None:
    """Turn a text or a recording into a narrated video: speech (or transcript), chunks,
    one image per chunk, subtitles, rendered. A rerun reuses every stage whose input and
    options are unchanged (the stage cache in the catalog). Runs as a narrate job
    (vidpipe jobs list)."""
    from vidpipe.pipeline.catalog_jobs import narrate_job
    from vidpipe.pipeline.narrate import render_params

    ropts = _render_options(size, fps, transition, transition_duration, ken_burns, zoom, motion,
                            fit, subtitle_mode, font, crf, preset)  # fmt: skip
    render = render_params(ropts, "narrated.mp4")
    render.pop("output")
    params = {
        "voice": voice,
        "language": None if language in (None, "auto") else language,
        "images": images,
        "model": model,
        "max_chunk": max_chunk,
        "image_base": image_base,
        "image_model": image_model,
        "llm_base": llm_base,
        "llm_model": llm_model,
        "render": render,
    }
    labels = {
        "speech": "synthesizing speech",
        "transcript": "transcribing",
        "chunks": "chunking",
        "images": "images",
        "render": f"rendering {output.name}",
    }
    progress = _frames_progress(quiet)
    task = progress.add_task("narrate", total=100)

    def advance(step: str | None, fraction: float) -> None:
        what = labels.get(step or "", step or "narrate")
        progress.update(task, completed=100 * fraction, description=what)

    cat = _catalog()  # the jobs, the stage cache, image records and LLM responses live there
    try:
        with progress:
            job = _run(
                lambda: narrate_job(
                    cat,
                    source,
                    output,
                    params,
                    music=music,
                    work_dir=work_dir,
                    on_progress=advance,
                )
            )
    finally:
        cat.close()
    r = job.result or {}
    reused = f"; reused {', '.join(r['reused'])}" if r.get("reused") else ""
    err.print(
        f"{r['output']}: {r['slides']} slides, {r['duration']:.2f} s, "
        f"{r['width']}x{r['height']}@{r['fps']:g}; work folder {r['work_dir']}{reused}",
        highlight=False,
    )
