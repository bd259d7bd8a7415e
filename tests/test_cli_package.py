"""The command-line package (vidpipe.cli) and the helpers moved out of it: output names,
the slide-image folder scan, the report's plot durations."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vidpipe.errors import EXIT_INPUT, InputError
from vidpipe.files import image_files, item_stem, natural_key, numbered_stem
from vidpipe.library.report import Report, ReportRow

DATA = Path(__file__).parent / "data"

COMMANDS = [
    "probe",
    "extract-audio",
    "transcribe",
    "diarize",
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
    "serve",
    "listen",
    "jobs",
    "speakers",
]


def test_every_command_registered_in_help_order():
    import typer.main

    from vidpipe.cli import app

    group = typer.main.get_command(app)
    assert list(group.list_commands(None)) == COMMANDS
    assert group.commands["run"].callback.__module__ == "vidpipe.cli.library"
    assert group.commands["transcribe"].callback.__module__ == "vidpipe.cli.media"
    assert group.commands["diarize"].callback.__module__ == "vidpipe.cli.media"
    assert group.commands["describe"].callback.__module__ == "vidpipe.cli.understanding"
    assert group.commands["narrate"].callback.__module__ == "vidpipe.cli.video"
    assert group.commands["similar"].callback.__module__ == "vidpipe.cli.embed"
    assert group.commands["worker"].callback.__module__ == "vidpipe.cli.jobs"
    assert group.commands["serve"].callback.__module__ == "vidpipe.cli.serve"
    assert group.commands["listen"].callback.__module__ == "vidpipe.cli.serve"
    assert list(group.commands["jobs"].list_commands(None)) == ["list", "show", "cancel", "retry"]
    assert list(group.commands["speakers"].list_commands(None)) == [
        "add",
        "list",
        "remove",
        "rename",
    ]


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
    from vidpipe.vision.images import natural_key as old_home

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
    (tmp_path / ".hidden.png").write_bytes(photos[0].read_bytes())
    (tmp_path / "dir.png").mkdir()  # a folder named like a picture is no picture
    assert [p.name for p in image_files(tmp_path)] == ["s1.png", "s2.jpg", "s10.PNG"]
    with pytest.raises(InputError) as info:
        image_files(tmp_path / "notes.txt", "check --image-dir")
    assert info.value.one_line() == f"{tmp_path / 'notes.txt'}: not a folder (check --image-dir)"
    assert info.value.exit_code == EXIT_INPUT
    with pytest.raises(InputError, match="no such folder"):
        image_files(tmp_path / "missing")


def test_cli_render_image_dir_not_a_folder(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vidpipe", "render", "--image-dir", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == EXIT_INPUT
    assert proc.stderr.strip() == f"error: {tmp_path / 'nope'}: no such folder (check --image-dir)"


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


def test_jobs_table_fits_80_columns_and_short_ids_resolve(tmp_path):
    """``vidpipe jobs`` at COLUMNS=80: one line per job (nothing wraps), short ids,
    a long step and a long error cut with an ellipsis; a shown short id is accepted by
    ``jobs show``; an unknown or too short prefix exits 3."""
    import os

    from vidpipe.library.catalog import Catalog
    from vidpipe.pipeline.jobs import JobStore
    from vidpipe.types import JobError

    home = tmp_path / "home"
    store = JobStore(Catalog(f"sqlite:///{home / 'catalog.db'}"), root=home)
    try:
        jfk = str(DATA / "jfk.flac")
        running = store.create("transcribe", {"model": "tiny.en"}, input={"path": jfk})
        failed = store.create("probe", {}, input={"path": jfk}, max_attempts=1)
        waiting = store.create("summarize", {}, depends_on=[running.id])
        store.claim(running.id, "w1")
        step = "transcribing jfk.flac with tiny.en: segment 12 of 40, " + "x" * 80
        store.progress(running.id, "w1", 0.42, step)
        store.claim(failed.id, "w1")
        reason = "InputError: " + "a very long reason that cannot fit on one line " * 3
        store.fail(failed.id, "w1", JobError(error_class="InputError", message=reason))
    finally:
        store.catalog.close()
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="", COLUMNS="80")
    env.pop("VIDPIPE_STORAGE", None)

    def vp(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "vidpipe", *args], capture_output=True, text=True, env=env
        )

    proc = vp("jobs")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.rstrip("\n").splitlines()
    assert max(len(line) for line in lines) <= 80, proc.stdout
    assert lines[0].split() == ["id", "kind", "status", "progress", "age", "step"]
    assert len(lines) == 4, proc.stdout  # the header and one line per job
    by_id = {line.split()[0]: line for line in lines[1:]}
    assert set(by_id) == {j.id[:8] for j in (running, failed, waiting)}
    row = by_id[running.id[:8]].split()
    assert row[1:4] == ["transcribe", "running", "42%"] and row[4].endswith("s")  # age
    assert " ".join(row[5:]).startswith("transcribing jfk.flac")
    assert by_id[running.id[:8]].rstrip().endswith("…")
    assert "failed" in by_id[failed.id[:8]] and "InputError: a very" in by_id[failed.id[:8]]
    assert by_id[failed.id[:8]].rstrip().endswith("…")

    shown = vp("jobs", "show", failed.id[:8])
    assert shown.returncode == 0, shown.stderr
    assert f"id         {failed.id}" in shown.stdout and "failed" in shown.stdout
    for bad in ("fff", "ffffffff-no"):
        missing = vp("jobs", "show", bad)
        assert missing.returncode == EXIT_INPUT and f"no job {bad}" in missing.stderr
