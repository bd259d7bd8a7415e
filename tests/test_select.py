"""Item selection (``vidpipe.library.select``): ``--shortest/--longest N``,
``--min/--max-duration S``, ``--language L``, ``--ids 1,5-9`` over a real catalog.

The catalog is filled by the real runner (ingest and probe) from real media in
``tests/data``; expected durations are read independently with the standard
library's ``wave`` module. SQLite and the PostgreSQL at 127.0.0.1:5432 both run
the library tests; the command-line tests use SQLite in a temporary home.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import DATA
from vidpipe.errors import InputError, UsageError
from vidpipe.library.catalog import Catalog
from vidpipe.library.models import JobRow
from vidpipe.library.select import Selection, catalog_order, parse_ids, select_items
from vidpipe.pipeline.runner import RunOptions, run

# Input order is deliberately not sorted by duration.
CLIPS = [DATA / "en_dev" / f"LJ001-00{n:02d}.wav" for n in (5, 1, 3, 2, 6, 4)]
SILENT = DATA / "video" / "moviepy_example.mp4"  # 16.0 s, no audio track


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


DURATIONS = {p.name: wav_seconds(p) for p in CLIPS}


def vp(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="", COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


# ---------------------------------------------------------------------- parse_ids, Selection


def test_parse_ids() -> None:
    assert parse_ids("1,5-9") == (1, 5, 6, 7, 8, 9)
    assert parse_ids(" 3 , 1-3,, 2 ") == (1, 2, 3)
    assert parse_ids("4-4") == (4,)


@pytest.mark.parametrize("spec", ["", " , ", "a", "1-", "-3", "9-5", "0", "1,x-2", "1.5"])
def test_bad_ids_are_usage_errors(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_ids(spec)
    assert "\n" not in info.value.one_line()


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"shortest": 2, "longest": 2}, "cannot be combined"),
        ({"shortest": 0}, "at least 1"),
        ({"longest": -1}, "at least 1"),
        ({"min_duration": -1.0}, "0 or more"),
        ({"min_duration": 5.0, "max_duration": 2.0}, "above --max-duration"),
        ({"language": " "}, "empty"),
    ],
)
def test_bad_selections(kw: dict, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        Selection(**kw)


def test_selection_active_and_text() -> None:
    assert not Selection().active
    sel = Selection(shortest=3, language="en", ids=(1, 2))
    assert sel.active and sel.uses_duration
    assert sel.describe() == "--shortest 3 --language en --ids 1,2"
    assert not Selection(ids=(1,)).uses_duration


# ---------------------------------------------------------------------- over a catalog


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def probed(request, tmp_path_factory):
    """A catalog with the six clips and the silent video, ingested and probed, plus one
    file only ingested (no duration)."""
    tmp = tmp_path_factory.mktemp("sel")
    url = (
        f"sqlite:///{tmp / 'c.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("module_pg_url")
    )
    cat = Catalog(url)
    summary = run([*map(str, CLIPS), str(SILENT)], cat, RunOptions(steps=("ingest", "probe")))
    assert summary.done == 7, summary
    run([str(DATA / "jfk.flac")], cat, RunOptions(steps=("ingest",)))
    yield cat
    cat.close()


def names(items) -> list[str]:
    return [Path(m.path).name for m in items]


def test_catalog_order_is_input_order(probed: Catalog) -> None:
    assert names(catalog_order(probed)) == [p.name for p in CLIPS] + [SILENT.name, "jfk.flac"]


def test_shortest_and_longest_keep_input_order(probed: Catalog) -> None:
    by_len = sorted(DURATIONS, key=DURATIONS.get)
    chosen = select_items(probed, Selection(shortest=3))
    assert set(names(chosen.items)) == set(by_len[:3])
    order = [p.name for p in CLIPS]
    assert names(chosen.items) == sorted(names(chosen.items), key=order.index)  # input order
    assert [m.duration for m in chosen.items] == pytest.approx(
        [DURATIONS[n] for n in names(chosen.items)], abs=0.01
    )
    # jfk.flac was only ingested: no duration, left out and reported.
    jfk_id = next(m.id for m in catalog_order(probed) if m.path.endswith("jfk.flac"))
    assert chosen.no_duration == [jfk_id]
    longest = select_items(probed, Selection(longest=2))
    assert names(longest.items) == [by_len[-1], SILENT.name]  # the silent video is 16 s
    assert len(select_items(probed, Selection(shortest=100)).items) == 7


def test_duration_bounds_ids_and_combinations(probed: Catalog) -> None:
    lo, hi = 5.0, 9.0
    chosen = select_items(probed, Selection(min_duration=lo, max_duration=hi))
    assert names(chosen.items) == [p.name for p in CLIPS if lo <= DURATIONS[p.name] <= hi]
    assert chosen.items, "bounds chosen so that some clips fall inside"
    order = catalog_order(probed)
    ids = (order[4].id, order[0].id, order[6].id)
    got = select_items(probed, Selection(ids=ids))
    assert got.ids == [order[0].id, order[4].id, order[6].id]  # input order, not --ids order
    assert got.no_duration == []  # no duration filter: nothing to report
    # filters first, then the N shortest of what is left
    first_two = select_items(probed, Selection(ids=(order[0].id, order[1].id), shortest=1))
    a, b = order[0], order[1]
    assert first_two.ids == [a.id if a.duration <= b.duration else b.id]
    with pytest.raises(InputError, match="no item with id 999"):
        select_items(probed, Selection(ids=(1, 999)))


def test_language_needs_a_transcript(probed: Catalog) -> None:
    assert select_items(probed, Selection(language="en")).items == []


# ---------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A home whose catalog has three clips and the silent video, ingested and probed."""
    h = tmp_path_factory.mktemp("selhome")
    r = vp(h, "run", *map(str, CLIPS[:3]), str(SILENT), "--steps", "ingest,probe", "-q")
    assert r.returncode == 0, r.stderr
    return h


def stage_done(home: Path, step: str) -> list[str]:
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        return [
            Path(m.path).name
            for m in catalog_order(cat)
            if (st := cat.stage(m.id, step)) is not None and st.status == "done"
        ]


def test_run_applies_the_selection(home: Path) -> None:
    r = vp(home, "run", "--steps", "audio", "--shortest", "2", "-q")
    assert r.returncode == 0, r.stderr
    two = sorted((p.name for p in CLIPS[:3]), key=DURATIONS.get)[:2]
    assert set(stage_done(home, "audio")) == set(two)
    # the silent video (16 s) is over --max-duration: the longest clip is transcribed
    r = vp(
        home,
        "run",
        "--steps",
        "transcribe",
        "-m",
        "tiny.en",
        "--longest",
        "1",
        "--max-duration",
        "12",
        "-q",
    )
    assert r.returncode == 0, r.stderr
    longest_clip = max((p.name for p in CLIPS[:3]), key=DURATIONS.get)
    assert stage_done(home, "transcribe") == [longest_clip]


def test_export_and_language_selection(home: Path, tmp_path: Path) -> None:
    if not stage_done(home, "transcribe"):
        r = vp(home, "run", "--steps", "transcribe", "-m", "tiny.en", "--ids", "1", "-q")
        assert r.returncode == 0, r.stderr
    (clip,) = stage_done(home, "transcribe")
    r = vp(home, "export", "--language", "en", "-f", "txt", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert [p.name for p in tmp_path.iterdir()] == [Path(clip).stem + ".txt"]
    r = vp(home, "export", "--shortest", "10", "-f", "json", "-o", str(tmp_path / "j"))
    assert r.returncode == 0, r.stderr
    assert "skipped #" in r.stderr and "no transcript" in r.stderr
    assert [p.name for p in (tmp_path / "j").iterdir()] == [Path(clip).stem + ".json"]
    r = vp(home, "export", "--language", "zh")
    assert r.returncode == 3 and r.stderr.count("\n") == 1, r.stderr
    assert "no selected item has a transcript" in r.stderr


def test_summarize_over_a_selection(home: Path, tmp_path: Path) -> None:
    if not stage_done(home, "transcribe"):
        test_run_applies_the_selection(home)
    r = vp(home, "summarize", "--ids", "1-4", "-o", str(tmp_path), "--json")
    # one transcribed clip summarized, the silent video skipped, two clips without a
    # transcript failed (each on its own line): exit 1
    assert r.returncode == 1, r.stderr
    docs = json.loads(r.stdout)
    assert [d["name"] for d in docs] == stage_done(home, "transcribe")
    assert docs[0]["summarize"]["overall"].strip()
    assert f"skipped #4 {SILENT.name}: no audio track" in r.stderr
    assert r.stderr.count("has no transcript yet") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        Path(docs[0]["name"]).stem + ext for ext in (".summary.md", ".summary.json")
    )
    # the transcribed clip's summary is a summarize job; the others got none
    jobs = summarize_jobs(home)
    assert [j.status for j in jobs] == ["succeeded"]
    (mid,) = {j.input["media_id"] for j in jobs}
    assert item_names(home)[mid] == docs[0]["name"]
    # a rerun with the same options reuses it (stored, no new job)
    r = vp(home, "summarize", "--ids", "1-4", "-o", str(tmp_path / "again"))
    assert r.returncode == 1 and f"#{mid}: " in r.stderr and "(stored)" in r.stderr, r.stderr
    assert [j.id for j in summarize_jobs(home)] == [j.id for j in jobs]


def summarize_jobs(home: Path) -> list[JobRow]:
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat, cat.session() as s:
        return list(s.scalars(select(JobRow).where(JobRow.kind == "summarize")))


def item_names(home: Path) -> dict[int, str]:
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        return {m.id: Path(m.path).name for m in cat.all_media()}


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", "--shortest", "2", "--longest", "2"], "cannot be combined"),
        (["topics", "--ids", "5-1"], "runs backwards"),
        (["describe", "--ids", "x"], "not an item id"),
        (["summarize"], "give an ITEM or FILE, or selection options"),
        (["chapters", "1", "--shortest", "1"], "without an ITEM or FILE"),
        (["export", "1", "--ids", "1"], "without an item id"),
        (["run", str(SILENT), "--longest", "1"], "without SOURCES"),
        (["describe", "--min-duration", "9", "--max-duration", "1"], "above --max-duration"),
    ],
)
def test_bad_selection_options_are_one_usage_line(tmp_path: Path, args, words: str) -> None:
    r = vp(tmp_path, *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert words in r.stderr and "Traceback" not in r.stderr


def test_unprobed_items_are_reported(tmp_path: Path) -> None:
    r = vp(tmp_path, "ingest", str(CLIPS[0]), "-q")
    assert r.returncode == 0, r.stderr
    r = vp(tmp_path, "describe", "--shortest", "1")
    assert r.returncode == 3, r.stderr
    assert "1 item without a probed duration left out (1; run: vidpipe run --steps probe)" in (
        r.stderr
    )
    assert "no catalog items match the selection" in r.stderr
