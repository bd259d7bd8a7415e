"""The command-line package (vidpipe.cli) and the helpers moved out of it: output names,
the slide-image folder scan, the report's plot durations."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vidpipe.errors import EXIT_INPUT, InputError
from vidpipe.files import item_stem, natural_key, numbered_stem
from vidpipe.library.report import Report, ReportRow
from vidpipe.media.render import image_files

DATA = Path(__file__).parent / "data"

COMMANDS = [
    "probe",
    "extract-audio",
    "transcribe",
    "ingest",
    "run",
    "report",
    "search",
    "show",
    "export",
    "summarize",
    "chapters",
    "topics",
    "describe",
    "speak",
    "render",
    "narrate",
    "embed",
    "similar",
    "submit",
    "worker",
    "jobs",
]


def test_every_command_registered_in_help_order():
    import typer.main

    from vidpipe.cli import app

    group = typer.main.get_command(app)
    assert list(group.list_commands(None)) == COMMANDS
    assert group.commands["run"].callback.__module__ == "vidpipe.cli.library"
    assert group.commands["transcribe"].callback.__module__ == "vidpipe.cli.media"
    assert group.commands["describe"].callback.__module__ == "vidpipe.cli.understanding"
    assert group.commands["narrate"].callback.__module__ == "vidpipe.cli.video"
    assert group.commands["similar"].callback.__module__ == "vidpipe.cli.embed"
    assert group.commands["worker"].callback.__module__ == "vidpipe.cli.jobs"
    assert list(group.commands["jobs"].list_commands(None)) == ["list", "show", "cancel", "retry"]


def test_python_m_and_version():
    proc = subprocess.run(
        [sys.executable, "-m", "vidpipe", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("vidpipe ")


def test_numbered_stem_counts_each_stem():
    used: dict[str, int] = {}
    got = [numbered_stem(s, used) for s in ("a", "b", "a", "a", "b", "c")]
    assert got == ["a", "b", "a-2", "a-3", "b-2", "c"]
    assert used == {"a": 3, "b": 2, "c": 1}


def test_item_stem_adds_the_item_id_on_a_clash():
    used: set[str] = set()
    assert item_stem("talk", 4, used) == "talk"
    assert item_stem("talk", 9, used) == "talk-9"
    assert item_stem("other", 9, used) == "other"
    assert used == {"talk", "talk-9", "other"}


def test_natural_key_is_reexported_where_it_was():
    from vidpipe.vision.imagegen import natural_key as old_home

    assert old_home is natural_key
    assert sorted(["img10.png", "IMG2.png", "img1.png"], key=natural_key) == [
        "img1.png",
        "IMG2.png",
        "img10.png",
    ]


def test_image_files_scans_one_folder_in_natural_order(tmp_path):
    photos = sorted((DATA / "photos").iterdir())[:3]
    for name, src in zip(("s10.PNG", "s2.jpg", "s1.png"), photos, strict=True):
        shutil.copy(src, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    shutil.copy(photos[0], tmp_path / "sub" / "s0.png")  # not recursive
    assert [p.name for p in image_files(tmp_path)] == ["s1.png", "s2.jpg", "s10.PNG"]
    assert image_files(tmp_path / "sub") == [tmp_path / "sub" / "s0.png"]
    (tmp_path / "empty").mkdir()
    assert image_files(tmp_path / "empty") == []
    with pytest.raises(InputError) as info:
        image_files(tmp_path / "notes.txt")
    assert info.value.one_line() == f"{tmp_path / 'notes.txt'}: not a folder (check --image-dir)"
    assert info.value.exit_code == EXIT_INPUT


def test_cli_render_image_dir_not_a_folder(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vidpipe", "render", "--image-dir", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == EXIT_INPUT
    assert proc.stderr.strip() == f"error: {tmp_path / 'nope'}: not a folder (check --image-dir)"


def _row(pos: int, media_id: int | None, duration: float | None) -> ReportRow:
    return ReportRow(
        position=pos,
        source_id=pos,
        source=f"s{pos}",
        uri=f"s{pos}",
        state="done" if media_id else "failed",
        reason=None,
        media_id=media_id,
        path=None,
        duration=duration,
        width=None,
        height=None,
        video_codec=None,
        audio_codec=None,
        language=None,
        words=None,
    )


def test_report_media_durations_one_per_media_file():
    rows = [_row(1, 7, 3.5), _row(2, None, None), _row(3, 7, 3.5), _row(4, 2, 10.0), _row(5, 3, 0)]
    assert Report(rows=rows, totals={}).media_durations() == [3.5, 10.0]
