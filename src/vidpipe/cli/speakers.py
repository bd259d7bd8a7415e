"""``vidpipe speakers``: known voices (add, list, remove) and naming an item's speakers
(rename). Storage is :mod:`vidpipe.library.speakers`; enrolment
:func:`vidpipe.pipeline.speakers.add_voice`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vidpipe.cli._common import _catalog, _run, err, out

speakers_app = typer.Typer(
    help="Known voices (add, list, remove) and the names of an item's speakers (rename).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@speakers_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The person's name (1-100 characters).")],
    clips: Annotated[
        list[Path],
        typer.Argument(help="Audio or video files of this person speaking alone (a few s each)."),
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a known voice of the same name.")
    ] = False,
) -> None:
    """Remember a voice: diarized speakers that sound like it take NAME.

    A speaker matches at a cosine similarity of 0.88 or more (measured on the dev set);
    needs the diarize extra.
    """
    from vidpipe.pipeline.speakers import add_voice

    cat = _catalog()
    try:
        voice = _run(lambda: add_voice(cat, name, clips, replace=replace))
    finally:
        cat.close()
    err.print(
        f"known voice '{voice.name}' from {voice.clips} clip(s), "
        f"{voice.seconds or 0:.1f} s of speech",
        highlight=False,
        markup=False,
    )


@speakers_app.command("list")
def list_voices(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The known voices."""
    from vidpipe.library.speakers import stored_voices

    cat = _catalog()
    try:
        voices = _run(lambda: stored_voices(cat))
    finally:
        cat.close()
    if as_json:
        out.print_json(json.dumps([v.to_dict() for v in voices], ensure_ascii=False))
        return
    if not voices:
        err.print("no known voices (vidpipe speakers add NAME CLIP...)")
        return
    table = Table("name", "clips", "speech s", "added (UTC)")
    for v in voices:
        added = v.created_at.strftime("%Y-%m-%d %H:%M") if v.created_at else "-"
        table.add_row(v.name, str(v.clips), f"{v.seconds or 0:.1f}", added)
    out.print(table)


@speakers_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="A known voice's name.")]) -> None:
    """Forget a known voice (names already given to items stay)."""
    from vidpipe.library.speakers import remove_voiceprint

    cat = _catalog()
    try:
        _run(lambda: remove_voiceprint(cat, name))
    finally:
        cat.close()
    err.print(f"removed known voice '{name.strip()}'", highlight=False, markup=False)


@speakers_app.command("rename")
def rename(
    item: Annotated[int, typer.Argument(help="Item id (see vidpipe report).")],
    speaker: Annotated[
        str, typer.Argument(help="The speaker's label (SPEAKER_00) or its current name.")
    ],
    name: Annotated[str, typer.Argument(help="The new name; '' goes back to the label.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the speakers as JSON.")] = False,
) -> None:
    """Name a speaker of one item: its transcript, exports and search hits follow."""
    from vidpipe.library.speakers import rename_speakers

    cat = _catalog()
    try:
        speakers = _run(lambda: rename_speakers(cat, item, {speaker: name}))
    finally:
        cat.close()
    if as_json:
        out.print_json(json.dumps([s.to_dict() for s in speakers], ensure_ascii=False))
        return
    table = Table("label", "name", "speech s", "segments")
    for s in speakers:
        secs = "-" if s.seconds is None else f"{s.seconds:.1f}"
        table.add_row(s.label, s.name or "", secs, str(s.segments))
    out.print(table)
