"""The library commands as a user runs them: ``python -m vidpipe ...`` with a fresh
``VIDPIPE_HOME``: ingest, run, report (table, CSV, JSON, plot), search, show, export."""

from __future__ import annotations

import csv
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA

EXAMPLE = DATA.parent.parent / "examples" / "speech_bunny.mp4"
NAMES = ["1_jfk.flac", "2_lj.wav", "3_bad.wav", "10_bunny.mp4"]  # natural (input) order


def vp(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="", COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, Path]:
    """A home where a folder was ingested and run (tiny.en): 3 good items, 1 broken."""
    root = tmp_path_factory.mktemp("lib")
    folder = root / "videos"
    folder.mkdir()
    shutil.copy(DATA / "jfk.flac", folder / "1_jfk.flac")
    shutil.copy(DATA / "en_dev" / "LJ001-0001.wav", folder / "2_lj.wav")
    shutil.copy(DATA / "broken" / "tinytag_invalid_file.wav", folder / "3_bad.wav")
    shutil.copy(EXAMPLE, folder / "10_bunny.mp4")
    home = root / "home"
    r = vp(home, "ingest", str(folder), "-q")
    assert r.returncode == 0, r.stderr
    r = vp(home, "run", str(folder), "-m", "tiny.en")
    assert r.returncode == 1, r.stderr  # the broken file fails, the rest succeed
    assert "4 items: 3 done, 1 failed, 0 skipped" in r.stderr
    assert "failed 3_bad.wav" in r.stderr or "3_bad.wav" in r.stderr
    return home, folder


def test_rerun_does_nothing(library):
    home, folder = library
    r = vp(home, "run", str(folder), "-m", "tiny.en")
    assert r.returncode == 1  # the broken item is still failed
    assert "nothing to do" in r.stderr


def test_report_table_and_files(library, tmp_path):
    home, _ = library
    out_csv, out_json, plot = tmp_path / "r.csv", tmp_path / "r.json", tmp_path / "d.png"
    r = vp(home, "report", "--csv", str(out_csv), "--json", str(out_json), "--plot", str(plot))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    order = [next(i for i, ln in enumerate(lines) if name in ln) for name in NAMES]
    assert order == sorted(order)  # input (natural) order
    jfk = next(ln for ln in lines if "1_jfk.flac" in ln)
    assert "done" in jfk and "0:00:11" in jfk and "flac" in jfk and " en " in jfk
    bunny = next(ln for ln in lines if "10_bunny.mp4" in ln)
    assert "0:00:24" in bunny and "x" in bunny and "h264" in bunny
    assert "failed" in next(ln for ln in lines if "3_bad.wav" in ln)
    assert "total: 4 items, 3 done, 1 failed" in r.stdout
    assert "failures by reason" in r.stdout
    assert "probe: not a recognised audio or video file" in r.stdout

    rows = list(csv.DictReader(out_csv.open()))
    assert [row["source"] for row in rows] == [
        "1_jfk.flac",
        "2_lj.wav",
        "3_bad.wav",
        "10_bunny.mp4",
    ]
    assert float(rows[0]["duration"]) == pytest.approx(11.0, abs=0.1)  # seconds
    assert rows[2]["state"] == "failed" and rows[2]["reason"].startswith("probe: ")
    assert int(rows[0]["words"]) > 15

    doc = json.loads(out_json.read_text())
    assert doc["totals"]["done"] == 3 and doc["totals"]["duration"] > 40
    assert doc["failures"][0]["items"] == ["3_bad.wav"]

    head = plot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert (width, height) == (1100, 450)
    assert plot.stat().st_size > 10_000


def test_search_text_and_json(library):
    home, _ = library
    r = vp(home, "search", "fellow Americans")
    assert r.returncode == 0, r.stderr
    assert "1_jfk.flac" in r.stdout and "[fellow] [Americans]" in r.stdout
    assert r.stdout.lstrip().startswith("0:00:0")
    r = vp(home, "search", "fellow Americans", "--json", "--limit", "5")
    hits = json.loads(r.stdout)
    assert hits and hits[0]["path"].endswith("1_jfk.flac") and 0 <= hits[0]["start"] <= 3
    r = vp(home, "search", "xylophone quartet")
    assert r.returncode == 0 and "no matches" in r.stderr


def test_show_and_export(library, tmp_path):
    home, _ = library
    hits = json.loads(vp(home, "search", "fellow", "--json").stdout)
    mid = str(hits[0]["media_id"])
    r = vp(home, "show", mid)
    assert r.returncode == 0, r.stderr
    assert "1_jfk.flac" in r.stdout and "stage transcribe: done" in r.stdout
    assert "[0:00:0" in r.stdout and "fellow Americans" in r.stdout

    out = tmp_path / "out"
    r = vp(home, "export", mid, "-f", "srt,txt,json", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["1_jfk.json", "1_jfk.srt", "1_jfk.txt"]
    assert "fellow Americans" in (out / "1_jfk.txt").read_text()
    assert "00:00:00,000 -->" in (out / "1_jfk.srt").read_text()
    assert json.loads((out / "1_jfk.json").read_text())["segments"][0]["words"]

    every = tmp_path / "all"
    r = vp(home, "export", "--all", "-f", "vtt", "-o", str(every))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in every.iterdir()) == ["10_bunny.vtt", "1_jfk.vtt", "2_lj.vtt"]


def test_errors_and_exit_codes(library, tmp_path):
    home, _ = library
    r = vp(home, "show", "999")
    assert r.returncode == 3 and r.stderr.startswith("error: no item with id 999")
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert vp(home, "export", "-o", str(tmp_path)).returncode == 2
    assert vp(home, "export", "1", "-f", "docx", "-o", str(tmp_path)).returncode == 2
    r = vp(home, "run", "--steps", "ingest,dance")
    assert r.returncode == 2 and "unknown step" in r.stderr
    r = vp(home, "run", "--steps", "summarize", "--backend", "bogus")
    assert r.returncode == 2 and "unknown text backend 'bogus'" in r.stderr
    r = vp(home, "ingest", str(tmp_path / "nope"))
    assert r.returncode == 3 and "no such file or folder" in r.stderr
    r = vp(tmp_path / "h2", "report", "--plot", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "no durations to plot" in r.stderr


def test_link_list_with_a_malformed_line(tmp_path):
    links = tmp_path / "links.txt"
    links.write_text("# two bad lines\nhttp://exa mple..com/path.mp4\n\nnot a url\n")
    r = vp(tmp_path / "home", "ingest", str(links), "-q")
    assert r.returncode == 1
    r = vp(tmp_path / "home", "report")
    assert "links.txt:2" in r.stdout and "links.txt:4" in r.stdout
    assert "invalid host name" in r.stdout  # (a line of glued URLs is split: test_integrity)
