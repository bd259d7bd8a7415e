"""Full-text search over transcript segments: SQLite FTS5 or PostgreSQL, one function.

Chinese (and Japanese kanji) text has no spaces between words, so both the indexed
copy of each segment (``segments.search_text``) and the query are split into words
with jieba's search mode (``jieba.lcut_for_search``: a word and its dictionary
sub-words, so "房地产" finds "广州市房地产中介协会分析"). Before that, Traditional
characters are folded to Simplified with OpenCC (``t2s``, the converter of
:mod:`vidpipe.text.script`) on both sides: Whisper often writes Mandarin in
Traditional characters ("廣州市房地產"), and users type either. Other text is indexed as is.
Matching is word-based and case-insensitive, without stemming; all query words must
occur in a segment. Snippets mark the matching words with ``[brackets]``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from sqlalchemy import text as sql

from vidpipe.text.script import fold_chinese, has_cjk
from vidpipe.text.tokens import index_text, query_terms

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.library.catalog import Catalog

__all__ = ["SearchHit", "index_text", "query_terms", "search", "snippet"]


@dataclass(frozen=True)
class SearchHit:
    """One matching segment. Times in seconds; higher ``score`` is better."""

    media_id: int
    path: str
    start: float
    end: float
    text: str
    snippet: str
    score: float

    def to_dict(self) -> dict:
        return asdict(self)


def snippet(text: str, terms: list[str], width: int = 160) -> str:
    """``text`` with each occurrence of a term wrapped in ``[ ]`` (case-insensitive).

    Long texts are cut around the first match to about ``width`` characters.
    """
    text = " ".join(text.split())
    if not terms:
        return text[:width]
    alts = sorted({re.escape(t) for t in terms}, key=len, reverse=True)
    if has_cjk("".join(terms)):
        pattern = re.compile("|".join(alts), re.IGNORECASE)
    else:
        pattern = re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)", re.IGNORECASE)
    folded = fold_chinese(text)
    if len(folded) == len(text):  # t2s is character for character here: match on the folded
        spans = [m.span() for m in pattern.finditer(folded)]
    else:
        spans = [m.span() for m in pattern.finditer(text)]
    if not spans:
        return text[:width] + ("…" if len(text) > width else "")
    prefix = suffix = ""
    lo, hi = 0, len(text)
    if len(text) > width:
        lo = max(0, spans[0][0] - width // 3)
        hi = min(len(text), lo + width)
        prefix = "…" if lo > 0 else ""
        suffix = "…" if hi < len(text) else ""
    pieces, pos = [], lo
    for a, b in spans:
        if a < pos or b > hi:
            continue
        pieces.append(text[pos:a] + "[" + text[a:b] + "]")
        pos = b
    pieces.append(text[pos:hi])
    marked = "".join(pieces)
    if has_cjk(text):
        marked = marked.replace("][", "")  # jieba pieces of one word: one highlight
    return prefix + marked + suffix


def search(catalog: Catalog, query: str, limit: int = 20) -> list[SearchHit]:
    """Segments matching every word of ``query``, best first.

    Args:
        catalog: an open :class:`~vidpipe.library.catalog.Catalog`.
        query: words or a phrase (Chinese is segmented with jieba).
        limit: at most this many hits.

    Returns:
        :class:`SearchHit` list; ties are ordered by media id and start time.
    """
    terms = query_terms(query)
    if not terms or limit <= 0:
        return []
    if catalog.dialect == "sqlite":
        match = " ".join('"' + t.replace('"', '""') + '"' for t in terms)
        stmt = sql(
            'SELECT m.id, m.path, s.start, s."end", s.text, -bm25(segments_fts) AS score '
            "FROM segments_fts JOIN segments s ON s.id = segments_fts.rowid "
            "JOIN transcripts t ON t.id = s.transcript_id JOIN media m ON m.id = t.media_id "
            "WHERE segments_fts MATCH :q "
            "ORDER BY bm25(segments_fts), m.id, s.start LIMIT :limit"
        )
        params = {"q": match, "limit": limit}
    elif catalog.dialect == "postgresql":
        stmt = sql(
            'SELECT m.id, m.path, s.start, s."end", s.text, '
            "ts_rank(s.search_tsv, plainto_tsquery('simple', :q)) AS score "
            "FROM segments s JOIN transcripts t ON t.id = s.transcript_id "
            "JOIN media m ON m.id = t.media_id "
            "WHERE s.search_tsv @@ plainto_tsquery('simple', :q) "
            "ORDER BY score DESC, m.id, s.start LIMIT :limit"
        )
        params = {"q": " ".join(terms), "limit": limit}
    else:  # pragma: no cover - other databases: plain substring match
        stmt = sql(
            'SELECT m.id, m.path, s.start, s."end", s.text, 1.0 AS score '
            "FROM segments s JOIN transcripts t ON t.id = s.transcript_id "
            "JOIN media m ON m.id = t.media_id WHERE lower(s.search_text) LIKE :q "
            "ORDER BY m.id, s.start LIMIT :limit"
        )
        params = {"q": f"%{terms[0]}%", "limit": limit}
    with catalog.session() as s:
        rows = s.execute(stmt, params).all()
    return [
        SearchHit(
            media_id=mid,
            path=path,
            start=float(start),
            end=float(end),
            text=text,
            snippet=snippet(text, terms),
            score=float(score),
        )
        for mid, path, start, end, text, score in rows
    ]
