"""Command-line hardening (issue 9, items 6, 7, 10, 11): markup, exit codes and blame,
long names and stale temporaries, messages; and a mutation run over real files.

Everything runs the real ``vidpipe`` in a subprocess on real files (copies of
``tests/data``); a full disk is a real 64 KiB tmpfs (skipped when mounting is not
permitted), a read-only file system a real read-only tmpfs.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidpipe.errors import (
    EXIT_INPUT,
    EXIT_MEDIA,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    OutputError,
    UsageError,
)
from vidpipe.files import NAME_MAX, output_error, remove_stale_temps, temp_path
from vidpipe.writers import FORMATS

DATA = Path(__file__).parent / "data"
JFK = DATA / "jfk.mp3"
PHOTOS = sorted((DATA / "photos").glob("*.png"))[:2]
SRC = str(Path(__file__).resolve().parents[1] / "src")
HANG = 120  # generous limit for one command (the machine is shared)


def run(*args: str, home: Path, cwd: Path | None = None, timeout: float = HANG):
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", VIDPIPE_HOME=str(home))
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def one_error(proc, code: int, *needles: str) -> str:
    """Assert exit ``code`` and exactly one stderr line, ``error: ...``; return it."""
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


# --------------------------------------------------------------------------- full disk


@contextlib.contextmanager
def _tmpfs(path: Path, size: str = "64k", read_only: bool = False):
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(folder: Path, leave: int) -> None:
    """Fill ``folder``'s file system until at most ``leave`` bytes are free."""
    with (folder / "filler").open("wb") as fh:
        while True:
            free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
            if free <= leave:
                break
            try:
                fh.write(b"\0" * min(4096, free - leave))
                fh.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break


@pytest.fixture
def full_disk(tmp_path):
    with _tmpfs(tmp_path / "disk") as disk:
        yield disk


def test_transcribe_full_disk_is_exit_7_and_leaves_no_files(full_disk, home):
    # A file that was there before must survive untouched.
    (full_disk / "jfk.txt").write_text("old transcript\n")
    _fill(full_disk, leave=4096)  # room for one small file (one tmpfs page), not five
    proc = run(
        "transcribe", str(JFK), "-m", "tiny.en", "-q", "-f", "all", "-o", str(full_disk),
        home=home,
    )  # fmt: skip
    line = one_error(proc, EXIT_OUTPUT, "no space left", str(full_disk))
    assert "internal error" not in line
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler", "jfk.txt"]
    assert (full_disk / "jfk.txt").read_text() == "old transcript\n"


def test_extract_audio_and_speak_full_disk_blame_the_output(full_disk, home):
    proc = run("extract-audio", str(JFK), "-o", str(full_disk / "x.wav"), home=home)
    line = one_error(proc, EXIT_OUTPUT, "cannot write", "x.wav", "no space left")
    assert "cannot decode" not in line
    words = "This sentence is spoken into a file on a disk that is far too small. " * 3
    proc = run("speak", words, "-o", str(full_disk / "s.wav"), "-q", home=home)
    line = one_error(proc, EXIT_OUTPUT, "cannot write", "s.wav")
    assert "no space left" in line.lower() and "cannot decode" not in line
    assert list(full_disk.iterdir()) == []


def test_read_only_file_system_is_exit_7(tmp_path, home):
    with _tmpfs(tmp_path / "ro", read_only=True) as ro:
        proc = run("extract-audio", str(JFK), "-o", str(ro / "x.wav"), home=home)
        one_error(proc, EXIT_OUTPUT, "read-only file system", "x.wav")


def test_parent_that_is_a_file_is_exit_7_naming_the_output(tmp_path, home):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    text = tmp_path / "t.txt"
    text.write_text("Hello there.")
    for args in (
        ("extract-audio", str(JFK), "-o", str(blocker / "x.wav")),
        ("narrate", str(text), "-o", str(blocker / "x.mp4"), "-q"),
        ("report", "--csv", str(blocker / "r.csv")),
    ):
        proc = run(*args, home=home)
        line = one_error(proc, EXIT_OUTPUT, f"{blocker} is a file, not a folder")
        assert "File exists" not in line and "-o" not in line.split("(")[-1], line
    assert blocker.read_text() == "not a folder"


def test_ingest_dest_under_a_file_is_exit_7(tmp_path, home):
    sys.path.insert(0, str(Path(__file__).parent))
    from servers.http_media import MediaServer

    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(JFK, served / "jfk.mp3")
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with MediaServer(served) as srv:
        proc = run("ingest", srv.url("jfk.mp3"), "--dest", str(blocker / "d"), "-q", home=home)
        assert not srv.requests  # refused before any download
    one_error(proc, EXIT_OUTPUT, "cannot write", f"{blocker} is a file, not a folder")


def test_output_error_messages():
    for code, needle in [
        (errno.ENOSPC, "no space left"),
        (errno.EROFS, "read-only"),
        (errno.EACCES, "permission denied"),
        (errno.ENAMETOOLONG, "file name too long"),
    ]:
        exc = output_error("/out/x.srt", OSError(code, os.strerror(code)))
        assert isinstance(exc, OutputError) and exc.exit_code == EXIT_OUTPUT
        assert "/out/x.srt" in exc.one_line() and needle in exc.one_line()


# --------------------------------------------------------------------------- markup


def test_markup_in_names_and_paths_is_printed_as_is(tmp_path, home):
    clip = tmp_path / "clip [hd].mp3"
    shutil.copy(JFK, clip)
    proc = run("probe", str(clip), home=home)
    assert proc.returncode == 0, proc.stderr
    assert "clip [hd].mp3" in proc.stdout

    proc = run("probe", str(tmp_path / "[/]x.mp3"), home=home)
    one_error(proc, EXIT_INPUT, "[/]x.mp3", "no such file")

    # an item whose path holds "[/x]": folder "a[" with file "x]b.mp3"
    odd = tmp_path / "a[" / "x]b [bold]c.mp3"
    odd.parent.mkdir()
    shutil.copy(JFK, odd)
    proc = run("run", str(odd), "--steps", "ingest,probe,audio,transcribe", "-m", "tiny.en",
               "-q", home=home)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = run("search", "country", home=home)
    assert proc.returncode == 0, proc.stderr
    assert str(odd) in proc.stdout
    proc = run("search", "[/]", home=home)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    proc = run("show", "1", home=home)
    assert proc.returncode == 0, proc.stderr
    assert str(odd) in proc.stdout


def test_hints_and_failures_keep_brackets(capsys):
    from rich.console import Console

    from vidpipe import cli
    from vidpipe.library.models import Source
    from vidpipe.pipeline.runner import RichDisplay

    code = cli._fail(UsageError("page URL [/x]", "pip install vidpipe[pages]"))
    assert code == EXIT_USAGE
    assert capsys.readouterr().err.strip() == ("error: page URL [/x] (pip install vidpipe[pages])")
    buf = io.StringIO()
    display = RichDisplay(Console(file=buf, width=200), ["ingest"])
    display.start(1, 0)
    display.item_done(Source(uri="/m/[/x].mp4"), "failed", "install vidpipe[pages]")
    display.stop()
    assert "failed /m/[/x].mp4: install vidpipe[pages]" in buf.getvalue()


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("probe", "--bogus", "x"), ("No such option: --bogus", "see vidpipe probe --help")),
        (("probe",), ("Missing argument", "see vidpipe probe --help")),
        (("transcribe", "x", "--beam-size", "99"), ("--beam-size", "vidpipe transcribe --help")),
        (("nosuchcommand",), ("No such command", "see vidpipe --help")),
        (("show", "abc"), ("Invalid value", "see vidpipe show --help")),
    ],
)
def test_usage_errors_are_one_line(args, needles, home):
    proc = run(*args, home=home)
    line = one_error(proc, EXIT_USAGE, *needles)
    assert "╭" not in proc.stderr and "Usage:" not in proc.stderr, line


def test_help_still_works(home):
    proc = run("probe", "--help", home=home)
    assert proc.returncode == 0 and "Usage" in proc.stdout and "--json" in proc.stdout


# --------------------------------------------------------------------------- names


def test_temp_names_fit_whenever_the_name_fits(tmp_path):
    for name in ("a" * 251 + ".mp4", "é" * 125 + ".srt", "x" * 255, "b.c" * 80 + ".json"):
        assert len(os.fsencode(name)) <= NAME_MAX
        for keep in (True, False):
            tmp = temp_path(tmp_path / name, keep_suffix=keep)
            assert len(os.fsencode(tmp.name)) <= NAME_MAX, tmp.name
            tmp.write_bytes(b"")  # the file system accepts it
            tmp.unlink()
    assert temp_path(tmp_path / "out.mp4").suffix == ".mp4"


def test_transcribe_240_character_name(tmp_path, home):
    src = tmp_path / ("n" * 240 + ".mp3")
    shutil.copy(JFK, src)
    out = tmp_path / "out"
    proc = run("transcribe", str(src), "-m", "tiny.en", "-q", "-f", "all", "-o", str(out),
               home=home)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.suffix for p in out.iterdir()) == sorted(f".{f}" for f in FORMATS)
    assert "country" in (out / f"{'n' * 240}.txt").read_text().lower()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_remove_stale_temps_only_touches_dead_writers_of_that_output(tmp_path):
    dest = tmp_path / "out.mp4"
    dead = _dead_pid()
    stale_old = tmp_path / f".out.{dead}.part.mp4"  # the name older versions used
    stale_new = temp_path(dest, f"{dead}-abcdef")
    alive = temp_path(dest, f"{os.getppid()}-abcdef")  # a running process (pytest's parent)
    other = tmp_path / f".other.{dead}.part.mp4"
    user = tmp_path / "out.part.mp4"
    for p in (stale_old, stale_new, alive, other, user):
        p.write_bytes(b"x")
    assert sorted(remove_stale_temps(dest)) == sorted([stale_old, stale_new])
    assert {p.name for p in tmp_path.iterdir()} == {alive.name, other.name, user.name}


def test_render_rerun_removes_temporary_of_a_killed_render(tmp_path, home):
    out = tmp_path / "out.mp4"
    args = ["render", *map(str, PHOTOS), "-o", str(out), "--size", "1280x720", "--fps", "24",
            "--slide-duration", "20", "--subtitles", "none", "--preset", "slow", "-q"]  # fmt: skip
    env = dict(os.environ, VIDPIPE_HOME=str(home), PYTHONPATH=SRC)
    proc = subprocess.Popen([sys.executable, "-m", "vidpipe", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + HANG
        temps: list[Path] = []
        while not temps and time.monotonic() < deadline and proc.poll() is None:
            temps = [p for p in tmp_path.glob(".out.*.part.mp4") if p.stat().st_size > 0]
            time.sleep(0.05)
        assert temps, "the render never started writing its temporary"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert temps[0].exists() and not out.exists()
    keep = tmp_path / "notes.part.mp4"  # not vidpipe's: must stay
    keep.write_bytes(b"mine")
    # the rerun: same output, a quick render
    args[args.index("20")], args[args.index("1280x720")], args[args.index("slow")] = (
        "1", "320x240", "ultrafast",
    )  # fmt: skip
    done = run(*args, home=home)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0
    assert not list(tmp_path.glob(".out.*")), list(tmp_path.iterdir())
    assert keep.read_bytes() == b"mine"


# --------------------------------------------------------------------------- messages


def test_special_inputs_are_named_and_never_block(tmp_path, home):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.mp4"
    loop.symlink_to(loop)
    broken = tmp_path / "broken.mp4"
    broken.symlink_to(tmp_path / "gone.mp4")
    folder = tmp_path / "x.mp4"
    folder.mkdir()
    (folder / "notes.txt").write_text("no media")
    cases = [
        (fifo, "named pipe (FIFO)"),
        (Path("/dev/zero"), "character device"),
        (loop, "symbolic link loop"),
        (broken, "broken symbolic link"),
    ]
    for path, needle in cases:
        for cmd in (("run", str(path), "--steps", "ingest", "-q"), ("probe", str(path))):
            proc = run(*cmd, home=home, timeout=60)
            line = one_error(proc, EXIT_INPUT, str(path), needle)
            assert "no such file" not in line
    proc = run("run", str(folder), "--steps", "ingest", "-q", home=home)
    one_error(proc, EXIT_INPUT, "x.mp4", "is a folder", "no media files")
    proc = run("probe", str(folder), home=home)
    one_error(proc, EXIT_INPUT, "x.mp4", "is a folder")


def test_truncated_video_says_truncated_and_json_prints_nothing(tmp_path, home):
    for name in ("moviepy_transparent.webm",):
        data = (DATA / "video" / name).read_bytes()
        cut = tmp_path / f"cut_{name}"
        cut.write_bytes(data[: len(data) // 10])
        proc = run("probe", "--json", str(cut), home=home)
        line = one_error(proc, EXIT_MEDIA, str(cut), "truncated or damaged")
        assert "Input/output error" not in line.split("(")[0]
        assert proc.stdout.strip() == ""
    proc = run("probe", "--json", str(tmp_path / "missing.mp3"), home=home)
    one_error(proc, EXIT_INPUT)
    assert proc.stdout.strip() == ""
    good = tmp_path / "good.mp3"
    shutil.copy(JFK, good)
    proc = run("probe", "--json", str(good), str(tmp_path / "missing.mp3"), home=home)
    assert proc.returncode == EXIT_SOME_FAILED
    assert [d["path"] for d in json.loads(proc.stdout)] == [str(good)]


# --------------------------------------------------------------------------- mutation run

MUTATION_SEED = 20261201
MUTANT_SOURCES = [
    JFK,
    DATA / "en_dev" / "LJ001-0001.wav",
    DATA / "video" / "lhotse_big_buck_bunny_small.mp4",
    DATA / "video" / "moviepy_transparent.webm",
]
DOCUMENTED = {EXIT_OK, EXIT_INPUT, EXIT_MEDIA}


def _mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(["truncate", "flip", "zero"])
    n = len(data)
    if kind == "truncate":
        cut = rng.choice([0, 1, 16, rng.randrange(32, 4096), rng.randrange(n // 4, n)])
        return f"truncate{cut}", data[:cut]
    buf = bytearray(data)
    if kind == "flip":
        # header bytes matter most: half the flips land in the first 4 KiB
        for _ in range(rng.choice([1, 8, 64])):
            i = rng.randrange(min(n, 4096)) if rng.random() < 0.5 else rng.randrange(n)
            buf[i] ^= 1 << rng.randrange(8)
        return "flip", bytes(buf)
    start = rng.randrange(0, min(n, 8192)) if rng.random() < 0.5 else rng.randrange(n)
    length = rng.choice([4, 64, 1024, n // 8])
    buf[start : start + length] = bytes(len(buf[start : start + length]))
    return f"zero{start}+{length}", bytes(buf)


@pytest.fixture(scope="module")
def mutants(tmp_path_factory) -> list[Path]:
    rng = random.Random(MUTATION_SEED)
    folder = tmp_path_factory.mktemp("mutants")
    out = []
    for i in range(24):
        src = MUTANT_SOURCES[i % len(MUTANT_SOURCES)]
        label, data = _mutate(src.read_bytes(), rng)
        p = folder / f"m{i:02d}_{label}_{src.stem}{src.suffix}"
        p.write_bytes(data)
        out.append(p)
    return out


#: mutants run alone (each its own process: its own exit code, one line), one of each
#: source file (mutant i is made from source i % 4: 0, 3, 6, 9 are sources 0, 3, 2, 1);
#: the other 20 go through one process (each process start is a second or two)
ALONE = (0, 3, 6, 9)


def test_mutants_probe(mutants, tmp_path):
    assert {i % len(MUTANT_SOURCES) for i in ALONE} == set(range(len(MUTANT_SOURCES)))
    for m in (mutants[i] for i in ALONE):
        proc = run("probe", "--json", str(m), home=tmp_path / "home", timeout=60)
        assert proc.returncode in DOCUMENTED, (m.name, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr, (m.name, proc.stderr)
        if proc.returncode:
            one_error(proc, proc.returncode, m.name)
            assert proc.stdout.strip() == ""
        else:
            assert json.loads(proc.stdout)["path"] == str(m)
    together = [m for i, m in enumerate(mutants) if i not in ALONE]
    proc = run("probe", "--json", *map(str, together), home=tmp_path / "home", timeout=240)
    assert proc.returncode in (EXIT_OK, EXIT_SOME_FAILED), proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert all(line.startswith("error: ") for line in lines), lines
    failed = [m for m in together if any(str(m) in line for line in lines)]
    assert len(failed) == len(lines)  # one line per failed input, each naming it
    # every other input probed, in order, each once; nothing on stdout when none was
    probed = [m for m in together if m not in failed]
    docs = json.loads(proc.stdout) if probed else []
    assert [d["path"] for d in docs] == [str(m) for m in probed], (proc.stdout, lines)
    assert probed or proc.stdout.strip() == ""
    assert (proc.returncode == EXIT_SOME_FAILED) == bool(failed)


@pytest.mark.slow
def _kind(m: Path) -> tuple[str, str]:
    """``(source stem, kind of mutation)`` of a mutant's file name."""
    label = m.stem.split("_", 2)[1]
    return m.stem.split("_", 2)[2], label.rstrip("0123456789+")


def test_mutants_transcribe(mutants, tmp_path):
    # Decoding is the time here, so not all 24: the first mutant of each (source file,
    # kind of mutation) pair, 12 of them (the others repeat a pair with other offsets).
    # Four alone (each its own exit code, one line), one of each source file, two that
    # fail and two that are decoded; the other 8 together in one run (each run is a
    # process that loads the model)
    firsts: dict[tuple[str, str], int] = {}
    for i, m in enumerate(mutants):
        firsts.setdefault(_kind(m), i)
    chosen = sorted(firsts.values())
    assert len(chosen) == 12 and {k for _, k in firsts} == {"truncate", "flip", "zero"}
    picked = (0, 3, 5, 6)  # jfk.mp3 and the webm cut short; LJ001-0001 and the mp4 zeroed
    assert {i % len(MUTANT_SOURCES) for i in picked} == set(range(len(MUTANT_SOURCES)))
    assert set(picked) <= set(chosen)
    alone = [mutants[i] for i in picked]
    together = [mutants[i] for i in chosen if i not in picked]
    out = tmp_path / "out"
    succeeded = []
    for m in alone:
        proc = run("transcribe", str(m), "-m", "tiny.en", "-q", "-o", str(out),
                   home=tmp_path / "home", timeout=HANG)  # fmt: skip
        assert proc.returncode in DOCUMENTED, (m.name, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr, (m.name, proc.stderr)
        if proc.returncode:
            one_error(proc, proc.returncode, m.name)
        else:
            succeeded.append(m)
    proc = run("transcribe", *map(str, together), "-m", "tiny.en", "-q", "-o", str(out),
               home=tmp_path / "home", timeout=4 * HANG)  # fmt: skip
    assert proc.returncode in (EXIT_OK, EXIT_SOME_FAILED), proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert all(line.startswith("error: ") for line in lines), lines
    failed = [m for m in together if any(str(m) in line for line in lines)]
    assert len(failed) == len(lines)  # one line per failed input, each naming it
    succeeded += [m for m in together if m not in failed]
    # outputs: a complete set per input that succeeded, nothing else (no temporaries)
    expected = {f"{m.stem}.{ext}" for m in succeeded for ext in ("txt", "srt", "vtt", "json")}
    assert {p.name for p in out.iterdir()} == expected
    for p in out.glob("*.json"):
        json.loads(p.read_text())  # complete, parseable
