"""The ``vidpipe`` command line: parse, call the library, render. No stage logic here.

Exit codes are listed in :mod:`vidpipe.errors` and the README.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from vidpipe import __version__
from vidpipe.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    VidpipeError,
)

app = typer.Typer(
    name="vidpipe",
    help="Turn video and audio into searchable, timestamped text, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class _State:
    debug = False


T = TypeVar("T")


def _fail(exc: BaseException) -> int:
    """Print one line for ``exc`` (plus the traceback with --debug); return its exit code."""
    if _State.debug:
        err.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
    if isinstance(exc, VidpipeError):
        err.print(f"[bold red]error:[/] {exc.one_line()}", highlight=False)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        err.print("[bold red]interrupted[/]")
        return EXIT_INTERRUPTED
    first = str(exc).splitlines()[0] if str(exc) else ""
    err.print(
        f"[bold red]error:[/] internal error: {type(exc).__name__}: {first} "
        "(rerun with --debug and report it)",
        highlight=False,
        markup=True,
    )
    return EXIT_SOME_FAILED


def _run(fn: Callable[[], T]) -> T:
    """Call ``fn``; on any error print one line and exit with the documented code."""
    try:
        return fn()
    except typer.Exit:
        raise
    except (Exception, KeyboardInterrupt) as exc:
        raise typer.Exit(_fail(exc)) from None


def _version(value: bool) -> None:
    if value:
        out.print(f"vidpipe {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """vidpipe: video and audio to searchable, timestamped text, offline."""
    _State.debug = debug


# --------------------------------------------------------------------------- probe


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = round(seconds * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}"


def _probe_table(info) -> Table:
    dur = f"{info.duration:.3f} s ({_hms(info.duration)})" if info.duration is not None else "-"
    rate = f"{info.bit_rate / 1000:.0f} kb/s" if info.bit_rate else "-"
    title = (
        f"[bold]{info.path}[/]\n{info.format_name} | {dur} | {rate} | "
        f"start {info.start_time if info.start_time is not None else 0:.3f} s | "
        f"{info.size:,} bytes"
    )
    t = Table(title=title, title_justify="left", show_lines=False)
    for col in ("#", "type", "codec", "details", "lang"):
        t.add_column(col)
    for s in info.streams:
        if s.type == "video":
            parts = [f"{s.width}x{s.height}"]
            if s.frame_rate:
                parts.append(f"{s.frame_rate_float:.3f} fps ({s.frame_rate})")
            if s.nominal_frame_rate and s.nominal_frame_rate != s.frame_rate:
                parts.append(f"nominal {s.nominal_frame_rate}")
            if s.rotation:
                parts.append(f"rotation {s.rotation:g}°")
            if s.sample_aspect_ratio and s.sample_aspect_ratio not in ("1:1", "0:1"):
                parts.append(f"SAR {s.sample_aspect_ratio}")
            if s.pix_fmt:
                parts.append(s.pix_fmt)
        elif s.type == "audio":
            parts = [f"{s.sample_rate} Hz", f"{s.channels} ch"]
            if s.channel_layout:
                parts.append(s.channel_layout)
        else:
            parts = [s.title or ""]
        if s.duration is not None:
            parts.append(f"{s.duration:.3f} s")
        t.add_row(
            str(s.index), s.type, s.codec or "-", ", ".join(p for p in parts if p), s.language or ""
        )
    return t


@app.command()
def probe(
    files: Annotated[list[Path], typer.Argument(help="Media files to inspect.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show container, duration and streams of media files (PyAV, no ffmpeg needed).

    With one file --json prints an object; with several, an array of objects.
    """
    from vidpipe.media.probe import probe as probe_file

    results, codes = [], []
    for f in files:
        try:
            results.append(probe_file(f))
        except (Exception, KeyboardInterrupt) as exc:
            codes.append(_fail(exc))
            if isinstance(exc, KeyboardInterrupt):
                break
    if as_json:
        docs = [r.model_dump(mode="json") for r in results]
        out.print_json(json.dumps(docs[0] if len(files) == 1 and docs else docs))
    else:
        for r in results:
            out.print(_probe_table(r))
    raise typer.Exit(_exit_code(codes, len(files)))


def _exit_code(codes: list[int], n_inputs: int) -> int:
    if not codes:
        return EXIT_OK
    if n_inputs == 1 or (len(set(codes)) == 1 and n_inputs == len(codes) == 1):
        return codes[0]
    if EXIT_INTERRUPTED in codes:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED


# --------------------------------------------------------------------------- extract-audio


@app.command("extract-audio")
def extract_audio(
    file: Annotated[Path, typer.Argument(help="Video or audio file.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Output file: .wav, .flac, .mp3 or .m4a.")
    ],
    rate: Annotated[int | None, typer.Option("--rate", help="Sample rate in Hz.")] = None,
    channels: Annotated[int | None, typer.Option("--channels", help="1 or 2.")] = None,
    audio_stream: Annotated[
        int | None, typer.Option("--audio-stream", help="Audio stream index (0-based).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Write the audio track to wav, flac, mp3 or m4a (chosen by the extension)."""
    from vidpipe.media.audio import extract_audio as extract

    t0 = time.perf_counter()
    path = _run(
        lambda: extract(file, output, sample_rate=rate, channels=channels, stream=audio_stream)
    )
    if not quiet:
        err.print(f"{file} -> {path} in {time.perf_counter() - t0:.1f} s", highlight=False)


# --------------------------------------------------------------------------- transcribe


class Task(StrEnum):
    transcribe = "transcribe"
    translate = "translate"


class EngineName(StrEnum):
    faster_whisper = "faster-whisper"
    openai = "openai"


class _AudioSecondsColumn(ProgressColumn):
    """``done/total s audio`` for a task whose units are audio seconds."""

    def render(self, task) -> Text:
        if task.total is None:
            return Text("")
        return Text(f"{task.completed:6.1f}/{task.total:.1f} s audio")


def _ts(seconds: float) -> str:
    ms = round(seconds * 1000)
    m, rem = divmod(ms, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{m:02d}:{s:02d}.{ms:03d}"


@app.command()
def transcribe(
    files: Annotated[list[Path], typer.Argument(help="Video or audio files.")],
    output_dir: Annotated[
        Path, typer.Option("-o", "--output-dir", help="Folder for the output files.")
    ] = Path("."),
    formats: Annotated[
        str, typer.Option("-f", "--format", help="Comma list of txt,srt,vtt,json,tsv or all.")
    ] = "txt,srt,vtt,json",
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="base (default), tiny.en, a model folder, or org/name."),
    ] = None,
    language: Annotated[
        str, typer.Option("--language", "-l", help="auto, or an ISO 639-1 code (en, zh, ru...).")
    ] = "auto",
    task: Annotated[Task, typer.Option("--task", help="transcribe, or translate to English.")] = (
        Task.transcribe
    ),
    word_timestamps: Annotated[
        bool, typer.Option("--word-timestamps", help="Add per-word times (json).")
    ] = False,
    sentences: Annotated[
        bool,
        typer.Option(
            "--sentences/--no-sentences",
            help="Split segments into sentences by word times (~9% slower); "
            "off: one segment per VAD chunk (up to 30 s).",
        ),
    ] = True,
    vad: Annotated[bool, typer.Option("--vad/--no-vad", help="Skip non-speech (Silero VAD).")] = (
        True
    ),
    beam_size: Annotated[int, typer.Option("--beam-size", min=1, max=20)] = 5,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=64, help="Batched decoding; 1 = sequential.")
    ] = 8,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads.")] = None,
    initial_prompt: Annotated[
        str | None, typer.Option("--initial-prompt", help="Text that primes names and style.")
    ] = None,
    audio_stream: Annotated[
        int | None, typer.Option("--audio-stream", min=0, help="Audio stream index (0-based).")
    ] = None,
    engine: Annotated[EngineName, typer.Option("--engine", help="Local or remote engine.")] = (
        EngineName.faster_whisper
    ),
    api_base: Annotated[
        str | None,
        typer.Option("--api-base", help="OpenAI-compatible base URL (key: VIDPIPE_API_KEY)."),
    ] = None,
    max_upload_mb: Annotated[
        float | None,
        typer.Option("--max-upload-mb", help="Remote upload limit in MB (default 25)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Quiet.")] = False,
) -> None:
    """Transcribe speech to text with segment (and word) timestamps, offline by default.

    Writes one file per format per input (atomically) into the output folder. Exit
    status is 0 only if every input succeeded.
    """
    from vidpipe.speech.transcribe import get_engine
    from vidpipe.speech.transcribe import transcribe as transcribe_file
    from vidpipe.writers import parse_formats, write_transcript

    fmts = _run(lambda: parse_formats(formats))
    upload = int(max_upload_mb * 1024 * 1024) if max_upload_mb else None
    eng = _run(
        lambda: get_engine(
            engine.value, model=model, threads=threads, api_base=api_base, max_upload_bytes=upload
        )
    )

    codes: list[int] = []
    used_stems: dict[str, int] = {}
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        _AudioSecondsColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )
    with progress:
        for f in files:
            task_id = progress.add_task(f"{f.name}: decoding", total=None)

            def decoded(seconds: float, task_id=task_id, f=f) -> None:
                progress.update(task_id, total=seconds, description=f"{f.name}: transcribing")

            def advance(done: float, total: float, task_id=task_id) -> None:
                progress.update(task_id, completed=done, total=total)

            t0 = time.perf_counter()
            try:
                result = transcribe_file(
                    f,
                    engine=eng,
                    language=language,
                    task=task.value,
                    word_timestamps=word_timestamps,
                    sentence_segments=sentences,
                    vad=vad,
                    beam_size=beam_size,
                    batch_size=batch_size,
                    initial_prompt=initial_prompt,
                    audio_stream=audio_stream,
                    progress=advance,
                    on_decoded=decoded,
                )
                wall = time.perf_counter() - t0
                stem = f.stem
                if stem in used_stems:
                    used_stems[stem] += 1
                    stem = f"{stem}-{used_stems[stem]}"
                else:
                    used_stems[stem] = 1
                paths = write_transcript(result, output_dir, stem, fmts)
            except (Exception, KeyboardInterrupt) as exc:
                progress.remove_task(task_id)
                progress.stop()
                codes.append(_fail(exc))
                if isinstance(exc, KeyboardInterrupt):
                    break
                progress.start()
                continue
            progress.remove_task(task_id)
            if not quiet:
                progress.stop()
                for seg in result.segments:
                    out.print(
                        f"[{_ts(seg.start)} --> {_ts(seg.end)}] {seg.text}",
                        highlight=False,
                        markup=False,
                    )
                rtf = wall / result.duration if result.duration else 0.0
                lang = result.language or "?"
                prob = (
                    f" (p={result.language_probability:.2f})"
                    if result.language_probability is not None
                    else ""
                )
                written = ", ".join(str(p) for p in paths)
                err.print(
                    f"[green]{f.name}[/]: {_hms(result.duration)} audio in {wall:.1f} s "
                    f"(RTF {rtf:.3f}), language {lang}{prob}, {len(result.segments)} segments "
                    f"-> {written}",
                    highlight=False,
                )
                progress.start()
    raise typer.Exit(_exit_code(codes, len(files)))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("[bold red]interrupted[/]")
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
