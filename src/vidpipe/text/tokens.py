"""Words of text for full-text search, the same on the indexing and the query side.

Chinese (and Japanese kanji) text has no spaces between words, so it is split into
words with jieba (search mode when indexing: a word and its dictionary sub-words, so
"房地产" finds "广州市房地产中介协会分析"), after folding Traditional characters to
Simplified (:func:`vidpipe.text.script.fold_chinese`). Other text is kept as is.
Used by the catalog (the indexed copy of each segment) and :mod:`vidpipe.library.search`.
"""

from __future__ import annotations

import logging
import re

from vidpipe.text.script import fold_chinese, has_cjk

__all__ = ["index_text", "query_terms"]

_WORD = re.compile(r"\w+", re.UNICODE)


def _jieba():
    import jieba  # inside: jieba loads its dictionary module lazily, ~0.3 s saved at start-up

    jieba.setLogLevel(logging.WARNING)
    return jieba


def index_text(text: str) -> str:
    """The copy of ``text`` that is indexed: CJK folded to Simplified and split into words."""
    if not has_cjk(text):
        return text
    tokens = _jieba().lcut_for_search(fold_chinese(text))
    return " ".join(t.strip() for t in tokens if t.strip())


def query_terms(query: str) -> list[str]:
    """Words of a query, lower-cased, in order, without duplicates."""
    if has_cjk(query):
        raw = [t for t in _jieba().lcut(fold_chinese(query)) if t.strip()]
    else:
        raw = query.split()
    out: list[str] = []
    for chunk in raw:
        for w in _WORD.findall(chunk.lower()):
            if w not in out:
                out.append(w)
    return out
