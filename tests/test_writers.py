"""Writers: SRT/VTT times exact to the millisecond, monotonic, and parse back with pysubs2
(cue splitting and word highlighting are tested in test_subtitles.py)."""

from __future__ import annotations

import itertools
import json

import pysubs2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidpipe.errors import UsageError
from vidpipe.types import Segment, Transcript, Word
from vidpipe.writers import FORMATS, cue_times_ms, parse_formats, write_transcript


def _transcript(times: list[tuple[float, float]]) -> Transcript:
    segs = [
        Segment(
            id=i,
            start=a,
            end=b,
            text=f"segment number {i} with ünïcode 中文",
            words=[Word(start=a, end=b, word=f" w{i}", probability=0.5)],
        )
        for i, (a, b) in enumerate(times)
    ]
    return Transcript(language="en", language_probability=0.9, duration=100.0, segments=segs)


def test_all_formats_written_and_srt_vtt_parse_back(tmp_path):
    tr = _transcript([(0.0, 1.2345), (1.2345, 3.9996), (3661.001, 3662.5)])
    paths = write_transcript(tr, tmp_path, "x", "all")
    assert [p.suffix for p in paths] == [".txt", ".srt", ".vtt", ".json", ".tsv", ".ass"]
    expected = cue_times_ms(tr)
    assert expected == [(0, 1234), (1234, 4000), (3661001, 3662500)]
    for ext in ("srt", "vtt", "ass"):
        subs = pysubs2.load(str(tmp_path / f"x.{ext}"))
        if ext == "ass":  # ASS times are centiseconds
            assert [(e.start, e.end) for e in subs] == [(0, 1230), (1230, 4000), (3661000, 3662500)]
        else:
            assert [(e.start, e.end) for e in subs] == expected
        assert [e.plaintext for e in subs] == [s.text for s in tr.segments]
    srt = (tmp_path / "x.srt").read_text()
    assert "01:01:01,001 --> 01:01:02,500" in srt
    vtt = (tmp_path / "x.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "01:01:01.001 --> 01:01:02.500" in vtt
    doc = json.loads((tmp_path / "x.json").read_text())
    assert Transcript.model_validate(doc) == tr
    assert set(doc["segments"][0]) >= {
        "id",
        "start",
        "end",
        "text",
        "avg_logprob",
        "no_speech_prob",
        "words",
    }
    tsv = (tmp_path / "x.tsv").read_text().splitlines()
    assert tsv[0] == "start\tend\ttext" and tsv[3].startswith("3661001\t3662500\t")
    assert (tmp_path / "x.txt").read_text().count("\n") == 3
    assert not list(tmp_path.glob("*.part"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e5, allow_nan=False), st.floats(0, 30)), max_size=30))
def test_cue_times_monotonic(pairs):
    tr = _transcript([(a, a + d) for a, d in pairs])
    cues = cue_times_ms(tr)
    for (s0, _), (s1, _) in itertools.pairwise(cues):
        assert s1 >= s0
    for s, e in cues:
        assert 0 <= s <= e


def test_parse_formats():
    assert parse_formats("srt, VTT,.json") == ["srt", "vtt", "json"]
    assert parse_formats("all") == list(FORMATS)
    with pytest.raises(UsageError, match="unknown output format 'docx'"):
        parse_formats("txt,docx")
