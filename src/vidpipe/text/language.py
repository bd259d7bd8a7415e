"""The language of a text guessed from its script, for when no language code is known.

Used where text arrives without a language: a standalone text to speak (the ``speak``
stage picks an espeak-ng voice with it) and chunks whose transcript has no language
(the image generators of :mod:`vidpipe.vision.images`).
"""

from __future__ import annotations

from collections import Counter

__all__ = ["guess_language"]


def guess_language(text: str) -> str:
    """A language code from the script of ``text``: ``zh``, ``ja``, ``ko``, ``ru`` or ``en``.

    Only a fallback for when the transcript's language is unknown: Han characters
    mean Chinese (Japanese if there is kana), Hangul Korean, Cyrillic Russian, and
    anything else English.
    """
    counts: Counter[str] = Counter()
    for ch in text:
        o = ord(ch)
        if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF:
            counts["han"] += 1
        elif 0x3040 <= o <= 0x30FF:
            counts["kana"] += 1
        elif 0xAC00 <= o <= 0xD7AF:
            counts["hangul"] += 1
        elif 0x0400 <= o <= 0x04FF:
            counts["cyr"] += 1
        elif ch.isalpha():
            counts["other"] += 1
    if not counts:
        return "en"
    top = counts.most_common(1)[0][0]
    if counts["kana"] and top in ("han", "kana"):
        return "ja"
    return {"han": "zh", "kana": "ja", "hangul": "ko", "cyr": "ru"}.get(top, "en")
