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
import typer.core
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
    EXIT_USAGE,
    VidpipeError,
)
from vidpipe.files import WRITE_ONLY_ERRNOS, output_error
from vidpipe.timecode import hms_ms as _hms
from vidpipe.timecode import mmss_ms as _ts

try:  # Typer 0.2x vendors Click as typer._click; its exceptions are those classes
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover - Typer on top of the click package
    from click import exceptions as _click_exc


class _Group(typer.core.TyperGroup):
    """The command group, with Click's usage errors as one ``error:`` line (exit 2).

    Typer would print them as a boxed Rich panel; vidpipe prints every error the
    same way: ``error: <message> (see vidpipe CMD --help)``.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            # "vidpipe" also under "python -m vidpipe", so hints name the real command
            prog = prog_name or "vidpipe"
            code = super().main(args, prog, complete_var, standalone_mode=False, **extra)
        except _click_exc.NoArgsIsHelpError as exc:  # bare "vidpipe": the help page
            err.print(exc.ctx.get_help() if exc.ctx else str(exc), highlight=False)
            code = EXIT_USAGE
        except _click_exc.UsageError as exc:
            code = _usage_error(exc)
        except _click_exc.ClickException as exc:
            err.print(Text.assemble(_ERROR, " ", " ".join(exc.format_message().split())))
            code = exc.exit_code
        except typer.Abort:
            err.print(Text("interrupted", style="bold red"))
            code = EXIT_INTERRUPTED
        code = code if isinstance(code, int) else EXIT_OK
        if not standalone_mode:
            return code
        sys.exit(code)


def _usage_error(exc: _click_exc.UsageError) -> int:
    """Print a Click usage error as one line with where to look; return exit 2."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    where = exc.ctx.command_path if exc.ctx is not None else "vidpipe"
    err.print(Text.assemble(_ERROR, " ", f"{message} (see {where} --help)"), highlight=False)
    return exc.exit_code if exc.exit_code else EXIT_USAGE


app = typer.Typer(
    name="vidpipe",
    cls=_Group,
    help="Turn video and audio into searchable, timestamped text, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Markup is off on both consoles: paths, names, transcripts and messages are printed
# as they are (a file "clip [hd].mp4" or a hint "vidpipe[pages]" must not lose its
# brackets, and "[/]" must not raise). Styled lines are built as rich.text.Text.
out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)
_ERROR = ("error:", "bold red")


class _State:
    debug = False


T = TypeVar("T")


def _fail(exc: BaseException) -> int:
    """Print one line for ``exc`` (plus the traceback with --debug); return its exit code."""
    if _State.debug:
        err.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
    if isinstance(exc, OSError) and exc.errno in WRITE_ONLY_ERRNOS:
        # A full disk or read-only file system met outside vidpipe's own writers:
        # still the output's problem (exit 7), never an internal error.
        exc = output_error(exc.filename or "the output", exc)
    if isinstance(exc, VidpipeError):
        err.print(Text.assemble(_ERROR, " ", exc.one_line()), highlight=False)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        err.print(Text("interrupted", style="bold red"))
        return EXIT_INTERRUPTED
    first = " ".join(str(exc).split())
    err.print(
        Text.assemble(
            _ERROR,
            f" internal error: {type(exc).__name__}: {first} (rerun with --debug and report it)",
        ),
        highlight=False,
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


def _stop(exc: VidpipeError) -> None:
    """Print one line for a usage/input problem found by the command line itself; exit."""
    raise typer.Exit(_fail(exc))


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


def _probe_table(info) -> Table:
    dur = f"{info.duration:.3f} s ({_hms(info.duration)})" if info.duration is not None else "-"
    rate = f"{info.bit_rate / 1000:.0f} kb/s" if info.bit_rate else "-"
    title = Text.assemble(
        (info.path, "bold"),
        f"\n{info.format_name} | {dur} | {rate} | "
        f"start {info.start_time if info.start_time is not None else 0:.3f} s | "
        f"{info.size:,} bytes",
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
    if as_json and results:  # nothing on stdout when no file could be probed
        docs = [r.model_dump(mode="json") for r in results]
        out.print_json(json.dumps(docs[0] if len(files) == 1 else docs))
    else:
        for r in results:
            out.print(_probe_table(r))
    raise typer.Exit(_exit_code(codes, len(files)))


def _exit_code(codes: list[int], n_inputs: int) -> int:
    """The exit status for a command over ``n_inputs`` inputs, given the failures' codes.

    One input: its own code. Several: 130 if interrupted, else 1 if any failed.
    """
    if not codes:
        return EXIT_OK
    if n_inputs == 1:
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
    iflytek = "iflytek"


class _AudioSecondsColumn(ProgressColumn):
    """``done/total s audio`` for a task whose units are audio seconds."""

    def render(self, task) -> Text:
        if task.total is None:
            return Text("")
        return Text(f"{task.completed:6.1f}/{task.total:.1f} s audio")


_MaxLineWidthOpt = Annotated[
    int,
    typer.Option(
        "--max-line-width", min=1, help="Subtitle line width in display columns (CJK = 2)."
    ),
]
_MaxLineCountOpt = Annotated[
    int, typer.Option("--max-line-count", min=1, help="Lines per subtitle cue.")
]
_MaxCueDurationOpt = Annotated[
    float,
    typer.Option("--max-cue-duration", min=0.1, help="Longest subtitle cue in seconds."),
]
_HighlightOpt = Annotated[
    bool,
    typer.Option("--highlight-words", help="Karaoke word timing in vtt (timestamp tags) and ass."),
]
_ZhScriptOpt = Annotated[
    str | None,
    typer.Option(
        "--zh-script",
        help="Chinese output: simplified, traditional or keep (default VIDPIPE_ZH_SCRIPT, "
        "simplified).",
    ),
]


def _cue_options(width: int, count: int, duration: float, highlight: bool):
    from vidpipe.media.subtitles import CueOptions

    return _run(CueOptions(width, count, duration, highlight).check)


def _zh_script(value: str | None) -> str:
    from vidpipe.config import get_settings
    from vidpipe.text.script import check_script

    return _run(lambda: check_script(value or get_settings().zh_script))


@app.command()
def transcribe(
    files: Annotated[list[Path], typer.Argument(help="Video or audio files.")],
    output_dir: Annotated[
        Path, typer.Option("-o", "--output-dir", help="Folder for the output files.")
    ] = Path("."),
    formats: Annotated[
        str, typer.Option("-f", "--format", help="Comma list of txt,srt,vtt,json,tsv,ass or all.")
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
    engine: Annotated[
        EngineName,
        typer.Option(
            "--engine",
            help="faster-whisper (local), openai (--api-base) or iflytek "
            "(VIDPIPE_IFLYTEK_APPID, VIDPIPE_IFLYTEK_SECRET).",
        ),
    ] = EngineName.faster_whisper,
    api_base: Annotated[
        str | None,
        typer.Option("--api-base", help="OpenAI-compatible base URL (key: VIDPIPE_API_KEY)."),
    ] = None,
    max_upload_mb: Annotated[
        float | None,
        typer.Option("--max-upload-mb", help="Remote upload limit in MB (default 25)."),
    ] = None,
    max_line_width: _MaxLineWidthOpt = 42,
    max_line_count: _MaxLineCountOpt = 2,
    max_cue_duration: _MaxCueDurationOpt = 7.0,
    highlight_words: _HighlightOpt = False,
    zh_script: _ZhScriptOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Quiet.")] = False,
) -> None:
    """Transcribe speech to text with segment (and word) timestamps, offline by default.

    Writes one file per format per input (atomically) into the output folder. Exit
    status is 0 only if every input succeeded.
    """
    from vidpipe.speech.transcribe import get_engine
    from vidpipe.speech.transcribe import transcribe as transcribe_file
    from vidpipe.writers import SUBTITLE_FORMATS, parse_formats, write_transcript

    fmts = _run(lambda: parse_formats(formats))
    cue_opts = _cue_options(max_line_width, max_line_count, max_cue_duration, highlight_words)
    script = _zh_script(zh_script)
    # subtitles are cut at word times: ask for them (kept in the JSON only if asked)
    want_words = word_timestamps or any(f in SUBTITLE_FORMATS for f in fmts)
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
        TextColumn("{task.description}", markup=False),
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
                    word_timestamps=want_words,
                    sentence_segments=sentences,
                    vad=vad,
                    beam_size=beam_size,
                    batch_size=batch_size,
                    initial_prompt=initial_prompt,
                    audio_stream=audio_stream,
                    progress=advance,
                    on_decoded=decoded,
                    zh_script=script,
                )
                wall = time.perf_counter() - t0
                stem = f.stem
                if stem in used_stems:
                    used_stems[stem] += 1
                    stem = f"{stem}-{used_stems[stem]}"
                else:
                    used_stems[stem] = 1
                paths = write_transcript(
                    result, output_dir, stem, fmts, cue_opts, keep_words=word_timestamps
                )
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
                    Text.assemble(
                        (f.name, "green"),
                        f": {_hms(result.duration)} audio in {wall:.1f} s "
                        f"(RTF {rtf:.3f}), language {lang}{prob}, "
                        f"{len(result.segments)} segments -> {written}",
                    ),
                    highlight=False,
                )
                progress.start()
    raise typer.Exit(_exit_code(codes, len(files)))


# --------------------------------------------------------------------------- library


def _catalog():
    from vidpipe.library.catalog import Catalog

    return _run(Catalog)


def _byte_size(value: str | None, option: str) -> int | None:
    """``4GiB``, ``500MB``, ``1KiB``, ``1024`` -> bytes (pydantic's ByteSize units)."""
    if value is None:
        return None
    from pydantic import ByteSize, TypeAdapter, ValidationError

    from vidpipe.errors import UsageError

    try:
        return int(TypeAdapter(ByteSize).validate_python(value.strip()))
    except ValidationError:
        raise UsageError(
            f"{option} {value!r} is not a size", "give bytes or a unit: 500MB, 4GiB, 1KiB"
        ) from None


def _limits(
    concurrency: int | None,
    per_host: int | None,
    rps: float | None,
    retries: int | None,
    max_size: str | None = None,
    deadline: float | None = None,
    min_speed: str | None = None,
    speed_time: float | None = None,
    no_private_urls: bool = False,
):
    """DownloadLimits from the download options (None when every option is left default)."""
    from vidpipe.library.download import DownloadLimits, UrlPolicy

    kw: dict = {}
    if concurrency is not None:
        kw["concurrency"] = concurrency
    if per_host is not None:
        kw["per_host"] = per_host
    if rps is not None:
        kw["rps_per_host"] = rps
    if retries is not None:
        kw["retries"] = retries
    if max_size is not None:
        kw["max_bytes"] = _byte_size(max_size, "--max-size")
    if deadline is not None:
        kw["deadline"] = deadline or None  # 0: no deadline
    if min_speed is not None:
        kw["min_speed"] = float(_byte_size(min_speed, "--min-speed") or 0)
    if speed_time is not None:
        kw["speed_time"] = speed_time
    if no_private_urls:
        kw["url_policy"] = UrlPolicy(allow_private=False)
    return DownloadLimits(**kw) if kw else None


def _run_library(sources: list[str], options, quiet: bool) -> None:
    from vidpipe.library.runner import RichDisplay, Runner

    cat = _catalog()
    try:
        display = RichDisplay(err, options.steps, disable=quiet)
        summary = _run(lambda: Runner(cat, options, display).run(sources))
    finally:
        cat.close()
    ran = ", ".join(f"{k} {v}" for k, v in summary.ran.items() if v)
    if not quiet:
        err.print(
            Text.assemble(
                f"{summary.total} items: ",
                (f"{summary.done} done", "green"),
                ", ",
                (f"{summary.failed} failed", "red"),
                f", {summary.skipped} skipped"
                f"{f', {summary.pending} pending (not ingested)' if summary.pending else ''}"
                f"{f' ({summary.no_audio} without audio)' if summary.no_audio else ''}"
                f"{'; ran ' + ran if ran else '; nothing to do'}",
            ),
            highlight=False,
        )
    raise typer.Exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)


_SourcesArg = Annotated[
    list[str] | None,
    typer.Argument(help="URLs, text files of URLs (.txt), media files or folders."),
]
_DestOpt = Annotated[
    Path | None, typer.Option("--dest", help="Download folder (default $VIDPIPE_HOME/media).")
]
_ConcOpt = Annotated[
    int | None, typer.Option("--concurrency", min=1, help="Downloads at once (default 8).")
]
_HostOpt = Annotated[
    int | None, typer.Option("--per-host", min=1, help="Downloads at once per host (default 4).")
]
_RpsOpt = Annotated[
    float | None, typer.Option("--rps", min=0.01, help="Requests per second per host.")
]
_RetriesOpt = Annotated[
    int | None, typer.Option("--retries", min=0, help="Retries per download (default 5).")
]
_MaxSizeOpt = Annotated[
    str | None,
    typer.Option(
        "--max-size",
        metavar="SIZE",
        help="Largest file to download: 500MB, 4GiB... (default 4GiB).",
    ),
]
_DeadlineOpt = Annotated[
    float | None,
    typer.Option(
        "--deadline",
        min=0,
        metavar="SECONDS",
        help="Seconds per file, retries included, before it fails (default 7200; 0: none).",
    ),
]
_MinSpeedOpt = Annotated[
    str | None,
    typer.Option(
        "--min-speed",
        metavar="SIZE",
        help="Bytes per second (1KiB...) below which a download fails as too slow, "
        "averaged over --speed-time (default 1KiB; 0: off).",
    ),
]
_SpeedTimeOpt = Annotated[
    float | None,
    typer.Option(
        "--speed-time",
        min=0.1,
        metavar="SECONDS",
        help="Seconds of the --min-speed window (default 30).",
    ),
]
_NoPrivateOpt = Annotated[
    bool,
    typer.Option(
        "--no-private-urls",
        help="Refuse URLs and redirects to loopback, private, link-local, multicast or "
        "reserved addresses.",
    ),
]
_QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]

# Item selection (vidpipe.library.select), shared by run, describe, summarize, chapters,
# topics and export. Checked by Selection itself, so a bad value is one usage line.
_SEL = "Selection (catalog items, in input order)"
_ShortestOpt = Annotated[
    int | None,
    typer.Option(
        "--shortest", help="Only the N shortest items (probed duration).", rich_help_panel=_SEL
    ),
]
_LongestOpt = Annotated[
    int | None,
    typer.Option(
        "--longest", help="Only the N longest items (probed duration).", rich_help_panel=_SEL
    ),
]
_MinDurOpt = Annotated[
    float | None,
    typer.Option(
        "--min-duration", help="Only items at least S seconds long.", rich_help_panel=_SEL
    ),
]
_MaxDurOpt = Annotated[
    float | None,
    typer.Option("--max-duration", help="Only items at most S seconds long.", rich_help_panel=_SEL),
]
_IdsOpt = Annotated[
    str | None,
    typer.Option(
        "--ids", help="Only these item ids, e.g. 1,5-9 (see vidpipe report).", rich_help_panel=_SEL
    ),
]
_SelLangOpt = Annotated[
    str | None,
    typer.Option(
        "--language",
        "-l",
        help="Only items whose transcript is in this language.",
        rich_help_panel=_SEL,
    ),
]
_TargetLangOpt = Annotated[
    str | None,
    typer.Option(
        "--language",
        "-l",
        help="With a target: the language to transcribe it in (default: detect). "
        "Without one: only catalog items whose transcript is in this language.",
        rich_help_panel=_SEL,
    ),
]


def _selection(shortest, longest, min_duration, max_duration, language, ids):
    """The :class:`~vidpipe.library.select.Selection` of the shared options (bad values
    and combinations: one usage line, exit 2). ``language`` ``auto`` selects nothing."""
    from vidpipe.library.select import Selection, parse_ids

    def build():
        return Selection(
            shortest=shortest,
            longest=longest,
            min_duration=min_duration,
            max_duration=max_duration,
            language=None if language in (None, "auto") else language,
            ids=parse_ids(ids) if ids is not None else None,
        )

    return _run(build)


def _select(cat, selection, candidates=None):
    """Items chosen by ``selection`` (``Selected``); says on stderr which items were left
    out for want of a probed duration."""
    from vidpipe.library.select import select_items

    chosen = _run(lambda: select_items(cat, selection, candidates))
    if chosen.no_duration:
        n = len(chosen.no_duration)
        err.print(
            f"note: {n} item{'s' if n != 1 else ''} without a probed duration left out "
            f"({', '.join(map(str, chosen.no_duration[:10]))}"
            f"{' ...' if n > 10 else ''}; run: vidpipe run --steps probe)",
            highlight=False,
            markup=False,
        )
    return chosen


def _no_target(what: str) -> None:
    from vidpipe.errors import UsageError

    _stop(UsageError(f"give {what}, or selection options", "e.g. --shortest 10 or --ids 1,5-9"))


def _target_and_selection(what: str) -> None:
    from vidpipe.errors import UsageError

    _stop(
        UsageError(
            f"selection options choose catalog items: give them without {what}",
            "drop the target, or the selection options",
        )
    )


@app.command()
def ingest(
    sources: _SourcesArg,
    dest: _DestOpt = None,
    concurrency: _ConcOpt = None,
    per_host: _HostOpt = None,
    rps: _RpsOpt = None,
    retries: _RetriesOpt = None,
    max_size: _MaxSizeOpt = None,
    deadline: _DeadlineOpt = None,
    min_speed: _MinSpeedOpt = None,
    speed_time: _SpeedTimeOpt = None,
    no_private_urls: _NoPrivateOpt = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Retry sources that failed before.")
    ] = False,
    quiet: _QuietOpt = False,
) -> None:
    """Record sources in the catalog: download URLs, hash local files (no processing).

    Every input line ends done, failed (with its reason) or skipped (duplicate URL,
    duplicate content, already present). Exit 0 if none failed, 1 otherwise.
    """
    from vidpipe.library.runner import RunOptions

    if not sources:
        _run(_no_sources)
    opts = RunOptions(
        steps=("ingest",),
        retry_failed=retry_failed,
        dest=dest,
        limits=_run(
            lambda: _limits(
                concurrency,
                per_host,
                rps,
                retries,
                max_size,
                deadline,
                min_speed,
                speed_time,
                no_private_urls,
            )
        ),
    )
    _run_library(sources or [], opts, quiet)


def _no_sources() -> None:
    from vidpipe.errors import UsageError

    raise UsageError("no sources given", "pass URLs, a links .txt file, media files or folders")


@app.command("run")
def run_cmd(
    sources: _SourcesArg = None,
    steps: Annotated[
        str,
        typer.Option(
            "--steps",
            help="Comma list of ingest,probe,audio,transcribe,summarize,chapters,describe "
            "(all: ingest,probe,audio,transcribe).",
        ),
    ] = "ingest,probe,audio,transcribe",
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="ASR model: base, tiny.en, a folder.")
    ] = None,
    language: _TargetLangOpt = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Retry sources that failed before.")
    ] = False,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads.")] = None,
    shortest: _ShortestOpt = None,
    longest: _LongestOpt = None,
    min_duration: _MinDurOpt = None,
    max_duration: _MaxDurOpt = None,
    ids: _IdsOpt = None,
    dest: _DestOpt = None,
    concurrency: _ConcOpt = None,
    per_host: _HostOpt = None,
    rps: _RpsOpt = None,
    retries: _RetriesOpt = None,
    max_size: _MaxSizeOpt = None,
    deadline: _DeadlineOpt = None,
    min_speed: _MinSpeedOpt = None,
    speed_time: _SpeedTimeOpt = None,
    no_private_urls: _NoPrivateOpt = False,
    backend: _BackendOpt = "extractive",
    llm_base: _LlmBaseOpt = None,
    llm_model: _LlmModelOpt = None,
    max_chunk: _MaxChunkOpt = 60.0,
    quiet: _QuietOpt = False,
) -> None:
    """Batch pipeline over the catalog: download, probe, check audio, transcribe.

    Without SOURCES it works on every source already in the catalog. Downloads continue
    while earlier items are processed; each result is recorded as soon as it is ready,
    so an interrupted run resumes where it stopped, and a rerun skips work already
    done with the same options. Without SOURCES, the selection options (--shortest,
    --ids, --language...) choose which catalog items to work on. Exit 0 if no item
    failed, 1 otherwise.
    """
    from vidpipe.library.runner import RunOptions, parse_steps

    steps_t = _run(lambda: parse_steps(steps))
    sel_lang = None if sources else language  # over the catalog, -l selects items
    selection = _selection(shortest, longest, min_duration, max_duration, sel_lang, ids)
    if sources and selection.active:
        _target_and_selection("SOURCES")
    opts = RunOptions(
        steps=steps_t,
        model=model,
        language=None if not sources or language in (None, "auto") else language,
        selection=selection,
        retry_failed=retry_failed,
        threads=threads,
        dest=dest,
        limits=_run(
            lambda: _limits(
                concurrency,
                per_host,
                rps,
                retries,
                max_size,
                deadline,
                min_speed,
                speed_time,
                no_private_urls,
            )
        ),
        text_backend=backend,
        llm_base=llm_base,
        llm_model=llm_model,
        max_chunk=max_chunk,
    )
    _run(lambda: opts.text_options().check())  # a bad --backend is a usage error up front
    _run_library(sources or [], opts, quiet)


@app.command()
def report(
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Also write a CSV file.")] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write a JSON file ('-' for stdout).")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the duration distribution to a PNG.")
    ] = None,
) -> None:
    """Table of every item in input order (status, duration, resolution, codecs, language,
    words), totals, and failures grouped by reason."""
    from vidpipe.library import report as rep

    cat = _catalog()
    try:
        r = _run(lambda: rep.build_report(cat))
    finally:
        cat.close()
    if json_path is not None and str(json_path) == "-":
        out.print_json(json.dumps(r.to_dict(), ensure_ascii=False))
        raise typer.Exit(EXIT_OK)
    t = Table(title=f"{len(r.rows)} items", title_justify="left")
    for col in ("#", "id", "source", "status", "duration", "resolution", "codecs", "lang"):
        t.add_column(col, justify="right" if col in ("#", "id", "duration") else "left")
    t.add_column("words", justify="right")
    colors = {"done": "green", "failed": "red", "skipped": "yellow", "pending": "cyan"}
    for i, row in enumerate(r.rows, 1):
        codecs = "/".join(c for c in (row.video_codec, row.audio_codec) if c) or "-"
        t.add_row(
            str(i),
            str(row.media_id) if row.media_id is not None else "-",
            Text(row.source),
            Text(row.state, style=colors.get(row.state, "")),
            rep.hms(row.duration),
            row.resolution or "-",
            codecs,
            Text("no audio", style="dim") if row.no_audio else (row.language or "-"),
            str(row.words) if row.words is not None else "-",
        )
    out.print(t)
    tot = r.totals
    silent = f" ({tot['no_audio']} without audio)" if tot.get("no_audio") else ""
    out.print(
        f"total: {tot['items']} items, {tot['done']} done, {tot['failed']} failed, "
        f"{tot['skipped']} skipped, {tot['pending']} pending; {tot['media']} media files"
        f"{silent}, "
        f"duration {rep.hms(tot['duration'])} (h:mm:ss), {tot['words']} words",
        highlight=False,
    )
    if r.failures:
        out.print(Text("failures by reason", style="bold"))
        for reason, items in r.failures.items():
            out.print(f"  {len(items)} × {reason}", highlight=False, markup=False)
            for item in items:
                out.print(f"      {item}", highlight=False, markup=False)
    written = []
    if csv_path is not None:
        written.append(_run(lambda: rep.write_csv(r, csv_path)))
    if json_path is not None:
        written.append(_run(lambda: rep.write_json(r, json_path)))
    if plot is not None:
        seen: set[int] = set()
        durations = []
        for row in r.rows:
            if row.media_id is not None and row.media_id not in seen and row.duration:
                seen.add(row.media_id)
                durations.append(row.duration)
        written.append(_run(lambda: rep.write_plot(durations, plot)))
    for p in written:
        err.print(f"wrote {p}", highlight=False)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words or a phrase (any language).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Most hits.")] = 20,
) -> None:
    """Full-text search of transcripts: media, start time and a snippet per hit, best first."""
    from vidpipe.library.search import search as do_search

    cat = _catalog()
    try:
        hits = _run(lambda: do_search(cat, query, limit=limit))
    finally:
        cat.close()
    if as_json:
        out.print_json(json.dumps([h.to_dict() for h in hits], ensure_ascii=False))
        raise typer.Exit(EXIT_OK)
    if not hits:
        err.print(f"no matches for {query!r}", highlight=False)
    for h in hits:
        out.print(
            Text.assemble((_hms(h.start), "cyan"), " ", (f"#{h.media_id}", "bold"), f" {h.path}"),
            highlight=False,
        )
        out.print(f"    {h.snippet}", highlight=False, markup=False)


def _media_or_fail(cat, media_id: int):
    from vidpipe.errors import InputError

    m = cat.get_media(media_id)
    if m is None:
        raise InputError(f"no item with id {media_id} in the catalog", "see vidpipe report")
    return m


@app.command()
def show(item_id: Annotated[int, typer.Argument(help="Item id (the id column of the report).")]):
    """Details of one item: file, probe summary, sources, stages, transcript lines."""
    from vidpipe.library.report import hms
    from vidpipe.library.urls import redact_url

    cat = _catalog()
    try:
        m = _run(lambda: _media_or_fail(cat, item_id))
        srcs = cat.sources_of_media(m.id)
        stages = cat.stages(m.id)
        tr = cat.get_transcript(m.id)
    finally:
        cat.close()
    res = f"{m.width}x{m.height}" if m.width and m.height else "-"
    codecs = "/".join(c for c in (m.video_codec, m.audio_codec) if c) or "-"
    out.print(Text.assemble((f"#{m.id}", "bold"), f" {m.path}"), highlight=False)
    out.print(
        f"  sha256 {m.sha256}\n  size {m.size:,} bytes, duration {hms(m.duration)} "
        f"({m.duration if m.duration is not None else '-'} s), format {m.format or '-'}, "
        f"resolution {res}, codecs {codecs}",
        highlight=False,
    )
    for s in srcs:
        out.print(
            redact_url(f"  source {s.uri}: {s.state}{' (' + s.reason + ')' if s.reason else ''}"),
            highlight=False,
            markup=False,
        )
    for st in stages:
        out.print(
            redact_url(f"  stage {st.stage}: {st.status}{' - ' + st.error if st.error else ''}"),
            highlight=False,
            markup=False,
        )
    if tr is None:
        out.print("  no transcript")
        return
    prob = f" (p={tr.language_probability:.2f})" if tr.language_probability is not None else ""
    out.print(
        f"  transcript: language {tr.language or '?'}{prob}, model {tr.model or '?'}, "
        f"{len(tr.segments)} segments",
        highlight=False,
    )
    for seg in tr.segments:
        out.print(
            f"[{_hms(seg.start)} --> {_hms(seg.end)}] {seg.text.strip()}",
            highlight=False,
            markup=False,
        )


@app.command()
def export(
    item_id: Annotated[int | None, typer.Argument(help="Item id (see vidpipe report).")] = None,
    all_items: Annotated[bool, typer.Option("--all", help="Every item with a transcript.")] = False,
    formats: Annotated[
        str, typer.Option("-f", "--format", help="Comma list of txt,srt,vtt,json,tsv,ass or all.")
    ] = "txt,srt,vtt,json",
    output_dir: Annotated[
        Path, typer.Option("-o", "--output-dir", help="Folder for the files.")
    ] = Path("."),
    shortest: _ShortestOpt = None,
    longest: _LongestOpt = None,
    min_duration: _MinDurOpt = None,
    max_duration: _MaxDurOpt = None,
    language: _SelLangOpt = None,
    ids: _IdsOpt = None,
    max_line_width: _MaxLineWidthOpt = 42,
    max_line_count: _MaxLineCountOpt = 2,
    max_cue_duration: _MaxCueDurationOpt = 7.0,
    highlight_words: _HighlightOpt = False,
    zh_script: _ZhScriptOpt = None,
) -> None:
    """Write transcripts from the catalog as txt, srt, vtt, json, tsv or ass files.

    One ITEM, --all, or the items chosen by the selection options (those without a
    transcript are listed and skipped).
    """
    from vidpipe.errors import InputError, UsageError
    from vidpipe.text.script import transcript_to_script
    from vidpipe.writers import parse_formats, write_transcript

    fmts = _run(lambda: parse_formats(formats))
    cue_opts = _cue_options(max_line_width, max_line_count, max_cue_duration, highlight_words)
    script = _zh_script(zh_script)
    selection = _selection(shortest, longest, min_duration, max_duration, language, ids)
    if item_id is not None and (all_items or selection.active):
        if selection.active:
            _target_and_selection("an item id")
        _stop(UsageError("give an item id or --all, not both"))
    if item_id is None and not all_items and not selection.active:
        _stop(UsageError("give an item id, --all or selection options", "e.g. --shortest 10"))
    cat = _catalog()
    try:
        with_tr = {m.id for m in cat.all_media() if cat.transcript_row(m.id) is not None}
        if item_id is None:
            ids_ = _select(cat, selection).ids if selection.active else sorted(with_tr)
            for mid in ids_:
                if mid not in with_tr:
                    err.print(f"skipped #{mid}: no transcript", highlight=False, markup=False)
            ids_ = [mid for mid in ids_ if mid in with_tr]
            if not ids_ and selection.active:
                _stop(InputError("no selected item has a transcript", "see vidpipe report"))
        else:
            _run(lambda: _media_or_fail(cat, item_id))
            ids_ = [item_id]
        written: list[Path] = []
        stems: set[str] = set()
        for mid in ids_:
            tr = cat.get_transcript(mid)
            if tr is None:
                _stop(InputError(f"item {mid} has no transcript", "run vidpipe run first"))
            stem = Path(tr.source or f"item{mid}").stem
            if stem in stems:
                stem = f"{stem}-{mid}"
            stems.add(stem)
            tr = transcript_to_script(tr, script)  # catalogs made before one script was kept
            written += _run(
                lambda tr=tr, stem=stem: write_transcript(tr, output_dir, stem, fmts, cue_opts)
            )
    finally:
        cat.close()
    for p in written:
        err.print(f"wrote {p}", highlight=False)


# --------------------------------------------------------------------------- understanding

_TargetArg = Annotated[
    str | None,
    typer.Argument(help="Catalog item id, or a media file (or none, with selection options)."),
]
_OutOpt = Annotated[
    Path | None, typer.Option("--output-dir", "-o", help="Output folder (default: current).")
]
_BackendOpt = Annotated[
    str, typer.Option("--backend", help="Text backend: extractive (offline) or openai.")
]
_LlmBaseOpt = Annotated[
    str | None,
    typer.Option("--llm-base", help="OpenAI-compatible base URL (default VIDPIPE_LLM_BASE)."),
]
_LlmModelOpt = Annotated[
    str | None, typer.Option("--llm-model", help="Chat model name (default VIDPIPE_LLM_MODEL).")
]
_MaxChunkOpt = Annotated[
    float, typer.Option("--max-chunk", min=1.0, help="Maximum chunk length in seconds.")
]
_AsrModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="ASR model for files not yet transcribed (base, tiny.en)."),
]
_LangOpt = Annotated[
    str | None, typer.Option("--language", "-l", help="Transcript language (default: detect).")
]
_ForceOpt = Annotated[bool, typer.Option("--force", help="Recompute even if stored.")]
_JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _text_options(backend, llm_base, llm_model, max_chunk, language):
    from vidpipe.library.understanding import TextOptions

    opts = TextOptions(
        backend=backend.lower(),
        llm_base=llm_base,
        llm_model=llm_model,
        max_chunk=max_chunk,
        language=None if language in (None, "auto") else language,
    )
    _run(opts.check)
    return opts


def _target_selection(target, what, shortest, longest, min_duration, max_duration, language, ids):
    """``(selection, language_for_target)``: with a target, ``--language`` is its
    transcription language and no selection option may be given; without one, the
    options (with ``--language``) choose catalog items and at least one is needed."""
    sel_lang = None if target is not None else language
    selection = _selection(shortest, longest, min_duration, max_duration, sel_lang, ids)
    if target is not None and selection.active:
        _target_and_selection(what)
    if target is None and not selection.active:
        _no_target(what)
    return selection, (language if target is not None else None)


def _item_error(mid: int, name: str, exc: BaseException) -> None:
    """One stderr line for an item that failed in a multi-item command."""
    if _State.debug:
        err.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
    if isinstance(exc, VidpipeError):
        msg = exc.one_line()
    else:
        first = str(exc).splitlines()[0] if str(exc) else ""
        msg = f"internal error: {type(exc).__name__}: {first} (rerun with --debug and report it)"
    err.print(Text.assemble(("error:", "bold red"), f" #{mid} {name}: {msg}"), highlight=False)


def _unique_stem(stem: str, mid: int, used: set[str]) -> str:
    if stem in used:
        stem = f"{stem}-{mid}"
    used.add(stem)
    return stem


def _is_silent(media) -> bool:
    """Probed, and no audio track."""
    return media.probe is not None and media.audio_codec is None


def _understand(kind: str, target: str, opts, model, out_dir, force):
    """Resolve ``target``, compute or load the result, write files. Returns
    ``(result, stem, computed, paths)``."""
    from vidpipe.library import understanding as u

    cat = _catalog()
    try:

        def work():
            with err.status(Text.assemble((kind, "bold"), f" {target}"), spinner="dots"):
                media_id, tr, stem = u.resolve_input(cat, target, model, opts.language)
                fn = u.summarize_media if kind == "summarize" else u.chapters_media
                result, computed = fn(cat, media_id, tr, opts, force=force)
            dest = Path(out_dir) if out_dir else Path.cwd()
            if kind == "summarize":
                paths = u.write_summary(result, dest, stem)
            else:
                paths = u.write_chapters(result, dest, stem)
            return result, stem, computed, paths

        return _run(work)
    finally:
        cat.close()


def _understand_selected(kind: str, selection, opts, out_dir, force, as_json) -> None:
    """``summarize``/``chapters`` over the selected catalog items: each item's result is
    reported (or its error, one line); exit 1 if any failed. Items without an audio
    track are skipped (nothing to summarize)."""
    from vidpipe.errors import InputError
    from vidpipe.library import understanding as u

    cat = _catalog()
    failed = 0
    docs: list[dict] = []
    try:
        chosen = _select(cat, selection)
        if not chosen.items:
            _stop(InputError("no catalog items match the selection", "see vidpipe report"))
        dest = Path(out_dir) if out_dir else Path.cwd()
        fn = u.summarize_media if kind == "summarize" else u.chapters_media
        used: set[str] = set()

        def work():
            nonlocal failed
            with _frames_progress(not err.is_terminal) as bar:
                task = bar.add_task(kind, total=len(chosen.items))
                for m in chosen.items:
                    name = Path(m.path).name
                    bar.update(task, description=f"{kind} #{m.id} {name}")
                    if _is_silent(m):
                        err.print(
                            f"skipped #{m.id} {name}: no audio track", markup=False, highlight=False
                        )
                        bar.advance(task)
                        continue
                    try:
                        tr = cat.get_transcript(m.id)
                        if tr is None:
                            raise InputError(
                                f"item {m.id} has no transcript yet",
                                "run: vidpipe run --steps probe,audio,transcribe",
                            )
                        result, computed = fn(cat, m.id, tr, opts, force=force)
                        stem = _unique_stem(Path(m.path).stem, m.id, used)
                        if kind == "summarize":
                            paths = u.write_summary(result, dest, stem)
                        else:
                            paths = u.write_chapters(result, dest, stem)
                    except Exception as exc:
                        failed += 1
                        _item_error(m.id, name, exc)
                        bar.advance(task)
                        continue
                    bar.advance(task)
                    if as_json:
                        data = (
                            result.model_dump(mode="json")
                            if kind == "summarize"
                            else [c.model_dump(mode="json") for c in result]
                        )
                        docs.append({"id": m.id, "name": name, kind: data})
                    else:
                        out.print(Text(f"#{m.id} {name}", style="bold"))
                        if kind == "summarize":
                            _print_summary(result)
                        else:
                            _print_chapters(result)
                    what = (
                        f"{len(result.chunks)} chunks"
                        if kind == "summarize"
                        else f"{len(result)} chapters"
                    )
                    err.print(
                        f"#{m.id}: {what} ({'computed' if computed else 'stored'})"
                        f" -> {', '.join(str(p) for p in paths)}",
                        highlight=False,
                        markup=False,
                    )

        _run(work)
    finally:
        cat.close()
    if as_json:
        out.print_json(json.dumps(docs, ensure_ascii=False))
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)


def _print_summary(summary) -> None:
    from vidpipe.library.understanding import hms

    out.print(summary.overall.strip(), markup=False, highlight=False)
    if summary.keywords:
        out.print(Text.assemble(("keywords:", "bold"), " " + ", ".join(summary.keywords)))
    for c in summary.chunks:
        out.print(
            Text.assemble((f"  {hms(c.start)}-{hms(c.end)}", "cyan"), " " + c.summary.strip()),
            highlight=False,
        )


def _print_chapters(result) -> None:
    from vidpipe.library.understanding import youtube_lines

    out.print(youtube_lines(result), end="", markup=False, highlight=False)


@app.command()
def summarize(
    target: _TargetArg = None,
    output_dir: _OutOpt = None,
    backend: _BackendOpt = "extractive",
    llm_base: _LlmBaseOpt = None,
    llm_model: _LlmModelOpt = None,
    max_chunk: _MaxChunkOpt = 60.0,
    model: _AsrModelOpt = None,
    language: _TargetLangOpt = None,
    shortest: _ShortestOpt = None,
    longest: _LongestOpt = None,
    min_duration: _MinDurOpt = None,
    max_duration: _MaxDurOpt = None,
    ids: _IdsOpt = None,
    force: _ForceOpt = False,
    as_json: _JsonOpt = False,
) -> None:
    """Summarize an item or a file: chunk summaries, an overall summary, keywords.

    A file not in the catalog is transcribed first (and recorded). The result is stored
    in the catalog and written as <stem>.summary.md and <stem>.summary.json in the
    output folder. Rerunning with the same options reuses the stored summary. Without
    a target, the selection options choose catalog items (exit 1 if any failed).
    """
    selection, language = _target_selection(
        target, "an ITEM or FILE", shortest, longest, min_duration, max_duration, language, ids
    )
    opts = _text_options(backend, llm_base, llm_model, max_chunk, language)
    if target is None:
        _understand_selected("summarize", selection, opts, output_dir, force, as_json)
    summary, stem, computed, paths = _understand(
        "summarize", target, opts, model, output_dir, force
    )
    if as_json:
        out.print_json(summary.model_dump_json())
    else:
        out.print(Text(f"{stem} summary ({summary.backend}):", style="bold"))
        _print_summary(summary)
    err.print(
        f"{len(summary.chunks)} chunks, {len(summary.keywords)} keywords"
        f" ({'computed' if computed else 'stored'}) -> {', '.join(str(p) for p in paths)}",
        highlight=False,
    )


@app.command()
def chapters(
    target: _TargetArg = None,
    output_dir: _OutOpt = None,
    backend: _BackendOpt = "extractive",
    llm_base: _LlmBaseOpt = None,
    llm_model: _LlmModelOpt = None,
    max_chunk: _MaxChunkOpt = 60.0,
    model: _AsrModelOpt = None,
    language: _TargetLangOpt = None,
    shortest: _ShortestOpt = None,
    longest: _LongestOpt = None,
    min_duration: _MinDurOpt = None,
    max_duration: _MaxDurOpt = None,
    ids: _IdsOpt = None,
    force: _ForceOpt = False,
    as_json: _JsonOpt = False,
) -> None:
    """Chapters covering the timeline, with titles.

    Prints YouTube-description lines (0:00 Title) and writes <stem>.chapters.txt,
    <stem>.chapters.vtt (WebVTT chapters) and <stem>.chapters.json; stored in the catalog.
    Without a target, the selection options choose catalog items (exit 1 if any failed).
    """
    selection, language = _target_selection(
        target, "an ITEM or FILE", shortest, longest, min_duration, max_duration, language, ids
    )
    opts = _text_options(backend, llm_base, llm_model, max_chunk, language)
    if target is None:
        _understand_selected("chapters", selection, opts, output_dir, force, as_json)
    result, _stem, computed, paths = _understand("chapters", target, opts, model, output_dir, force)
    if as_json:
        out.print_json(json.dumps([c.model_dump(mode="json") for c in result]))
    else:
        _print_chapters(result)
    err.print(
        f"{len(result)} chapters ({'computed' if computed else 'stored'})"
        f" -> {', '.join(str(p) for p in paths)}",
        highlight=False,
    )


@app.command()
def topics(
    items: Annotated[
        list[int] | None, typer.Argument(help="Item ids to group (default: every item).")
    ] = None,
    all_items: Annotated[
        bool,
        typer.Option("--all", help="Every item with a transcript or scenes (default)."),
    ] = False,
    n_topics: Annotated[
        int | None, typer.Option("--topics", "-n", min=1, help="Number of topics (default: auto).")
    ] = None,
    llm_base: _LlmBaseOpt = None,
    llm_model: _LlmModelOpt = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", "-o", help="Output folder (default $VIDPIPE_HOME/understanding)."
        ),
    ] = None,
    shortest: _ShortestOpt = None,
    longest: _LongestOpt = None,
    min_duration: _MinDurOpt = None,
    max_duration: _MaxDurOpt = None,
    language: _SelLangOpt = None,
    ids: _IdsOpt = None,
    as_json: _JsonOpt = False,
) -> None:
    """Topics across the collection: embeddings from a bundled model, clustering offline.

    An item's text is its transcript plus its scenes' on-screen text and descriptions
    (vidpipe describe), so silent videos take part; items with fewer than 2 content
    words are left out, each with its reason. Topics are named by their keywords, or by
    the LLM when one is configured (VIDPIPE_LLM_BASE or --llm-base). Writes topics.json
    and topics.md.
    """
    from vidpipe.errors import InputError
    from vidpipe.library import understanding as u

    selection = _selection(shortest, longest, min_duration, max_duration, language, ids)
    cat = _catalog()
    try:

        def work():
            wanted: list[int] | None = None
            if items and not all_items:
                known = {m.id for m in cat.all_media()}
                missing = sorted(set(items) - known)
                if missing:
                    raise InputError(
                        f"no item with id {', '.join(map(str, missing))} in the catalog",
                        "see vidpipe report",
                    )
                wanted = list(dict.fromkeys(items))
            if selection.active:
                wanted = _select(cat, selection, wanted).ids
                if not wanted:
                    raise InputError("no catalog items match the selection", "see vidpipe report")
            namer = u.llm_topic_namer(llm_base, llm_model, cat)
            names = u.media_names(cat)
            with err.status(Text("topics", style="bold"), spinner="dots"):
                found, n, left_out = u.topics_for_catalog(cat, n_topics, namer, wanted)
            for mid, reason in left_out:
                err.print(
                    f"left out #{mid} {names.get(mid, mid)}: {reason}",
                    markup=False,
                    highlight=False,
                )
            if not found:
                raise InputError(
                    "no items with speech or on-screen text to group",
                    "run vidpipe run (transcribe) or vidpipe describe first",
                )
            paths = u.write_topics(found, output_dir or u.default_out_dir(), names)
            return found, names, paths, n

        found, names, paths, n = _run(work)
    finally:
        cat.close()
    if as_json:
        out.print_json(json.dumps([t.model_dump(mode="json") for t in found]))
    else:
        for t in found:
            out.print(
                Text.assemble((f"{t.id}. {t.name}", "bold"), f"  ({', '.join(t.keywords)})"),
                highlight=False,
            )
            for m in t.media_ids:
                out.print(f"   [{m}] {names.get(m, m)}", markup=False, highlight=False)
    err.print(
        f"{len(found)} topics over {n} items -> {', '.join(str(p) for p in paths)}",
        highlight=False,
    )


def _scenes_table(title: str, scenes) -> Table:
    speech = any(s.speech for s in scenes)
    t = Table(title=title, title_justify="left")
    cols = ["#", "start", "end", "on screen", *(["said"] if speech else []), "seen"]
    for col in cols:
        t.add_column(col)
    for s in scenes:
        row = [str(s.index), _hms(s.start), _hms(s.end), Text(" / ".join(s.ocr_text)[:60])]
        if speech:
            row.append(Text((s.speech or "")[:60]))
        row.append(Text((s.description or "")[:60]))
        t.add_row(*row)
    return t


@app.command()
def describe(
    video: Annotated[
        str | None,
        typer.Argument(help="Video file, or a catalog item id (or none, with selection options)."),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            help="Output folder (default ./<stem>.describe; with several items, "
            "<DIR>/<stem>.describe each).",
        ),
    ] = None,
    vlm_base: Annotated[
        str | None, typer.Option("--vlm-base", help="OpenAI-compatible vision endpoint URL.")
    ] = None,
    vlm_model: Annotated[str | None, typer.Option("--vlm-model", help="Vision model name.")] = None,
    frames_per_scene: Annotated[
        int, typer.Option("--frames-per-scene", min=1, help="Frames sent per scene.")
    ] = 1,
    model: _AsrModelOpt = None,
    language: _TargetLangOpt = None,
    shortest: _ShortestOpt = None,
    longest: _LongestOpt = None,
    min_duration: _MinDurOpt = None,
    max_duration: _MaxDurOpt = None,
    ids: _IdsOpt = None,
    as_json: _JsonOpt = False,
) -> None:
    """Timeline of scenes: keyframes (JPEG), on-screen text (OCR), what is said and,
    with a vision endpoint, what is seen. Writes scenes.json and scenes.md.

    A video without an audio track gets no "said" column. Without a target, the
    selection options choose catalog items (audio-only items are skipped; exit 1 if
    any failed).
    """
    from vidpipe.library import understanding as u

    selection, language = _target_selection(
        video, "a VIDEO or ITEM", shortest, longest, min_duration, max_duration, language, ids
    )
    if video is None:
        _describe_selected(
            selection, output_dir, vlm_base, vlm_model, frames_per_scene, model, as_json
        )
    cat = _catalog()
    try:

        def work():
            with _frames_progress(not err.is_terminal) as bar:
                task = bar.add_task(f"describe {video}", total=None)
                media_id, tr, stem, path = u.resolve_video(cat, video, model, language)
                dest = Path(output_dir) if output_dir else Path.cwd() / f"{stem}.describe"
                scenes = u.describe_media(
                    cat,
                    media_id,
                    path,
                    dest,
                    tr,
                    vlm_base,
                    vlm_model,
                    frames_per_scene,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
            return scenes, dest

        scenes, dest = _run(work)
    finally:
        cat.close()
    if as_json:
        out.print_json(json.dumps([s.model_dump(mode="json") for s in scenes]))
    else:
        out.print(_scenes_table(f"{video}: {len(scenes)} scenes", scenes))
    err.print(f"{len(scenes)} scenes -> {dest}", highlight=False, markup=False)


def _describe_selected(
    selection, output_dir, vlm_base, vlm_model, frames_per_scene, model, as_json
) -> None:
    """``describe`` over the selected catalog items, one folder each; exit 1 if any failed."""
    from vidpipe.errors import InputError
    from vidpipe.library import understanding as u

    cat = _catalog()
    failed = 0
    docs: list[dict] = []
    try:
        chosen = _select(cat, selection)
        if not chosen.items:
            _stop(InputError("no catalog items match the selection", "see vidpipe report"))
        base = Path(output_dir) if output_dir else Path.cwd()
        used: set[str] = set()

        def work():
            nonlocal failed
            with _frames_progress(not err.is_terminal) as bar:
                items = bar.add_task("describe", total=len(chosen.items))
                scenes_task = bar.add_task("scenes", total=None)
                for m in chosen.items:
                    name = Path(m.path).name
                    bar.update(items, description=f"describe #{m.id} {name}")
                    bar.reset(scenes_task, total=None)
                    if m.probe is not None and m.video_codec is None:
                        err.print(
                            f"skipped #{m.id} {name}: audio only", markup=False, highlight=False
                        )
                        bar.advance(items)
                        continue
                    try:
                        media_id, tr, stem, path = u.resolve_video(cat, str(m.id), model)
                        dest = base / f"{_unique_stem(stem, m.id, used)}.describe"
                        scenes = u.describe_media(
                            cat,
                            media_id,
                            path,
                            dest,
                            tr,
                            vlm_base,
                            vlm_model,
                            frames_per_scene,
                            progress=lambda d, t: bar.update(scenes_task, completed=d, total=t),
                        )
                    except Exception as exc:
                        failed += 1
                        _item_error(m.id, name, exc)
                        bar.advance(items)
                        continue
                    bar.advance(items)
                    if as_json:
                        docs.append(
                            {
                                "id": m.id,
                                "name": name,
                                "output_dir": str(dest),
                                "scenes": [s.model_dump(mode="json") for s in scenes],
                            }
                        )
                    else:
                        out.print(_scenes_table(f"#{m.id} {name}: {len(scenes)} scenes", scenes))
                    err.print(
                        f"#{m.id}: {len(scenes)} scenes -> {dest}", highlight=False, markup=False
                    )

        _run(work)
    finally:
        cat.close()
    if as_json:
        out.print_json(json.dumps(docs, ensure_ascii=False))
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)


# --------------------------------------------------------------------------- speak


@app.command()
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
    from vidpipe.speech.tts import get_voice, write_sentences
    from vidpipe.speech.tts import speak as speak_text
    from vidpipe.text.documents import read_text_argument

    words = _run(lambda: read_text_argument(text).text)
    progress = _frames_progress(quiet)
    with progress:
        task = progress.add_task("loading voice", total=None)
        v = _run(lambda: get_voice(voice, language, threads=threads))
        progress.update(task, description=f"{output.name}: speaking ({v.name})")

        def advance(done: float, total: float) -> None:
            progress.update(task, completed=done, total=total)

        t0 = time.perf_counter()
        result = _run(lambda: speak_text(words, output, voice=v, progress=advance))
        wall = time.perf_counter() - t0
    if timings is not None:
        _run(lambda: write_sentences(result, timings))
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


class _CountColumn(ProgressColumn):
    """``done/total`` (frames, sentences, images) once the total is known."""

    def render(self, task) -> Text:
        if task.total is None:
            return Text("")
        return Text(f"{task.completed:.0f}/{task.total:.0f}")


def _frames_progress(quiet: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        _CountColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )


@app.command()
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
    from vidpipe.errors import UsageError
    from vidpipe.media.render import IMAGE_SUFFIXES, render_slideshow
    from vidpipe.vision.imagegen import natural_key

    opts = _render_options(size, fps, transition, transition_duration, ken_burns, zoom, motion,
                           fit, subtitle_mode, font, crf, preset, slide_duration)  # fmt: skip
    paths = list(image_opt or []) + list(images or [])
    if image_dir is not None:

        def listing() -> list[Path]:
            if not image_dir.is_dir():
                from vidpipe.errors import InputError

                raise InputError(f"{image_dir}: not a folder", "check --image-dir")
            found = [p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
            return sorted(found, key=lambda p: natural_key(p.name))

        paths += _run(listing)
    if not paths:
        _stop(UsageError("no images given", "list image files, or use --image-dir DIR"))
    cues = None
    if subtitles != "none" and subtitle_mode != "none":
        cues = _run(lambda: _subtitle_source(subtitles, audio, model, quiet))
    progress = _frames_progress(quiet)
    with progress:
        task = progress.add_task(f"rendering {output.name}", total=None)

        def advance(done: float, total: float) -> None:
            progress.update(task, completed=done, total=total)

        result = _run(
            lambda: render_slideshow(
                paths,
                output,
                audio=audio,
                durations=_floats(durations, "--durations"),
                starts=_floats(starts, "--starts"),
                subtitles=cues,
                music=music,
                options=opts,
                progress=advance,
            )
        )
    speed = result.duration / result.seconds if result.seconds else 0.0
    extra = f", subtitles {result.srt}" if result.srt else ""
    err.print(
        f"{result.output}: {len(paths)} slides, {result.duration:.2f} s, {result.frames} frames "
        f"{result.width}x{result.height}@{result.fps:g} in {result.seconds:.1f} s "
        f"({speed:.2f}x real time){extra}",
        highlight=False,
    )


def _subtitle_source(spec: str, audio: Path | None, model: str, quiet: bool):
    """Cues for ``vidpipe render --subtitles``: a file, or auto (sidecar, else transcribe)."""
    from vidpipe.media.subtitles import load_subtitles

    if spec != "auto":
        return load_subtitles(spec)
    if audio is None:
        return None
    for suffix in (".srt", ".vtt", ".ass"):
        side = audio.with_suffix(suffix)
        if side.is_file():
            return load_subtitles(side)
    from vidpipe.speech.transcribe import transcribe as transcribe_file

    with err.status(Text(f"transcribing {audio.name} for subtitles"), spinner="dots"):
        return transcribe_file(audio, model=model)


@app.command()
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
    one image per chunk, subtitles, rendered. Reruns reuse the work folder."""
    from vidpipe.narrate import NarrateOptions
    from vidpipe.narrate import narrate as narrate_file

    ropts = _render_options(size, fps, transition, transition_duration, ken_burns, zoom, motion,
                            fit, subtitle_mode, font, crf, preset)  # fmt: skip
    image_kwargs: dict = {}
    if image_base:
        image_kwargs["base_url"] = image_base
    if image_model:
        image_kwargs["model"] = image_model
    from vidpipe.config import get_settings

    if llm_base or get_settings().llm_base:  # prompts from the configured LLM, if any
        from vidpipe.text.llm import OpenAIBackend

        image_kwargs["llm"] = _run(lambda: OpenAIBackend(base_url=llm_base, model=llm_model))
    opts = NarrateOptions(
        voice=voice,
        language=None if language in (None, "auto") else language,
        images=images,
        model=model,
        max_chunk=max_chunk,
        music=music,
        work_dir=work_dir,
        render=ropts,
        image_kwargs=image_kwargs,
    )
    labels = {
        "speech": "synthesizing speech",
        "transcript": "transcribing",
        "chunks": "chunking",
        "images": "images",
        "render": f"rendering {output.name}",
    }
    cat = _catalog()
    progress = _frames_progress(quiet)
    tasks: dict[str, int] = {}

    def advance(stage: str, done: float, total: float) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(labels.get(stage, stage), total=None)
        progress.update(tasks[stage], completed=done, total=total or None)

    try:
        with progress:
            result = _run(lambda: narrate_file(source, output, opts, catalog=cat, progress=advance))
    finally:
        cat.close()
    r = result.render
    reused = f"; reused {', '.join(result.reused)}" if result.reused else ""
    err.print(
        f"{r.output}: {len(result.chunks)} slides, {r.duration:.2f} s, "
        f"{r.width}x{r.height}@{r.fps:g}; work folder {result.work_dir}{reused}",
        highlight=False,
    )


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print(Text("interrupted", style="bold red"))
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
