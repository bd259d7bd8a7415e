"""Sentences and paragraphs: the one sentence splitter and the one list of sentence marks.

Everything in vidpipe that asks "where does a sentence end?" asks here: speech
synthesis (:mod:`vidpipe.speech.tts` speaks one sentence at a time), the extractive
summaries and titles (:mod:`vidpipe.text.extractive`, :mod:`vidpipe.vision.images.cards`),
transcript chunking (:func:`vidpipe.text.chunking.chunk_transcript` cuts only after a
segment that :func:`ends_sentence`), the ASR engines' sentence-sized segments
(:func:`vidpipe.speech.engine.split_sentences`) and subtitle cue breaks
(:mod:`vidpipe.media.subtitles`).

Rule based and multilingual (no model, no download): see :func:`split_sentences`.
"""

from __future__ import annotations

import re

__all__ = [
    "CLOSING_MARKS",
    "FULLWIDTH_SENTENCE_MARKS",
    "NO_SPLIT_ABBREVIATIONS",
    "NUMBER_ABBREVIATIONS",
    "OPENING_MARKS",
    "ORDINAL_DOT_LANGUAGES",
    "SENTENCE_MARKS",
    "ends_sentence",
    "join_texts",
    "primary_language",
    "split_paragraphs",
    "split_sentences",
    "word_ends",
]

LATIN_SENTENCE_MARKS = ".!?…‽‼⁇"
"""Marks that end a sentence when white space (or the end of the text) follows them."""

FULLWIDTH_SENTENCE_MARKS = "。！？｡।॥؟"
"""Marks that end a sentence wherever they stand: CJK full-width and half-width ideographic
marks, the Devanagari danda and double danda, the Arabic question mark."""

SENTENCE_MARKS = LATIN_SENTENCE_MARKS + FULLWIDTH_SENTENCE_MARKS
"""Every character that ends a sentence."""

CLOSING_MARKS = "\"'”’»)]}）」』】〕›"
"""Closing quotes and brackets that may follow a sentence mark and belong to the sentence."""

OPENING_MARKS = "\"'“‘«([{（「『【〔‹¿¡"
"""Opening quotes, brackets and inverted marks that may start a sentence."""

_MARKS = rf"[{re.escape(LATIN_SENTENCE_MARKS)}]+|[{FULLWIDTH_SENTENCE_MARKS}]+"
_BOUNDARY = re.compile(rf"({_MARKS})([{re.escape(CLOSING_MARKS)}]*)")
_FULLWIDTH = re.compile(rf"[{FULLWIDTH_SENTENCE_MARKS}]")
_CJK = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")

#: Abbreviations after which a period never ends a sentence (titles before names,
#: Latin and German short forms); compared lower-case, without the final period.
NO_SPLIT_ABBREVIATIONS = frozenset(
    re.findall(
        r"\S+",
        "mr mrs ms mx dr prof st mt rev gen col capt lt sgt hon gov sen pres fr frl mme mlle "
        "sra srta dra e.g i.e cf vs viz approx ca z.b d.h u.a bzw vgl ggf",
    )
)

#: Abbreviations after which a period does not end a sentence when a number follows
#: (``No. 5``, ``fig. 3``, ``pp. 10``).
NUMBER_ABBREVIATIONS = frozenset(
    ["no", "nos", "nr", "fig", "figs", "vol", "vols", "pp", "p", "ch", "sec", "art", "eq"]
)

#: Languages that write ordinal numbers with a period (``3.`` = "third").
ORDINAL_DOT_LANGUAGES = frozenset(
    re.findall(r"\S+", "de da no nb nn fi et is cs sk pl hu sl hr sr bs lv lt tr fo")
)


def primary_language(code: str | None, default: str = "en") -> str:
    """The primary subtag of a language code, lower case: ``"en_US"``, ``"pt-br"``,
    ``"zh-CN"`` -> ``"en"``, ``"pt"``, ``"zh"``; ``default`` for ``None`` or ``""``."""
    if not code or not code.strip():
        return default
    return re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0] or default


def ends_sentence(text: str) -> bool:
    """True if ``text`` ends with a sentence mark (:data:`SENTENCE_MARKS`), optionally
    followed by closing quotes or brackets and white space: ``"Done."``, ``'He left.”'``,
    ``"好的。"``; not ``"so,"`` or ``""``."""
    tail = text.rstrip().rstrip(CLOSING_MARKS)
    return bool(tail) and tail[-1] in SENTENCE_MARKS


def join_texts(texts: list[str]) -> str:
    """Join texts (segment texts, sentences): with a space, except between two CJK
    characters (Chinese and Japanese are written without spaces); blank texts dropped."""
    out = ""
    for t in (t.strip() for t in texts):
        if not t:
            continue
        if out and not (_CJK.match(out[-1]) and _CJK.match(t[0])):
            out += " "
        out += t
    return out


def split_paragraphs(text: str) -> list[str]:
    """Split ``text`` at blank lines; lines inside a paragraph are joined.

    Lines are joined with a space, except between two CJK characters. Empty
    paragraphs are dropped.
    """
    paras = []
    for block in re.split(r"\n[ \t\r\f\v]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [" ".join(line.split()) for line in block.split("\n")]
        joined = join_texts([ln for ln in lines if ln])
        if joined:
            paras.append(joined)
    return paras


def split_sentences(text: str, language: str | None = None, *, cased: bool = True) -> list[str]:
    """Split one paragraph into sentences (multilingual, rule based).

    A sentence ends at :data:`LATIN_SENTENCE_MARKS` (``. ! ? … ‽``; runs of them, plus
    closing quotes/brackets) followed by white space or the end, and at
    :data:`FULLWIDTH_SENTENCE_MARKS` (``。 ！ ？``, the Devanagari danda, the Arabic
    question mark) anywhere. A period does not end a sentence when:
    the next word starts with a lower-case letter and ``cased`` (``e.g. this``,
    ``3. Oktober`` before lower case, ``"Help!" she cried``); the word before it is a known
    abbreviation (:data:`NO_SPLIT_ABBREVIATIONS`: ``Mr.``, ``Dr.``, ``e.g.``,
    ``No.``...); or it is a single capital initial (``J. R. Tolkien``). Decimals
    (``3.14``) never split since no space follows. In languages that write ordinals
    with a period (``language`` ``de``, ``da``, ``no``, ``fi``, ``cs``, ``pl``, ``hu``,
    ``tr``...: ``am 3. Oktober``) a number's period does not end a sentence either.
    A piece without letters (``1.``, ``...``) is joined to the next sentence (to the
    previous one at the end). Known misses: an initial ending a sentence (``Plan B.
    Then``) and ``U.S. Army`` (split after ``U.S.``).

    Args:
        text: one paragraph (newlines are treated as spaces).
        language: ISO 639-1 code of the text, or ``None``.
        cased: the text's capitals can be trusted (written text). Pass ``False`` for
            ASR transcripts: Whisper ends many segments with a period before a
            lower-case continuation (``well formed. especially as``), and there the
            mark is taken as the end of a sentence (the abbreviation, initial and
            number rules still apply).

    Returns:
        The sentences in order, stripped, whitespace collapsed; ``[]`` for blank text.
    """
    text = " ".join(text.split())
    ordinal_dot = bool(language) and primary_language(language or "") in ORDINAL_DOT_LANGUAGES
    pieces: list[str] = []
    begin = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end()
        if not _FULLWIDTH.match(m.group(1)):
            if end < len(text) and not text[end].isspace():
                continue
            if not _ends_here(text, m, ordinal_dot, cased):
                continue
        piece = text[begin:end].strip()
        if piece:
            pieces.append(piece)
        begin = end
    tail = text[begin:].strip()
    if tail:
        pieces.append(tail)
    # Pieces with no letters (numbers, punctuation) join the next sentence.
    out: list[str] = []
    carry = ""
    for piece in pieces:
        piece = join_texts([carry, piece]) if carry else piece
        carry = ""
        if any(ch.isalpha() for ch in piece):
            out.append(piece)
        else:
            carry = piece
    if carry:
        if out:
            out[-1] = join_texts([out[-1], carry])
        elif any(ch.isalnum() for ch in carry):
            out.append(carry)
    return out


def _ends_here(text: str, m: re.Match[str], ordinal_dot: bool = False, cased: bool = True) -> bool:
    """Whether the Latin-script mark ``m`` (followed by space or the end) ends a sentence."""
    rest = text[m.end() :].lstrip().lstrip(OPENING_MARKS)
    if cased and rest[:1].islower():
        return False
    if set(m.group(1)) != {"."}:
        return True
    i = m.start(1)
    if i == 0 or text[i - 1].isspace():
        return True
    word = text[:i].rsplit(None, 1)[-1].lstrip(OPENING_MARKS).lower()
    if word in NO_SPLIT_ABBREVIATIONS:
        return False
    if word in NUMBER_ABBREVIATIONS and rest[:1].isdigit():
        return False
    if ordinal_dot and word.isdigit() and rest:
        return False
    # A single capital initial (J. R. Tolkien), unless the paragraph ends there.
    return not (len(word) == 1 and word.isalpha() and text[i - 1].isupper() and rest)


def word_ends(text: str) -> set[int]:
    """Offsets in ``text`` where a word ends and another may begin: after each jieba
    word (Chinese and Japanese are written without spaces; jieba's default dictionary
    segments ``我认为跑步`` as ``我 认为 跑步``, so no offset falls inside ``认为``), and
    0 and ``len(text)``.

    Text without CJK characters is not segmented: every offset of a space, and the
    ends, are returned.

    Args:
        text: any text (a transcript segment, words joined).

    Returns:
        The set of character offsets ``i`` such that ``text[:i]`` ends a word.
    """
    if not _CJK.search(text):
        return (
            {0, len(text)}
            | {i for i, ch in enumerate(text) if ch.isspace()}
            | {i + 1 for i, ch in enumerate(text) if ch.isspace()}
        )
    import jieba

    jieba.setLogLevel(60)
    out, pos = {0}, 0
    for token in jieba.cut(text):
        pos += len(token)
        out.add(pos)
    return out
