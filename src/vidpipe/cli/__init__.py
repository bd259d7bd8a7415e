"""The ``vidpipe`` command line: parse, call the library, render. No stage logic here.

A private package, one module per command group (the PySceneDetect pattern):

- :mod:`._common`: the consoles, the error boundary (``_fail``, ``_run``, ``_stop``),
  the usage-error group, shared option types and helpers;
- :mod:`.media`: ``probe``, ``extract-audio``, ``transcribe``, ``diarize``;
- :mod:`.library`: ``ingest``, ``run``, ``report``, ``search``, ``show``, ``export``;
- :mod:`.understanding`: ``summarize``, ``chapters``, ``topics``, ``describe``;
- :mod:`.video`: ``speak``, ``render``, ``narrate``;
- :mod:`.embed`: ``embed``, ``similar``;
- :mod:`.jobs`: ``submit``, ``worker`` and the ``jobs`` group (list, show, cancel, retry);
- :mod:`.serve`: ``serve``, the HTTP service; ``listen``, its realtime sessions in-process;
- :mod:`.speakers`: the ``speakers`` group (add, list, remove, rename).

This module builds the Typer ``app`` (commands listed in help in the order registered
below) and ``main()``, the console-script entry point (``vidpipe = "vidpipe.cli:main"``,
also ``python -m vidpipe``). Exit codes are listed in :mod:`vidpipe.errors` and the README.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.text import Text

from vidpipe import __version__
from vidpipe.cli import embed, jobs, library, media, serve, speakers, understanding, video
from vidpipe.cli._common import _fail, _Group, _run, _State, _stop, err, out
from vidpipe.errors import EXIT_INTERRUPTED

__all__ = ["_fail", "_run", "_stop", "app", "err", "main", "out"]

app = typer.Typer(
    name="vidpipe",
    cls=_Group,
    help="Turn video and audio into searchable, timestamped text, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
    from vidpipe.library.urls import install_log_redaction

    _State.debug = debug
    install_log_redaction()  # URL passwords and query values never reach a log line


# (name, function) in help order; the name is Typer's default unless given.
_COMMANDS = (
    (None, media.probe),
    ("extract-audio", media.extract_audio),
    (None, media.transcribe),
    (None, media.diarize),
    (None, library.ingest),
    ("run", library.run_cmd),
    (None, library.report),
    (None, library.search),
    (None, library.show),
    (None, library.export),
    (None, understanding.summarize),
    (None, understanding.chapters),
    (None, understanding.topics),
    (None, understanding.describe),
    (None, video.speak),
    (None, video.render),
    (None, video.narrate),
    (None, embed.embed),
    (None, embed.similar),
    (None, jobs.submit),
    (None, jobs.worker),
    (None, serve.serve),
    (None, serve.listen),
)
for _name, _fn in _COMMANDS:
    app.command(_name)(_fn)
# (name, Typer sub-app): command groups, after the commands in help
_GROUPS = (("jobs", jobs.jobs_app), ("speakers", speakers.speakers_app))
for _name, _sub in _GROUPS:
    app.add_typer(_sub, name=_name)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print(Text("interrupted", style="bold red"))
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
