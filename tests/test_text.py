"""Chunking (property tests) and the offline ``extractive`` backend on real transcripts.

The transcripts in ``tests/data/transcripts`` were made by vidpipe from audio shipped
in ``tests/data`` (``make_transcripts.py`` there; see ``tests/data/SOURCES.md``):
English (32 LJ Speech clips, 3.7 min, tiny.en), Chinese and Russian (base).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidpipe.errors import UsageError
from vidpipe.text import chunk_transcript, get_text_backend
from vidpipe.text.extractive import ExtractiveBackend, keywords, textrank
from vidpipe.text.sentences import ends_sentence, join_texts, split_sentences
from vidpipe.types import Segment, Transcript

TRANSCRIPTS = Path(__file__).parent / "data" / "transcripts"


def load(name: str) -> Transcript:
    return Transcript.model_validate_json((TRANSCRIPTS / name).read_text(encoding="utf-8"))


# ---------------------------------------------------------------- chunking

segment_specs = st.lists(
    st.tuples(
        st.floats(0.0, 5.0),  # gap before the segment, seconds
        st.floats(0.01, 40.0),  # segment length, seconds
        st.sampled_from(["word", "word.", "word?", "词。", "слово!", "and", "end…"]),
    ),
    min_size=0,
    max_size=40,
)


def make_transcript(specs) -> Transcript:
    t = 0.0
    segs = []
    for i, (gap, length, text) in enumerate(specs):
        start = t + gap
        segs.append(Segment(id=i, start=start, end=start + length, text=f" {text}"))
        t = start + length
    return Transcript(language="en", duration=t, segments=segs)


@settings(max_examples=300, deadline=None)
@given(segment_specs, st.floats(1.0, 120.0))
def test_chunk_invariants(specs, max_duration: float) -> None:
    tr = make_transcript(specs)
    chunks = chunk_transcript(tr, max_duration)
    segs = tr.segments
    # Cover every segment once, in order, numbered from 0.
    assert [i for c in chunks for i in c.segment_ids] == list(range(len(segs)))
    assert [c.id for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.segment_ids
        assert c.start == segs[c.segment_ids[0]].start
        assert c.end == segs[c.segment_ids[-1]].end
        assert c.text == join_texts([segs[i].text for i in c.segment_ids])
        # At most max_duration, unless one segment alone is longer.
        assert c.end - c.start <= max_duration or len(c.segment_ids) == 1
    for a, b in itertools.pairwise(chunks):
        last = segs[a.segment_ids[-1]]
        if not ends_sentence(last.text):
            # Cut inside a sentence only when that sentence alone is too long:
            # the sentence around the cut spans more than max_duration.
            i = a.segment_ids[-1]
            lo = i
            while lo > 0 and not ends_sentence(segs[lo - 1].text):
                lo -= 1
            hi = b.segment_ids[0]
            while hi < len(segs) - 1 and not ends_sentence(segs[hi].text):
                hi += 1
            assert segs[hi].end - segs[lo].start > max_duration
        else:
            # A closed chunk could not take the next sentence without overflowing.
            j = b.segment_ids[0]
            while j < len(segs) - 1 and not ends_sentence(segs[j].text):
                j += 1
            assert segs[j].end - a.start > max_duration


def test_chunk_examples() -> None:
    tr = make_transcript([(0, 10, "a."), (0, 10, "b"), (0, 10, "c."), (0, 50, "d.")])
    assert [c.segment_ids for c in chunk_transcript(tr, 30)] == [[0, 1, 2], [3]]
    assert [c.segment_ids for c in chunk_transcript(tr, 20)] == [[0], [1, 2], [3]]
    assert [c.segment_ids for c in chunk_transcript(tr, 15)] == [[0], [1], [2], [3]]
    assert chunk_transcript(Transcript(), 60) == []
    with pytest.raises(ValueError):
        chunk_transcript(tr, 0)


def test_chunks_of_real_transcript() -> None:
    tr = load("en_dev_tiny.en.json")
    chunks = chunk_transcript(tr, 60.0)
    assert len(chunks) >= 3
    assert all(c.end - c.start <= 60.0 for c in chunks)
    assert all(ends_sentence(c.text) for c in chunks[:-1])


# ---------------------------------------------------------------- extractive backend


@pytest.mark.parametrize(
    ("name", "language", "chapter_seconds", "min_chapters"),
    [
        ("en_dev_tiny.en.json", "en", 60.0, 3),
        ("zh_base.json", "zh", 240.0, 1),
        ("ru_base.json", "ru", 240.0, 1),
    ],
)
def test_extractive_on_real_transcripts(
    name: str, language: str, chapter_seconds: float, min_chapters: int
) -> None:
    tr = load(name)
    assert tr.language == language and tr.segments
    chunks = chunk_transcript(tr, 60.0)
    source = join_texts([c.text for c in chunks])
    backend = get_text_backend("extractive", chapter_seconds=chapter_seconds)
    summary = backend.summarize(chunks, tr.language)

    assert summary.backend == "extractive" and summary.language == language
    assert summary.overall
    # the overall summary is whole sentences of the chunks, in their order
    units = [s for c in chunks for s in split_sentences(c.text, language, cased=False)]
    rest = summary.overall
    for unit in units:
        if rest.startswith(unit):
            rest = rest[len(unit) :].lstrip()
    assert rest == "", rest
    assert [c.chunk_id for c in summary.chunks] == [c.id for c in chunks]
    for cs, chunk in zip(summary.chunks, chunks, strict=True):
        assert cs.summary and cs.summary in chunk.text
        assert (cs.start, cs.end) == (chunk.start, chunk.end)

    assert summary.keywords
    for k in summary.keywords:
        assert k.lower() in source.lower(), k

    chapters = backend.chapters(chunks, tr.duration, tr.language)
    assert len(chapters) >= min_chapters
    assert chapters[0].start == 0.0
    assert chapters[-1].end == pytest.approx(max(tr.duration, chunks[-1].end))
    for a, b in itertools.pairwise(chapters):
        assert a.end == b.start and a.start < a.end
        assert b.start in {c.start for c in chunks}  # boundaries at chunk starts
    assert all(c.title.strip() for c in chapters)


def test_english_summary_content() -> None:
    """The LJ Speech text is about the history of printing: so must the output be."""
    tr = load("en_dev_tiny.en.json")
    chunks = chunk_transcript(tr, 60.0)
    summary = ExtractiveBackend().summarize(chunks, "en")
    assert any("print" in k.lower() for k in summary.keywords)
    assert "print" in summary.overall.lower()
    # 3.7 min: sqrt(221.7 / 12) -> 4 chapters (one per ~55 s), at most one per chunk
    assert len(ExtractiveBackend().chapters(chunks, tr.duration, "en")) == 4


def test_chinese_keywords_are_words() -> None:
    text = "我认为跑步最重要的就是给我带来了身体健康。跑步让我每天都很快乐。"
    keys = keywords(text, "zh", top=5)
    assert "跑步" in keys
    assert all(k in text for k in keys)


def test_sentence_split_and_rank() -> None:
    assert split_sentences("One. Two? Three!  Four") == ["One.", "Two?", "Three!", "Four"]
    assert split_sentences("第一句。第二句！第三句") == ["第一句。", "第二句！", "第三句"]
    scores = textrank(["cats like fish.", "cats like milk.", "stocks fell today."], "en")
    assert scores[2] < scores[0] and abs(sum(scores) - 1.0) < 1e-6


def test_empty_and_unknown() -> None:
    b = ExtractiveBackend()
    assert b.chapters([], 12.0, "en")[0].end == 12.0
    s = b.summarize([], "en")
    assert s.overall == "" and s.chunks == []
    with pytest.raises(UsageError):
        get_text_backend("nope")


# ---------------------------------------------------------------- chapters and titles

# The official text's paragraphs of the radio address (tests/data/en_long/gb0_reference.txt)
# open with these words: the topic shifts a reader sees.
GB0_PARAGRAPHS = (
    "good morning",
    "election season",
    "the united states was founded",
    "voting is one",
    "americans should also remember",
    "for more than two centuries",
)


def test_chapter_count_grows_with_duration_but_slower() -> None:
    from vidpipe.text.extractive import MAX_CHAPTERS, chapter_count

    counts = {m: chapter_count(m * 60.0, 10_000) for m in (0.5, 2, 10, 30, 60, 600)}
    assert counts[0.5] == 1
    assert 2 <= counts[2] <= 4
    assert counts[2] < counts[10] < counts[30] < counts[60] <= MAX_CHAPTERS
    assert 60 / counts[60] <= 4  # an hour: a chapter every 3-4 minutes
    assert counts[600] == MAX_CHAPTERS
    assert chapter_count(127.0, 2) == 2  # never more chapters than chunks
    assert chapter_count(600.0, 100, chapter_seconds=60.0) == 10  # a fixed length


def _gb0_chapters():
    from vidpipe.text.extractive import chapter_chunk_seconds

    tr = load("gb0_tiny.en.json")
    chunks = chunk_transcript(tr, chapter_chunk_seconds(tr.duration))
    return tr, chunks, ExtractiveBackend().chapters(chunks, tr.duration, "en")


def test_radio_address_gets_chapters_at_its_paragraph_starts() -> None:
    """The 2:07 address: 2-4 chapters (one before the fix), each after the first
    starting at a sentence that opens one of the official text's paragraphs."""
    tr, chunks, chapters = _gb0_chapters()
    assert 2 <= len(chapters) <= 4, chapters
    assert chapters[0].start == 0.0 and chapters[-1].end == pytest.approx(tr.duration)
    for ch in chapters[1:]:
        (opening,) = [c.text for c in chunks if c.start == ch.start]
        assert opening.lower().startswith(GB0_PARAGRAPHS), (ch, opening)


def test_chapter_titles_are_phrases_of_their_text() -> None:
    """Titles are a run of words of their chapter (the topic sentence's head), not a
    list of keywords: verbatim, 3-8 words, no list separators, not ending on "of"."""
    _tr, chunks, chapters = _gb0_chapters()
    for ch in chapters:
        text = " ".join(c.text for c in chunks if ch.start <= c.start < ch.end).lower()
        title = ch.title
        assert title.lower() in text, (title, text)
        assert 3 <= len(title.split()) <= 8, title
        assert "," not in title and "、" not in title, title
        assert title.split()[-1].lower() not in {"of", "the", "and", "to", "a"}, title
        assert title[0].isupper()


def test_titles_in_chinese_and_russian_are_phrases() -> None:
    from vidpipe.text.extractive import make_title

    zh = "人工智能正在改变我们的生活，也改变了工作方式。它在医疗、教育和交通领域都有广泛应用。"
    title = make_title(zh, "zh")
    assert title in zh and 4 <= len(title) <= 16 and "、" not in title, title
    assert title.startswith("人工智能"), title
    ru = load("ru_base.json")
    text = join_texts([s.text for s in ru.segments])
    title = make_title(text, "ru")
    assert title.lower() in text.lower() and "," not in title, title
