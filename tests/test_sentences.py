"""vidpipe.text.sentences: the one sentence splitter and sentence-mark list, and the
places that used to carry their own (extractive summaries, chunking, ASR segments,
subtitle cue breaks, document paragraphs)."""

from __future__ import annotations

from vidpipe.media.subtitles import CueOptions, split_cues
from vidpipe.speech.engine import split_sentences as split_segment
from vidpipe.text.chunking import chunk_transcript
from vidpipe.text.documents import parse_document
from vidpipe.text.extractive import make_title
from vidpipe.text.sentences import (
    SENTENCE_MARKS,
    ends_sentence,
    join_texts,
    primary_language,
    split_paragraphs,
    split_sentences,
)
from vidpipe.types import Segment, Transcript, Word


def test_ends_sentence_marks_and_closers():
    for text in ("Done.", "Really?!", "He left.”", "(see above.)  ", "好的。", "对吗？」", "क्या।"):
        assert ends_sentence(text), text
    for text in ("so,", "", "   ", "e.g", "”", "3"):
        assert not ends_sentence(text), text
    assert all(ends_sentence(f"x{m}") for m in SENTENCE_MARKS)


def test_split_sentences_abbreviations_initials_ordinals_and_cjk():
    assert split_sentences("Mr. Smith paid $3.50 for it, e.g. a bargain! Is it? Yes.") == [
        "Mr. Smith paid $3.50 for it, e.g. a bargain!",
        "Is it?",
        "Yes.",
    ]
    assert split_sentences("J. R. R. Tolkien wrote it. See fig. 3 and No. 5 now.") == [
        "J. R. R. Tolkien wrote it.",
        "See fig. 3 and No. 5 now.",
    ]
    assert split_sentences('"Stop!" she cried. He waited... then left.') == [
        '"Stop!" she cried.',
        "He waited... then left.",
    ]
    assert split_sentences("今天天气很好。我们去公园吧！你去吗？好的") == [
        "今天天气很好。",
        "我们去公园吧！",
        "你去吗？",
        "好的",
    ]
    assert split_sentences("Am 3. Oktober ist Feiertag. Das ist z.B. gut.", "de") == [
        "Am 3. Oktober ist Feiertag.",
        "Das ist z.B. gut.",
    ]
    assert split_sentences("  ") == [] and split_sentences("...") == []
    assert split_sentences("Dr. Who met Mr. Smith. They talked.") == [
        "Dr. Who met Mr. Smith.",
        "They talked.",
    ]
    assert split_sentences("“Go!” she said. Then: silence… Done") == [
        "“Go!” she said.",
        "Then: silence…",
        "Done",
    ]
    assert split_sentences("第一句。第二句！第三句") == ["第一句。", "第二句！", "第三句"]
    assert split_sentences("Am 3. Oktober.", "de-AT") == ["Am 3. Oktober."]


def test_uncased_text_splits_before_lower_case_but_keeps_abbreviations():
    asr = "It should be well formed. especially as Mr. Smith said. then we left."
    assert split_sentences(asr) == [asr]  # written text: a lower-case word continues
    assert split_sentences(asr, cased=False) == [
        "It should be well formed.",
        "especially as Mr. Smith said.",
        "then we left.",
    ]


def test_join_texts_and_paragraphs():
    assert join_texts([" Hello", "world. ", "", "你好", "世界"]) == "Hello world. 你好世界"
    assert split_paragraphs("One\nline.\n\n  \n二\n行") == ["One line.", "二行"]


def test_primary_language():
    assert [primary_language(c) for c in ("en_US", "pt-br", "ZH-cn", "de")] == [
        "en",
        "pt",
        "zh",
        "de",
    ]
    assert primary_language(None) == primary_language("") == "en"
    assert primary_language(None, "und") == "und"


def test_extractive_titles_use_the_abbreviation_aware_splitter():
    # the old regex splitter cut after "Dr." and titled this "Dr."
    assert make_title("Dr. Smith met the board. It went well.", "en") == "Dr. Smith met the board"


def _seg(i: int, start: float, text: str) -> Segment:
    return Segment(id=i, start=start, end=start + 1.0, text=text)


def test_chunks_close_after_a_quoted_sentence_end():
    segs = [_seg(0, 0, "He said “stop.”"), _seg(1, 1, "and then"), _seg(2, 2, "nothing.")]
    chunks = chunk_transcript(Transcript(segments=segs, duration=3.0), max_duration=2.5)
    assert [c.text for c in chunks] == ["He said “stop.”", "and then nothing."]


def test_asr_segments_split_after_a_closing_quote():
    words = [
        Word(start=0.0, end=0.4, word=" He"),
        Word(start=0.4, end=0.8, word=' said "stop."'),
        Word(start=0.8, end=1.2, word=" Then"),
        Word(start=1.2, end=1.6, word=" left."),
    ]
    seg = Segment(id=0, start=0.0, end=1.6, text="", words=words)
    parts = split_segment(seg, keep_words=False)
    assert [p.text for p in parts] == ['He said "stop."', "Then left."]


def test_subtitle_cues_prefer_a_sentence_end_behind_a_quote():
    text = 'He told us "wait here." We waited for a very long time in the rain'
    seg = Segment(id=0, start=0.0, end=6.0, text=text)
    tr = Transcript(segments=[seg], duration=6.0)
    cues = split_cues(tr, CueOptions(max_line_width=30, max_line_count=1)).segments
    assert cues[0].text == 'He told us "wait here."'


def test_document_paragraphs_end_as_sentences():
    """Headings and list items get a period unless they end a sentence already."""
    md = "# Title\n\n- first item\n- He said “go!”\n- 好的\n".encode()
    doc = parse_document(md, "t.md", "markdown")
    assert doc.paragraphs == ["Title.", "first item.", "He said “go!”", "好的。"]
