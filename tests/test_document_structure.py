"""Documents read as documents (issue 18): headings, numbered sections and list items of
plain text, Markdown and PDF become paragraphs of their own (a pause, a card's title),
never words run into a sentence; a lone card has no timing footer."""

from __future__ import annotations

import pytest

from test_documents import _pdf
from vidpipe.speech.tts import iter_sentences
from vidpipe.text.chunking import chunk_transcript
from vidpipe.text.documents import looks_like_heading, read_document
from vidpipe.text.sentences import split_sentences
from vidpipe.vision.images import CardGenerator, card_text, render_card

PAGE1 = [
    "Drip irrigation for small farms",
    "Abstract",
    "We compare drip and furrow irrigation on twelve small farms in a dry region.",
    "Drip irrigation used a third less water for the same yield.",
    "1 Introduction",
    "Water is scarce in dry regions. Small farms need cheap ways to save it.",
]
PAGE2 = [
    "2 Method and results",
    "2.1 Method",
    "We measured water use on every farm for two seasons:",
    "- soil moisture every week",
    "- the yield at harvest",
    "2.2 Results",
    "Drip irrigation saved water on eleven of the twelve farms.",
]


EXPECTED = [
    "Drip irrigation for small farms.",
    "Abstract.",
    "We compare drip and furrow irrigation on twelve small farms in a dry region.",
    "Drip irrigation used a third less water for the same yield.",
    "Introduction.",
    "Water is scarce in dry regions.",
    "Small farms need cheap ways to save it.",
    "Method and results.",
    "Method.",
    "We measured water use on every farm for two seasons.",
    "soil moisture every week.",
    "the yield at harvest.",
    "Results.",
    "Drip irrigation saved water on eleven of the twelve farms.",
]


@pytest.fixture(scope="module")
def pdf_doc(tmp_path_factory):
    path = tmp_path_factory.mktemp("doc") / "paper.pdf"
    return read_document(_pdf(path, [], title=None, page_lines=[PAGE1, PAGE2]))


def test_pdf_headings_and_lists_are_sentences_of_their_own(pdf_doc):
    assert pdf_doc.kind == "pdf" and pdf_doc.pages == 2
    assert [s for _, s in iter_sentences(pdf_doc.text)] == EXPECTED
    # every heading and list item is a paragraph of its own: a pause before and after
    paras = pdf_doc.paragraphs
    for heading in ("Abstract.", "Introduction.", "Method and results.", "Method.", "Results."):
        assert heading in paras, (heading, paras)
    assert "farms Abstract" not in pdf_doc.text and "2.1" not in pdf_doc.text
    assert looks_like_heading("Method and results.", "en")
    for sentence in ("It is comparatively modern.", "Thank you.", "Good morning."):
        assert not looks_like_heading(sentence, "en"), sentence


def test_text_and_markdown_headings_the_same_way(tmp_path):
    lines = [*PAGE1, "", *PAGE2]
    txt = tmp_path / "paper.txt"
    txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert [s for _, s in iter_sentences(read_document(txt).text)] == EXPECTED
    md = tmp_path / "paper.md"
    md.write_text(
        "# Drip irrigation for small farms\n\n## Abstract\n\n"
        + "\n".join(PAGE1[2:4])
        + "\n\n## 1 Introduction\n\n"
        + PAGE1[5]
        + "\n\n## 2 Method and results\n\n1. Soil moisture every week\n2. The yield at harvest\n",
        encoding="utf-8",
    )
    sentences = [s for _, s in iter_sentences(read_document(md).text)]
    assert sentences[:2] == ["Drip irrigation for small farms.", "Abstract."]
    assert "Soil moisture every week." in sentences


def test_a_plain_paragraph_is_left_as_it_is(tmp_path):
    txt = tmp_path / "plain.txt"
    body = "The art of printing.\nPrinting differs from most of the arts\nand crafts.\n"
    txt.write_text(body, encoding="utf-8")
    assert read_document(txt).text == body


def test_card_headlines_are_headings_never_glued_to_the_title(pdf_doc, tmp_path):
    """Cards as a narration makes them: sentences timed, chunked, drawn. The first card's
    headline is the title or the heading, never both run together."""
    sentences = [s for _, s in iter_sentences(pdf_doc.text)]
    from vidpipe.types import Segment, Transcript

    segs, t = [], 0.0
    for i, s in enumerate(sentences):
        d = 0.4 * len(s.split()) + 0.3  # ~150 words a minute
        segs.append(Segment(id=i, start=t, end=t + d, text=s))
        t += d + 0.2
    tr = Transcript(segments=segs, duration=t, language="en")
    plain = chunk_transcript(tr, 8.0)
    chunks = chunk_transcript(tr, 8.0, break_before=lambda s: looks_like_heading(s, "en"))
    # without break_before a heading can close a slide ("...same yield. Introduction.")
    assert any(c.text.endswith("Introduction.") for c in plain)
    for c in chunks:  # a heading opens its slide (after other headings only)
        flags = [looks_like_heading(x, "en") for x in split_sentences(c.text, "en")]
        assert flags == sorted(flags, reverse=True), c.text
    assert sum(looks_like_heading(c.text.split(".")[0], "en") for c in chunks) == 4
    heads = [card_text(c.text, "en")[0] for c in chunks]
    assert heads[0] == "Drip irrigation for small farms", heads
    for h in heads:
        assert "Farms Abstract".lower() not in h.lower() and not h.endswith("Abstract"), h
    for c, h in zip(chunks, heads, strict=True):
        if looks_like_heading(c.text.split(".")[0], "en"):
            assert h == c.text.split(".")[0], (h, c.text)  # the heading is the headline
    made = CardGenerator(width=640, height=360).generate(chunks, tmp_path, language="en")
    assert [m.prompt.splitlines()[0] for m in made] == heads


def test_a_lone_untimed_card_has_no_footer():
    """A standalone images job draws one card of a text (a chunk from 0 to 0 s): no
    "0:00–0:00" and no "1 / 1"; a card of a narration keeps both."""
    lone = render_card("Drip irrigation", ["water"], index=0, total=1, start=0.0, end=0.0)
    assert not [b for b in lone.boxes if b.role in ("footer", "rule")]
    timed = render_card("Drip irrigation", ["water"], index=1, total=3, start=5.0, end=12.0)
    footer = [b.text for b in timed.boxes if b.role == "footer"]
    assert footer == ["0:05–0:12", "2 / 3"]


def test_chinese_and_markdown_section_numbers(tmp_path):
    """Chinese numbering ("一、", "第二章") and Markdown heading numbers are structure,
    not words; Chinese headings open a narration slide and head its card."""
    txt = tmp_path / "zh.txt"
    txt.write_text(
        "滴灌技术研究\n摘要\n我们比较了滴灌和沟灌。\n一、研究背景\n水资源短缺。\n"
        "第二章 方法\n我们测量了用水量。\n",
        encoding="utf-8",
    )
    assert read_document(txt).paragraphs == [
        "滴灌技术研究。",
        "摘要。",
        "我们比较了滴灌和沟灌。",
        "研究背景。",
        "水资源短缺。",
        "方法。",
        "我们测量了用水量。",
    ]
    assert looks_like_heading("研究背景。", "zh") and looks_like_heading("摘要。", "zh")
    assert not looks_like_heading("水资源短缺。", "zh")
    assert not looks_like_heading("我们测量了用水量。", "zh")
    assert card_text("研究背景。水资源短缺，农民需要节水的方法。", "zh")[0] == "研究背景"
    md = tmp_path / "notes.md"
    md.write_text("## 1 Introduction\n\nText here.\n\n### 2.1 Method\n\nMore.\n", "utf-8")
    assert read_document(md).paragraphs == ["Introduction.", "Text here.", "Method.", "More."]
