"""Readable subtitle cues: one splitter (``split_cues``) for the SRT/VTT/ASS writers and the
renderer, on real transcripts stored in tests/data/transcripts (the example video's with word
timestamps among them; a live run only in test_cli_transcribe_options, which asserts no times),
checked against the limits and parsed back with pysubs2."""

from __future__ import annotations

import itertools
import json
import re
import unicodedata

import pysubs2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import DATA
from vidpipe.cli import app
from vidpipe.media.fonts import NO_LINE_START
from vidpipe.media.subtitles import CueOptions, cue_word_spans, display_width, split_cues
from vidpipe.types import Segment, Transcript, Word
from vidpipe.writers import AssWriter, SrtWriter, VttWriter, write_transcript

EXAMPLE = DATA.parent.parent / "examples" / "speech_bunny.mp4"
TRANSCRIPTS = DATA / "transcripts"


def load(name: str) -> Transcript:
    return Transcript.model_validate_json((TRANSCRIPTS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bunny() -> Transcript:
    """The example video by tiny.en with word timestamps, stored (a live run's word times
    and commas vary with the machine; test_cli_transcribe_options runs the model): its
    second segment is the issue's 11.6 s one."""
    return load("speech_bunny_tiny.en.json")


def squash(text: str) -> str:
    return "".join(text.split())


def check_cues(seg: Segment, cues: list[Segment], opts: CueOptions) -> None:
    """Every cue within the limits, inside the segment, monotonic; text kept in order."""
    assert cues
    assert squash("".join(c.text for c in cues)) == squash(seg.text)
    if not re.search(r"[\u3000-\u9fff]", seg.text):  # spaced scripts: words kept whole
        assert " ".join(" ".join(c.text.split()) for c in cues) == " ".join(seg.text.split())
    assert cues[0].start == pytest.approx(seg.start) and cues[-1].end == pytest.approx(seg.end)
    for c in cues:
        assert seg.start - 1e-9 <= c.start <= c.end <= seg.end + 1e-9
        lines = c.text.split("\n")
        assert len(lines) <= opts.max_line_count, c.text
        assert all(ln and ln == ln.strip() for ln in lines)
        assert all(display_width(ln) <= opts.max_line_width for ln in lines), c.text
        assert not any(ln[0] in NO_LINE_START for ln in lines[1:])  # no line opens with ，。
        assert c.end - c.start <= opts.max_cue_duration + 1e-6, c
    for a, b in itertools.pairwise(cues):
        assert a.end <= b.start + 1e-9


@pytest.mark.parametrize(
    "name", ["en_dev_tiny.en.json", "zh_base.json", "ru_base.json"], ids=["en", "zh", "ru"]
)
@pytest.mark.parametrize(
    "opts",
    [CueOptions(), CueOptions(24, 2, 3.0), CueOptions(14, 1, 2.0)],
    ids=["default", "24x2-3s", "14x1-2s"],
)
def test_stored_transcripts_without_words_split_within_limits(name, opts):
    tr = load(name)
    for seg in tr.segments:
        cues = split_cues(Transcript(segments=[seg]), opts).segments
        assert all(c.words is None for c in cues)
        check_cues(seg, cues, opts)
    whole = split_cues(tr, opts)
    assert [c.id for c in whole.segments] == list(range(len(whole.segments)))
    assert whole.language == tr.language and whole.duration == tr.duration
    for a, b in itertools.pairwise(whole.segments):
        assert a.start <= b.start and a.end <= b.start + 1e-9


def test_cjk_counted_by_display_width():
    assert display_width("abc") == 3 and display_width("广州市") == 6
    assert display_width("ｆｕｌｌ") == 8  # full-width forms
    assert display_width(unicodedata.normalize("NFD", "é")) == 1  # combining mark: 0
    seg = load("zh_base.json").segments[1]  # 20 Han characters: 40 columns
    assert display_width(seg.text) == 40
    assert split_cues(Transcript(segments=[seg])).segments[0].text == seg.text  # fits in 42
    opts = CueOptions(max_line_width=10, max_line_count=2)  # 5 Han characters per line
    cues = split_cues(Transcript(segments=[seg]), opts).segments
    check_cues(seg, cues, opts)
    assert len(cues) == 2 and all(len(ln) == 5 for c in cues for ln in c.text.split("\n"))
    zh = "我们今天在这里举行会议，讨论如何提高人民的生活水平。"
    seg = Segment(id=0, start=0.0, end=6.0, text=zh)
    cues = split_cues(Transcript(segments=[seg]), CueOptions(max_line_width=24)).segments
    assert cues[0].text.split("\n")[0].endswith("，")  # clause break at the comma
    check_cues(seg, cues, CueOptions(max_line_width=24))


def test_example_video_cues_follow_word_times(bunny):
    long = max(bunny.segments, key=lambda s: s.end - s.start)
    assert long.end - long.start > 10 and len(long.text) > 150  # the 11.6 s cue
    opts = CueOptions()
    cues = split_cues(bunny, opts).segments
    starts = {w.start for w in bunny.words}
    ends = {w.end for w in bunny.words}
    for seg in bunny.segments:
        mine = [c for c in cues if seg.start <= c.start and c.end <= seg.end]
        check_cues(seg, mine, opts)
        for a, b in itertools.pairwise(mine):  # inner cue edges are word edges
            assert a.end in ends and b.start in starts
            assert a.words[-1].end == a.end and b.words[0].start == b.start
        assert [w for c in mine for w in c.words] == seg.words
    assert len(cues) > len(bunny.segments)


def test_cues_break_at_punctuation(bunny):
    """The long sentence with its stored word times (no comma in it): a comma added after
    its 6th, 9th or 12th word moves the cue break there (the base model writes "concerned,"
    after the 12th)."""
    long = max(bunny.segments, key=lambda s: s.end - s.start)
    for k in (6, 9, 12):
        words = [
            w.model_copy(update={"word": w.word.rstrip(",.") + ("," if i == k - 1 else "")})
            for i, w in enumerate(long.words)
        ]
        seg = long.model_copy(update={"words": words, "text": "".join(w.word for w in words)})
        cues = split_cues(Transcript(segments=[seg])).segments
        check_cues(seg, cues, CueOptions())
        assert cues[0].words == words[:k], [c.text for c in cues]


def test_words_that_do_not_spell_the_text_fall_back_to_characters():
    seg = Segment(
        id=0,
        start=0.0,
        end=12.0,
        text="one two three four five six seven eight nine ten eleven twelve thirteen",
        words=[Word(start=0.0, end=12.0, word=" something else")],
    )
    opts = CueOptions(max_line_width=20, max_line_count=1, max_cue_duration=4.0)
    cues = split_cues(Transcript(segments=[seg]), opts).segments
    assert all(c.words is None for c in cues)
    check_cues(seg, cues, opts)


def test_a_cue_that_already_fits_keeps_its_line_breaks():
    seg = Segment(id=0, start=1.0, end=3.0, text="Printing, in the only\nsense with which")
    assert split_cues(Transcript(segments=[seg])).segments[0].text == seg.text
    too_many = Segment(id=0, start=1.0, end=3.0, text="a\nb\nc")
    assert split_cues(Transcript(segments=[too_many])).segments[0].text == "a b c"


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz,.中文字", min_size=1, max_size=14)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(_WORD, st.floats(0.0, 3.0), st.floats(0.0, 2.0)), min_size=1, max_size=40),
    st.integers(8, 50),
    st.integers(1, 3),
    st.floats(1.0, 10.0),
)
def test_split_invariants(words, width, count, duration):
    t, ws = 0.5, []
    for text, dur, gap in words:
        ws.append(Word(start=t, end=t + dur, word=" " + text))
        t += dur + gap
    seg = Segment(id=0, start=0.5, end=ws[-1].end, text="".join(w.word for w in ws), words=ws)
    opts = CueOptions(width, count, duration)
    cues = split_cues(Transcript(segments=[seg]), opts).segments
    assert squash("".join(c.text for c in cues)) == squash(seg.text)
    assert [w for c in cues for w in c.words] == ws  # every word in exactly one cue, in order
    for c in cues:
        lines = c.text.split("\n")
        one_word = len(c.words) == 1  # a word longer than the limits stands alone
        assert one_word or len(lines) <= count
        assert one_word or c.end - c.start <= duration + 1e-6
        assert all(display_width(ln) <= width for ln in lines)  # long words are cut
    for a, b in itertools.pairwise(cues):
        assert a.start <= a.end <= b.start <= b.end


def test_writers_parse_back_and_highlight_words(bunny, tmp_path):
    opts = CueOptions(highlight_words=True)
    paths = write_transcript(bunny, tmp_path, "b", "srt,vtt,ass,json,txt", opts, keep_words=False)
    cues = split_cues(bunny).segments
    expected = [(round(c.start * 1000), round(c.end * 1000)) for c in cues]
    for ext in ("srt", "vtt", "ass"):
        subs = pysubs2.load(str(tmp_path / f"b.{ext}"))
        assert len(subs) == len(cues) > len(bunny.segments)
        tol = 10 if ext == "ass" else 0  # ASS times are centiseconds
        got = [(e.start, e.end) for e in subs]
        assert all(abs(g - x) <= tol for p, q in zip(got, expected, strict=True)
                   for g, x in zip(p, q, strict=True))  # fmt: skip
        plain = [re.sub(r"<[^>]*>", "", e.plaintext) for e in subs]
        assert plain == [c.text for c in cues]
    # JSON keeps whole segments, without the words that only timed the cues
    doc = json.loads(paths[3].read_text(encoding="utf-8"))
    assert [s["text"] for s in doc["segments"]] == [s.text for s in bunny.segments]
    assert all(s["words"] is None for s in doc["segments"])
    assert paths[4].read_text().count("\n") == len(bunny.segments)

    vtt = (tmp_path / "b.vtt").read_text(encoding="utf-8")
    ts = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d{3})")
    for block in filter(str.strip, vtt.split("\n\n")[1:]):
        lines = block.strip().split("\n")
        k = next(i for i, ln in enumerate(lines) if "-->" in ln)
        timing, body = lines[k], lines[k + 1 :]
        a, b = (ts.fullmatch(x.strip()) for x in timing.split("-->"))
        ms = lambda m: ((int(m[1]) * 60 + int(m[2])) * 60 + int(m[3])) * 1000 + int(m[4])  # noqa: E731
        tags = [ms(m) for m in ts.finditer("\n".join(body))]
        assert tags, block
        assert all(ms(a) < t < ms(b) for t in tags) and tags == sorted(set(tags))
        assert re.fullmatch(r"([^<]*(<\d\d:\d\d:\d\d\.\d{3}><c>[^<]+</c>)?)*", "\n".join(body))
    ass = pysubs2.load(str(tmp_path / "b.ass"))
    for ev, cue in zip(ass, cues, strict=True):
        ks = [int(k) for k in re.findall(r"\\k(\d+)", ev.text)]
        assert len(ks) >= len(cue.words) and abs(sum(ks) * 10 - (ev.end - ev.start)) <= 10
    # without highlighting: no tags at all
    plain = VttWriter().render(bunny)
    assert "<c>" not in plain and "<0" not in plain
    assert "\\k" not in AssWriter().render(bunny)


def test_vtt_escapes_markup_characters():
    seg = Segment(id=0, start=0.0, end=2.0, text="a < b & c > d")
    vtt = VttWriter().render(Transcript(segments=[seg]))
    assert "a &lt; b &amp; c &gt; d" in vtt
    assert cue_word_spans(seg) is None


def test_renderer_writes_the_same_cues(bunny, tmp_path):
    from vidpipe.media.render import RenderOptions, render_slideshow

    photos = sorted((DATA / "photos").iterdir())[:1]
    result = render_slideshow(
        photos,
        tmp_path / "v.mp4",
        durations=[24.0],
        subtitles=bunny,
        options=RenderOptions(width=160, height=90, fps=2, preset="ultrafast", subtitles="soft"),
    )
    assert result.srt is not None
    assert result.srt.read_text(encoding="utf-8") == SrtWriter().render(bunny)


def test_cli_transcribe_options(tmp_path):
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "transcribe", str(EXAMPLE), "-m", "tiny.en", "-o", str(tmp_path), "-q",
            "-f", "srt,vtt,json", "--max-line-width", "30", "--max-line-count", "1",
            "--max-cue-duration", "3", "--highlight-words",
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    srt = pysubs2.load(str(tmp_path / "speech_bunny.srt"))
    assert all(e.end - e.start <= 3000 for e in srt)
    assert all("\n" not in e.plaintext and display_width(e.plaintext) <= 30 for e in srt)
    assert "<c>" in (tmp_path / "speech_bunny.vtt").read_text(encoding="utf-8")
    doc = json.loads((tmp_path / "speech_bunny.json").read_text(encoding="utf-8"))
    assert len(doc["segments"]) < len(srt) and all(s["words"] is None for s in doc["segments"])
    for bad in (["--max-line-count", "0"], ["--max-cue-duration", "0"], ["--zh-script", "x"]):
        r = runner.invoke(app, ["transcribe", str(EXAMPLE), "-o", str(tmp_path), *bad])
        assert r.exit_code == 2, (bad, r.output)
        assert "Traceback" not in r.output
