"""Speaker turns without the models: RTTM and JSON, DER (against pyannote.metrics),
assign_speakers, the optional speaker fields, and the missing-extra error."""

from __future__ import annotations

import json

import pytest

from conftest import DATA
from vidpipe.errors import InputError, ModelError
from vidpipe.speakers import (
    SpeakerTurn,
    assign_speakers,
    der_components,
    diarization_error_rate,
    format_rttm,
    parse_rttm,
    read_rttm,
    turns_from_json,
    turns_to_json,
)
from vidpipe.speakers.models import PackagedModel, model_path
from vidpipe.types import Segment, Transcript, Word

DEV = DATA / "diarization"


def T(start: float, end: float, speaker: str) -> SpeakerTurn:
    return SpeakerTurn(start=start, end=end, speaker=speaker)


def test_rttm_round_trip_and_reference_files():
    turns = [T(4.5, 6.25, "SPEAKER_01"), T(0.0, 5.0, "SPEAKER_00")]
    text = format_rttm(turns, "meeting")
    assert text.splitlines()[0] == ("SPEAKER meeting 1 0.000 5.000 <NA> <NA> SPEAKER_00 <NA> <NA>")
    assert parse_rttm(text) == {"meeting": sorted(turns, key=lambda t: t.start)}
    # every dev reference parses, with the speaker counts its manifest states
    counts = {}
    for path in sorted(DEV.glob("*.rttm")):
        (file_id, ref), *rest = read_rttm(path).items()
        assert not rest and file_id == path.stem
        counts[path.stem] = len({t.speaker for t in ref})
    assert counts == {
        "ami_EN2003a_0-30s": 3,
        "ami_EN2006a_0-30s": 4,
        "ami_EN2006b_0-30s": 4,
        "ami_ES2003a_0-30s": 2,
        "ami_ES2003b_0-30s": 2,
        "falcon_test": 3,
    }
    with pytest.raises(InputError, match="line 2"):
        parse_rttm("# comment\nSPEAKER f 1 abc 1.0 <NA> <NA> A <NA> <NA>\n")
    with pytest.raises(InputError, match="whitespace"):
        format_rttm([T(0, 1, "two words")], "f")


def test_json_round_trip():
    turns = [T(1.0, 2.5, "B"), T(0.5, 3.0, "A")]
    text = turns_to_json(turns, "clip", 4.0)
    doc = json.loads(text)
    assert doc["speakers"] == ["A", "B"] and doc["duration"] == 4.0
    assert turns_from_json(text) == sorted(turns, key=lambda t: t.start)
    with pytest.raises(InputError, match="speaker-turn JSON"):
        turns_from_json('{"turns": [{"start": 0}]}')


def test_der_hand_computed():
    ref = [T(0, 10, "a"), T(10, 20, "b")]
    # perfect up to the labels
    assert diarization_error_rate(ref, [T(0, 10, "x"), T(10, 20, "y")], collar=0) == 0
    # one speaker for everything: half the speech confused
    assert diarization_error_rate(ref, [T(0, 20, "x")], collar=0) == pytest.approx(0.5)
    # a missed second and a false alarm second; the collar (0.5 s in total) removes
    # 0.25 s each side of the reference boundaries at 0, 10 and 20: 20 - 1 s of speech
    c = der_components(ref, [T(0, 9, "x"), T(10, 21, "y")], collar=0.5, uem=(0, 22))
    assert c.total == pytest.approx(19.0)
    assert c.missed == pytest.approx(0.75)
    assert c.false_alarm == pytest.approx(0.75)
    assert c.confusion == 0
    assert der_components([], []).der == 0


def test_der_matches_pyannote_metrics():
    metrics = pytest.importorskip("pyannote.metrics.diarization", reason="pyannote.metrics")
    from pyannote.core import Annotation, Segment, Timeline

    def annotation(turns):
        a = Annotation()
        for i, t in enumerate(turns):
            a[Segment(t.start, t.end), i] = t.speaker
        return a

    # references against each other and against shifted/relabelled versions of
    # themselves: overlap, collars and uneven mappings all take part
    refs = {p.stem: read_rttm(p)[p.stem] for p in sorted(DEV.glob("*.rttm"))}
    names = sorted(refs)
    for i, name in enumerate(names):
        ref = refs[name]
        other = refs[names[(i + 1) % len(names)]]
        shifted = [T(t.start + 0.4, t.end + 0.1, t.speaker + "x") for t in ref[::2]]
        for hyp in (other, shifted, [T(0, 30, "one")]):
            for collar in (0.0, 0.5):
                theirs = metrics.DiarizationErrorRate(collar=collar, skip_overlap=False)(
                    annotation(ref), annotation(hyp), uem=Timeline([Segment(0, 30)])
                )
                mine = diarization_error_rate(ref, hyp, collar=collar, uem=(0, 30))
                assert mine == pytest.approx(theirs, abs=1e-6), (name, collar)


def _word(start, end, text):
    return Word(start=start, end=end, word=text)


def test_assign_speakers_splits_segments_where_the_speaker_changes():
    transcript = Transcript(
        duration=10,
        segments=[
            Segment(
                id=0,
                start=0.0,
                end=4.0,
                text=" Hello there. Hi!",
                words=[
                    _word(0.0, 0.5, " Hello"),
                    _word(0.6, 1.2, " there."),
                    _word(2.0, 2.6, " Hi!"),
                ],
            ),
            Segment(id=1, start=5.0, end=6.0, text=" No words here."),
            Segment(id=2, start=8.0, end=9.0, text=" Far.", words=[_word(8.0, 9.0, " Far.")]),
        ],
    )
    turns = [T(0.0, 1.0, "A"), T(0.7, 3.0, "B"), T(4.8, 6.2, "A")]
    out = assign_speakers(transcript, turns)
    assert [w.speaker for w in out.words] == ["A", "B", "B", None]
    # " there." (0.6-1.2) overlaps A for 0.4 s and B for 0.5 s: B's
    assert [(s.id, s.start, s.end, s.text, s.speaker) for s in out.segments] == [
        (0, 0.0, 0.5, " Hello", "A"),
        (1, 0.6, 4.0, " there. Hi!", "B"),
        (2, 5.0, 6.0, " No words here.", "A"),
        (3, 8.0, 9.0, " Far.", None),  # 5 s from the nearest turn
    ]
    assert out.speakers == ["A", "B"]
    assert transcript.segments[0].speaker is None  # the input is not changed


def test_speaker_fields_are_left_out_until_set():
    seg = Segment(id=0, start=0, end=1, text=" a", words=[_word(0, 1, " a")])
    plain = Transcript(segments=[seg]).model_dump(mode="json")
    assert "speakers" not in plain and "speaker" not in plain["segments"][0]
    assert "speaker" not in plain["segments"][0]["words"][0]
    # ... and round-trip when set
    named = assign_speakers(Transcript(segments=[seg]), [T(0, 1, "SPEAKER_00")])
    again = Transcript.model_validate_json(named.model_dump_json())
    assert again.segments[0].speaker == again.words[0].speaker == "SPEAKER_00"
    assert again.speakers == ["SPEAKER_00"]


def test_missing_or_corrupt_model_is_one_line_with_the_fix():
    missing = PackagedModel("m", "nothing==1.0", "vidpipe_no_such_package", "x.onnx", "0" * 64)
    with pytest.raises(ModelError) as info:
        model_path(missing)
    assert "diarize" in info.value.one_line()
    assert 'pip install "vidpipe[diarize]"' in info.value.one_line()
    corrupt = PackagedModel("m", "vidpipe", "vidpipe", "py.typed", "0" * 64)
    with pytest.raises(ModelError, match="checksum"):
        model_path(corrupt)
