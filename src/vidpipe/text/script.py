"""One Chinese script: Whisper's Mandarin in Simplified (or Traditional) characters throughout.

Whisper writes Mandarin in Traditional or Simplified characters unpredictably, even
within one recording (the base model gives ``廣州市 佛地產`` for a Simplified
AISHELL sentence), so transcripts, summaries, keywords, chapters and topic names
would mix both. Everything vidpipe produces for Chinese (language ``zh``) is
converted to one script before it is stored or written:

- ``"simplified"`` (the default; setting ``VIDPIPE_ZH_SCRIPT``): OpenCC's ``t2s``
  configuration (Traditional to Simplified, with its phrase dictionaries);
- ``"traditional"``: OpenCC's ``s2t`` (Simplified to Traditional);
- ``"keep"``: Whisper's output as it is.

Text without CJK characters is returned unchanged without calling OpenCC, and only
Chinese text is converted (``language`` ``zh``/``zh-*``): Japanese kanji are not
Chinese characters to be folded. The same ``t2s`` converter folds text for search
(:func:`fold_chinese`).

The same pass gives Chinese and Japanese transcripts their own punctuation
(:func:`punctuate_segments`, whatever the script setting): Whisper ``base`` writes
Mandarin without any punctuation when it decodes in batches, and with ASCII commas
(``我想问, 我在``) when it decodes sequentially.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from vidpipe.errors import UsageError
from vidpipe.text.sentences import CLOSING_MARKS, primary_language, word_ends
from vidpipe.types import CJK, Chapter, Segment, Summary, Transcript, Word

__all__ = [
    "CLAUSE_PAUSE",
    "DEFAULT_SCRIPT",
    "FULLWIDTH_MARKS",
    "PUNCTUATED_LANGUAGES",
    "SCRIPTS",
    "SENTENCE_PAUSE",
    "chapters_to_script",
    "check_script",
    "fold_chinese",
    "fullwidth_punctuation",
    "has_cjk",
    "is_chinese",
    "punctuate_segments",
    "summary_to_script",
    "to_script",
    "transcript_to_script",
]

SCRIPTS = ("simplified", "traditional", "keep")
DEFAULT_SCRIPT = "simplified"
_CONFIGS = {"simplified": "t2s", "traditional": "s2t"}

_CJK = CJK


PUNCTUATED_LANGUAGES = frozenset({"zh", "ja", "yue"})
"""Languages whose transcripts get full-width punctuation (:func:`punctuate_segments`)."""

FULLWIDTH_MARKS = {",": "，", ".": "。", "?": "？", "!": "！", ":": "：", ";": "；"}
"""ASCII marks and the full-width marks Chinese and Japanese text uses instead."""

SENTENCE_PAUSE = 0.7
"""A pause of at least this many seconds after unpunctuated Chinese or Japanese text
ends a sentence (``。``). Measured on the AISHELL, FunASR, PaddleSpeech and CosyVoice
clips joined with 0.8 s pauses (Whisper ``base`` times): between two clips 0.77-2.4 s,
inside a read sentence 0-0.57 s (``就是，给我带来了``) and once 1.56 s (``我想问，我在``)."""

CLAUSE_PAUSE = 0.3
"""Inside a segment, a pause of at least this many seconds (and under
:data:`SENTENCE_PAUSE`) at a word end gets ``，``; between two segments any shorter
pause does (Whisper ends a segment at a breath)."""

_QUESTION_ENDS = ("吗",)
"""A sentence ending in one of these is a question: its pause mark is ``？``."""
_MARK_AT_END = frozenset("，。？！：；、,.?!:;…" + CLOSING_MARKS)


def _is_cjk(ch: str) -> bool:
    return bool(ch) and bool(_CJK.match(ch))


def fullwidth_punctuation(text: str, before: str = "") -> str:
    """``text`` with the ASCII marks of CJK text in full width, and Whisper's pause
    spaces as commas.

    An ASCII ``, . ? ! : ;`` next to a Han or Kana character (spaces skipped) becomes
    ``， 。 ？ ！ ： ；`` and the spaces around it go (a period between two digits,
    ``3.5``, stays); a space between two Han or Kana characters (Whisper marks a pause
    inside Mandarin so: ``广州市 房地产``) becomes ``，``. Other text is unchanged.

    Args:
        text: the text to convert.
        before: the text that precedes it (the previous words of a segment), read for
            context only.

    Returns:
        The converted text (may be shorter: spaces are dropped).
    """
    if not text or not (has_cjk(text) or has_cjk(before[-2:])):
        return text
    full = before + text
    out: list[str] = []
    for i, ch in enumerate(text):
        k = len(before) + i
        prev = full[:k].rstrip()[-1:]
        nxt = full[k + 1 :].lstrip()[:1]
        if ch in FULLWIDTH_MARKS:
            digits = ch == "." and prev.isdigit() and nxt.isdigit()
            if not digits and (_is_cjk(prev) or _is_cjk(nxt)):
                while out and out[-1] == " ":
                    out.pop()
                out.append(FULLWIDTH_MARKS[ch])
                continue
        elif ch == " ":
            if _is_cjk(prev) and _is_cjk(nxt) and full[k - 1 : k] != " ":
                out.append("，")
                continue
            if (out and out[-1] in FULLWIDTH_MARKS.values()) or nxt in FULLWIDTH_MARKS.values():
                continue
            if _is_cjk(prev) and _is_cjk(nxt):
                continue
        out.append(ch)
    return "".join(out)


def _pause_mark(text: str, gap: float | None, boundary: bool) -> str:
    """The mark a pause of ``gap`` s (None: the end) after ``text`` gets, or ``""``."""
    if not text or text[-1] in _MARK_AT_END or not _is_cjk(text[-1]):
        return ""
    if gap is None or gap >= SENTENCE_PAUSE:
        return "？" if text.endswith(_QUESTION_ENDS) else "。"
    if boundary or gap >= CLAUSE_PAUSE:
        return "，"
    return ""


def punctuate_segments(segments: Sequence[Segment], language: str | None) -> list[Segment]:
    """Chinese or Japanese segments with full-width punctuation, sentence ends from pauses.

    Rules (language in :data:`PUNCTUATED_LANGUAGES`, else the segments are returned
    unchanged):

    1. ASCII marks in CJK text become full width, Whisper's pause spaces commas
       (:func:`fullwidth_punctuation`).
    2. A segment ending without a mark gets ``。`` when the next segment starts
       :data:`SENTENCE_PAUSE` s or more later (or it is the last), else ``，``;
       ``？`` instead of ``。`` after ``吗``.
    3. Inside a segment with words, a pause of :data:`SENTENCE_PAUSE` s gets ``。``, of
       :data:`CLAUSE_PAUSE` s ``，``, only where a word ends
       (:func:`~vidpipe.text.sentences.word_ends`) and no mark is there already.

    Marks are appended to the word before the pause, so a segment's text stays its
    words joined; times are unchanged.

    Args:
        segments: in time order (a transcript's).
        language: the transcript's language code.

    Returns:
        New segments (the same objects where nothing changed).
    """
    if primary_language(language, "") not in PUNCTUATED_LANGUAGES:
        return list(segments)
    out: list[Segment] = []
    for n, seg in enumerate(segments):
        nxt = segments[n + 1] if n + 1 < len(segments) else None
        gap_after = None if nxt is None else nxt.start - seg.end
        if not seg.words:
            text = fullwidth_punctuation(seg.text)
            text += _pause_mark(text.rstrip(), gap_after, True)
            out.append(seg if text == seg.text else seg.model_copy(update={"text": text}))
            continue
        pieces: list[str] = []
        for i, w in enumerate(seg.words):
            word = w.word.lstrip() if i == 0 else w.word  # no comma opens a segment
            pieces.append(fullwidth_punctuation(word, "".join(pieces)))
        ends = word_ends("".join(pieces))
        pos = 0
        for i, w in enumerate(seg.words):
            pos += len(pieces[i])  # offset in the joined text: marks go after it
            if i + 1 == len(seg.words):
                mark = _pause_mark(pieces[i].rstrip(), gap_after, True)
            elif pos in ends:
                mark = _pause_mark(pieces[i], seg.words[i + 1].start - w.end, False)
            else:
                mark = ""
            if mark:
                pieces[i] = pieces[i].rstrip() + mark
                ends = {e + len(mark) if e >= pos else e for e in ends} - {pos}
                pos += len(mark)
        words = [
            w if p == w.word else w.model_copy(update={"word": p})
            for w, p in zip(seg.words, pieces, strict=True)
        ]
        text = "".join(pieces).strip()
        if text == seg.text and all(a is b for a, b in zip(words, seg.words, strict=True)):
            out.append(seg)
        else:
            out.append(seg.model_copy(update={"text": text, "words": words}))
    return out


def has_cjk(text: str) -> bool:
    """True when ``text`` holds a Han, Kana or CJK compatibility character."""
    return bool(_CJK.search(text))


def check_script(script: str | None) -> str:
    """The script name, lower-cased; ``None`` gives the default (``"simplified"``).

    Raises:
        UsageError: not one of ``simplified``, ``traditional``, ``keep``.
    """
    name = (script or DEFAULT_SCRIPT).strip().lower()
    if name not in SCRIPTS:
        raise UsageError(f"unknown Chinese script '{script}'", f"use {', '.join(SCRIPTS)}")
    return name


def is_chinese(language: str | None) -> bool:
    """True for ``zh`` and its variants (``zh-TW``, ``zh_Hans``...); False for None."""
    return bool(language) and language.lower().replace("_", "-").split("-")[0] == "zh"


@lru_cache(maxsize=2)
def _converter(config: str):
    import opencc

    return opencc.OpenCC(config)


def to_script(text: str, script: str) -> str:
    """``text`` in the given Chinese script.

    Args:
        text: any text (non-CJK characters pass through unchanged).
        script: ``"simplified"`` (OpenCC ``t2s``), ``"traditional"`` (OpenCC ``s2t``)
            or ``"keep"`` (no change).

    Returns:
        The converted text (the same string when there is nothing to convert).

    Raises:
        UsageError: an unknown script name.
    """
    name = check_script(script)
    if name == "keep" or not text or not has_cjk(text):
        return text
    return _converter(_CONFIGS[name]).convert(text)


def fold_chinese(text: str) -> str:
    """Traditional Chinese characters folded to Simplified (other text unchanged); for search."""
    return to_script(text, "simplified")


def _segment(seg: Segment, script: str) -> Segment:
    text = seg.text
    words = seg.words
    if words:
        joined = "".join(w.word for w in words)
        conv = to_script(joined, script)
        if len(conv) == len(joined):
            # convert the words in context (OpenCC's phrase tables), then cut back to words
            pieces, pos = [], 0
            for w in words:
                pieces.append(conv[pos : pos + len(w.word)])
                pos += len(w.word)
        else:  # a phrase changed length: convert word by word
            pieces = [to_script(w.word, script) for w in words]
        words = [
            Word(start=w.start, end=w.end, word=p, probability=w.probability)
            for w, p in zip(words, pieces, strict=True)
        ]
        text = conv if joined == seg.text else to_script(seg.text, script)
    else:
        text = to_script(seg.text, script)
    return seg.model_copy(update={"text": text, "words": words})


def transcript_to_script(transcript: Transcript, script: str) -> Transcript:
    """A Chinese transcript with segment and word text in ``script``; Chinese and
    Japanese ones also with their own punctuation (:func:`punctuate_segments`).

    Args:
        transcript: any transcript; only ``language`` ``zh`` is converted, only ``zh``
            and ``ja`` are punctuated.
        script: see :func:`to_script`.

    Returns:
        A new Transcript (times and other fields unchanged), or ``transcript`` itself
        when there was nothing to change (not Chinese or Japanese, or ``"keep"`` and
        the punctuation already done).

    Raises:
        UsageError: an unknown script name.
    """
    name = check_script(script)
    segments = transcript.segments
    if name != "keep" and is_chinese(transcript.language):
        segments = [_segment(s, name) for s in segments]
    segments = punctuate_segments(segments, transcript.language)
    if all(a is b for a, b in zip(segments, transcript.segments, strict=True)):
        return transcript
    return transcript.model_copy(update={"segments": segments})


def summary_to_script(summary: Summary, script: str, language: str | None = None) -> Summary:
    """A Chinese summary (overall, chunk summaries, keywords) in ``script``.

    ``language`` defaults to ``summary.language``; other languages are returned as is.
    """
    name = check_script(script)
    if name == "keep" or not is_chinese(language or summary.language):
        return summary
    return summary.model_copy(
        update={
            "overall": to_script(summary.overall, name),
            "keywords": [to_script(k, name) for k in summary.keywords],
            "chunks": [
                c.model_copy(update={"summary": to_script(c.summary, name)}) for c in summary.chunks
            ],
        }
    )


def chapters_to_script(
    chapters: Sequence[Chapter], script: str, language: str | None
) -> list[Chapter]:
    """Chapter titles of a Chinese transcript (``language`` ``zh``) in ``script``."""
    name = check_script(script)
    if name == "keep" or not is_chinese(language):
        return list(chapters)
    return [c.model_copy(update={"title": to_script(c.title, name)}) for c in chapters]
