"""What every command shares: the consoles, the error boundary, the usage-error group,
shared option types and helpers (selection, subtitles cues, text backend, progress).

Nothing here parses a command of its own; the command modules import from here.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
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
from rich.text import Text

from vidpipe.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    VidpipeError,
)
from vidpipe.files import WRITE_ONLY_ERRNOS, output_error

# --------------------------------------------------------------------------- errors

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


# --------------------------------------------------------------------------- shared options

#: the batch steps of ``vidpipe run`` and ``vidpipe submit``
_StepsOpt = Annotated[
    str,
    typer.Option(
        "--steps",
        help="Comma list of ingest,probe,audio,transcribe,summarize,chapters,describe,embed "
        "(all: ingest,probe,audio,transcribe).",
    ),
]
_RunModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="ASR model: base, tiny.en, a folder.")
]
_QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]

# Audio embeddings (embed, similar, export, and the embed step of run/submit)
_EmbedModelOpt = Annotated[
    str,
    typer.Option(
        "--embed-model",
        metavar="ENCODER",
        help="Audio encoder of the embed step: whisper (base), whisper:tiny.en, "
        "whisper:FOLDER, wav2vec2:FOLDER.",
    ),
]
_PoolOpt = Annotated[
    str, typer.Option("--pool", metavar="POOL", help="Pooling of frame states: mean or meanstd.")
]

# Record lists (JSON array, JSON Lines, CSV) for ingest, run and submit
_UrlFieldOpt = Annotated[
    str | None,
    typer.Option(
        "--url-field",
        metavar="NAME",
        help="Record field holding the URL (default: the first http(s) URL field).",
    ),
]
_IdFieldOpt = Annotated[
    str | None,
    typer.Option("--id-field", metavar="NAME", help="Record field holding the record's id."),
]
_StartOpt = Annotated[
    int | None,
    typer.Option("--start", min=0, metavar="N", help="First record to take (0-based)."),
]
_EndOpt = Annotated[
    int | None,
    typer.Option("--end", min=0, metavar="M", help="Stop before record M (0-based, excluded)."),
]


def _records(url_field, id_field, start, end):
    """RecordOptions of the record-list options (``None`` when none is given)."""
    from vidpipe.library.ingest import RecordOptions

    opts = RecordOptions(url_field, id_field, start, end)
    return opts if opts.active else None


_JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]

# Subtitle cues (transcribe, export)
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
    """The checked :class:`~vidpipe.media.subtitles.CueOptions` of the cue options
    (width in display columns, lines per cue, longest cue in seconds, word highlight);
    a bad value is one usage line (exit 2)."""
    from vidpipe.media.subtitles import CueOptions

    return _run(CueOptions(width, count, duration, highlight).check)


def _zh_script(value: str | None) -> str:
    """The checked Chinese script (``simplified``, ``traditional`` or ``keep``) of
    ``--zh-script``, or of VIDPIPE_ZH_SCRIPT when the option is not given."""
    from vidpipe.config import get_settings
    from vidpipe.text.script import check_script

    return _run(lambda: check_script(value or get_settings().zh_script))


# --------------------------------------------------------------------------- catalog


def _catalog():
    """Open the catalog (:class:`~vidpipe.library.catalog.Catalog`, VIDPIPE_DATABASE_URL
    or the SQLite file in VIDPIPE_HOME); on failure one line and its exit code. The
    caller closes it."""
    from vidpipe.library.catalog import Catalog

    return _run(Catalog)


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


def _note(line: str) -> None:
    """A one-line note from the pipeline (an item skipped or left out) on stderr."""
    err.print(line, highlight=False, markup=False)


def _select(cat, selection, candidates=None):
    """Items chosen by ``selection`` (``Selected``); says on stderr which items were left
    out for want of a probed duration."""
    from vidpipe.library.select import select_noted as select

    return _run(lambda: select(cat, selection, candidates, report=_note))


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


# --------------------------------------------------------------------------- text backend

# shared by run, summarize and chapters
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


# --------------------------------------------------------------------------- progress


class _CountColumn(ProgressColumn):
    """``done/total`` (frames, sentences, images) once the total is known."""

    def render(self, task) -> Text:
        if task.total is None:
            return Text("")
        return Text(f"{task.completed:.0f}/{task.total:.0f}")


def _frames_progress(quiet: bool) -> Progress:
    """A transient progress display on stderr for counted work (frames, sentences,
    images, items): spinner, description, bar, ``done/total``, elapsed, remaining.
    ``quiet`` disables it."""
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


# --------------------------------------------------------------------------- speaker options

DiarizeOpt = Annotated[
    bool,
    typer.Option(
        "--diarize",
        help='Label speakers (SPEAKER_00...); needs pip install "vidpipe\\[diarize]".',
    ),
]
NumSpeakersOpt = Annotated[
    int | None,
    typer.Option("--num-speakers", min=1, max=100, help="The number of speakers, when known."),
]
MinSpeakersOpt = Annotated[
    int | None, typer.Option("--min-speakers", min=1, max=100, help="At least this many speakers.")
]
MaxSpeakersOpt = Annotated[
    int | None, typer.Option("--max-speakers", min=1, max=100, help="At most this many speakers.")
]
