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
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from vidpipe.errors import UsageError
from vidpipe.types import Chapter, Segment, Summary, Transcript, Word

__all__ = [
    "DEFAULT_SCRIPT",
    "SCRIPTS",
    "chapters_to_script",
    "check_script",
    "fold_chinese",
    "has_cjk",
    "is_chinese",
    "summary_to_script",
    "to_script",
    "transcript_to_script",
]

SCRIPTS = ("simplified", "traditional", "keep")
DEFAULT_SCRIPT = "simplified"
_CONFIGS = {"simplified": "t2s", "traditional": "s2t"}

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\U00020000-\U0002ffff]")


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
    """A Chinese transcript with segment and word text in ``script``.

    Args:
        transcript: any transcript; only ``language`` ``zh`` is converted.
        script: see :func:`to_script`.

    Returns:
        A new Transcript (times and other fields unchanged), or ``transcript`` itself
        when it is not Chinese or ``script`` is ``"keep"``.

    Raises:
        UsageError: an unknown script name.
    """
    name = check_script(script)
    if name == "keep" or not is_chinese(transcript.language):
        return transcript
    return transcript.model_copy(
        update={"segments": [_segment(s, name) for s in transcript.segments]}
    )


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
