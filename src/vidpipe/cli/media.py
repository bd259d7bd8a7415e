"""Commands on media files: ``probe``, ``extract-audio``, ``transcribe``, ``diarize``."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
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

from vidpipe.cli._common import (
    DiarizeOpt as _DiarizeOpt,
)
from vidpipe.cli._common import (
    MaxSpeakersOpt as _MaxSpeakersOpt,
)
from vidpipe.cli._common import (
    MinSpeakersOpt as _MinSpeakersOpt,
)
from vidpipe.cli._common import (
    NumSpeakersOpt as _NumSpeakersOpt,
)
from vidpipe.cli._common import (
    _cue_options,
    _exit_code,
    _fail,
    _HighlightOpt,
    _MaxCueDurationOpt,
    _MaxLineCountOpt,
    _MaxLineWidthOpt,
    _run,
    _stop,
    _zh_script,
    _ZhScriptOpt,
    err,
    out,
)
from vidpipe.errors import UsageError
from vidpipe.timecode import hms_ms as _hms
from vidpipe.timecode import mmss_ms as _ts

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


def probe(
    files: Annotated[list[Path], typer.Argument(help="Media files to inspect.", readable=False)],
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


# --------------------------------------------------------------------------- extract-audio


def extract_audio(
    file: Annotated[Path, typer.Argument(help="Video or audio file.", readable=False)],
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


def transcribe(
    files: Annotated[list[Path], typer.Argument(help="Video or audio files.", readable=False)],
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
    diarize: _DiarizeOpt = False,
    num_speakers: _NumSpeakersOpt = None,
    min_speakers: _MinSpeakersOpt = None,
    max_speakers: _MaxSpeakersOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Quiet.")] = False,
) -> None:
    """Transcribe speech to text with segment (and word) timestamps, offline by default.

    Writes one file per format per input (atomically) into the output folder. Exit
    status is 0 only if every input succeeded.
    """
    from vidpipe.pipeline.stages.transcribe import TranscribeSettings, transcribe_files
    from vidpipe.writers import parse_formats

    fmts = _run(lambda: parse_formats(formats))
    cue_opts = _cue_options(max_line_width, max_line_count, max_cue_duration, highlight_words)
    settings = TranscribeSettings(
        engine=engine.value,
        model=model,
        language=language,
        task=task.value,
        word_timestamps=word_timestamps,
        sentences=sentences,
        vad=vad,
        beam_size=beam_size,
        batch_size=batch_size,
        threads=threads,
        initial_prompt=initial_prompt,
        audio_stream=audio_stream,
        api_base=api_base,
        max_upload_mb=max_upload_mb,
        zh_script=_zh_script(zh_script),
        diarize=diarize,
        num_speakers=num_speakers,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
    )
    if not diarize and (num_speakers or min_speakers or max_speakers):
        _stop(UsageError("--num-speakers, --min-speakers and --max-speakers need --diarize"))

    codes: list[int] = []
    # a path given twice is transcribed twice (files go in groups: both can be open)
    tasks: dict[Path, list[int]] = {}
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

    def start(f: Path) -> None:
        tasks.setdefault(f, []).append(progress.add_task(f"{f.name}: decoding", total=None))

    def decoded(f: Path, seconds: float) -> None:
        progress.update(tasks[f][0], total=seconds, description=f"{f.name}: transcribing")

    def advance(f: Path, done: float, total: float) -> None:
        progress.update(tasks[f][0], completed=done, total=total)

    def finished(o) -> None:
        progress.remove_task(tasks[o.path].pop(0))
        if not tasks[o.path]:
            del tasks[o.path]
        if o.error is not None:
            progress.stop()
            codes.append(_fail(o.error))
            progress.start()
            return
        if quiet:
            return
        progress.stop()
        result = o.transcript
        for seg in result.segments:
            who = f" {seg.speaker}:" if seg.speaker else ""
            out.print(
                f"[{_ts(seg.start)} --> {_ts(seg.end)}]{who} {seg.text}",
                highlight=False,
                markup=False,
            )
        rtf = o.wall / result.duration if result.duration else 0.0
        lang = result.language or "?"
        prob = (
            f" (p={result.language_probability:.2f})"
            if result.language_probability is not None
            else ""
        )
        written = ", ".join(str(p) for p in o.paths)
        err.print(
            Text.assemble(
                (o.path.name, "green"),
                f": {_hms(result.duration)} audio in {o.wall:.1f} s "
                f"(RTF {rtf:.3f}), language {lang}{prob}, "
                f"{len(result.segments)} segments -> {written}",
            ),
            highlight=False,
        )
        progress.start()

    started: list[bool] = []

    def ready() -> None:  # the engine is built: show the display from here on
        progress.start()
        started.append(True)

    try:
        _run(
            lambda: transcribe_files(
                files,
                settings,
                output_dir,
                fmts,
                cue_opts,
                on_ready=ready,
                on_start=start,
                on_decoded=decoded,
                progress=advance,
                on_item=finished,
            )
        )
    finally:
        if started:  # stopping an unstarted display prints a blank line
            progress.stop()
    raise typer.Exit(_exit_code(codes, len(files)))


# --------------------------------------------------------------------------- diarize


def diarize(
    files: Annotated[list[Path], typer.Argument(help="Video or audio files.", readable=False)],
    output_dir: Annotated[
        Path, typer.Option("-o", "--output-dir", help="Folder for the output files.")
    ] = Path("."),
    formats: Annotated[
        str, typer.Option("-f", "--format", help="Comma list of rttm,json or all.")
    ] = "rttm,json",
    num_speakers: _NumSpeakersOpt = None,
    min_speakers: _MinSpeakersOpt = None,
    max_speakers: _MaxSpeakersOpt = None,
    audio_stream: Annotated[
        int | None, typer.Option("--audio-stream", min=0, help="Audio stream index (0-based).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Quiet.")] = False,
) -> None:
    """Who speaks when: speaker turns (RTTM, JSON), offline, overlapping speech included.

    Needs the diarize extra (pip install "vidpipe\\[diarize]"). Writes NAME.rttm and
    NAME.json per input into the output folder. Exit status is 0 only if every input
    succeeded.
    """
    from vidpipe.pipeline.stages.diarize import diarize_files, parse_turn_formats, speaker_options

    fmts = _run(lambda: parse_turn_formats(formats))
    options = _run(lambda: speaker_options(num_speakers, min_speakers, max_speakers))
    codes: list[int] = []
    tasks: dict[Path, list[int]] = {}
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )

    def start(f: Path) -> None:
        tasks.setdefault(f, []).append(progress.add_task(f"{f.name}: decoding", total=1.0))

    def advance(f: Path, fraction: float, step: str) -> None:
        progress.update(tasks[f][-1], completed=fraction, description=f"{f.name}: {step}")

    def finished(o) -> None:
        progress.remove_task(tasks[o.path].pop())
        if not tasks[o.path]:
            del tasks[o.path]
        progress.stop()
        try:
            if o.error is not None:
                codes.append(_fail(o.error))
                return
            if quiet:
                return
            r = o.result
            for t in r.turns:
                out.print(
                    f"[{_ts(t.start)} --> {_ts(t.end)}] {t.speaker}", highlight=False, markup=False
                )
            rtf = o.wall / r.duration if r.duration else 0.0
            n = len(r.speakers)
            found = f"{n} speaker{'s' * (n != 1)}, {len(r.turns)} turns" if r.turns else "no speech"
            written = ", ".join(str(p) for p in o.paths)
            err.print(
                Text.assemble(
                    (o.path.name, "green"),
                    f": {_hms(r.duration)} audio in {o.wall:.1f} s (RTF {rtf:.3f}), "
                    f"{found} -> {written}",
                ),
                highlight=False,
            )
        finally:
            progress.start()

    started: list[bool] = []

    def ready() -> None:  # the models are loaded: show the display from here on
        progress.start()
        started.append(True)

    try:
        _run(
            lambda: diarize_files(
                files,
                options,
                output_dir,
                fmts,
                audio_stream=audio_stream,
                on_ready=ready,
                on_start=start,
                progress=advance,
                on_item=finished,
            )
        )
    finally:
        if started:
            progress.stop()
    raise typer.Exit(_exit_code(codes, len(files)))
