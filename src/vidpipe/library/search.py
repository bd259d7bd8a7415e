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

A hit carries the segment's speaker when the item was diarized: the name given to it
(:func:`vidpipe.library.speakers.rename_speakers`) or else its label; ``speaker=``
keeps the hits of one speaker (by name or label).
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
    speaker: str | None = None

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


def search(
    catalog: Catalog, query: str, limit: int = 20, *, speaker: str | None = None
) -> list[SearchHit]:
    """Segments matching every word of ``query``, best first.

    Args:
        catalog: an open :class:`~vidpipe.library.catalog.Catalog`.
        query: words or a phrase (Chinese is segmented with jieba).
        limit: at most this many hits.
        speaker: only segments of this speaker (its name, or its label when it has no
            name; case-insensitive).

    Returns:
        :class:`SearchHit` list; ties are ordered by media id and start time.
    """
    terms = query_terms(query)
    if not terms or limit <= 0:
        return []
    who = "COALESCE(sp.name, s.speaker)"
    join_sp = " LEFT JOIN item_speakers sp ON sp.media_id = m.id AND sp.label = s.speaker "
    only = f" AND lower({who}) = :speaker" if speaker else ""
    if catalog.dialect == "sqlite":
        match = " ".join('"' + t.replace('"', '""') + '"' for t in terms)
        stmt = sql(
            f'SELECT m.id, m.path, s.start, s."end", s.text, -bm25(segments_fts) AS score, {who} '
            "FROM segments_fts JOIN segments s ON s.id = segments_fts.rowid "
            "JOIN transcripts t ON t.id = s.transcript_id JOIN media m ON m.id = t.media_id"
            + join_sp
            + "WHERE segments_fts MATCH :q"
            + only
            + " ORDER BY bm25(segments_fts), m.id, s.start LIMIT :limit"
        )
        params = {"q": match, "limit": limit}
    elif catalog.dialect == "postgresql":
        stmt = sql(
            'SELECT m.id, m.path, s.start, s."end", s.text, '
            f"ts_rank(s.search_tsv, plainto_tsquery('simple', :q)) AS score, {who} "
            "FROM segments s JOIN transcripts t ON t.id = s.transcript_id "
            "JOIN media m ON m.id = t.media_id"
            + join_sp
            + "WHERE s.search_tsv @@ plainto_tsquery('simple', :q)"
            + only
            + " ORDER BY score DESC, m.id, s.start LIMIT :limit"
        )
        params = {"q": " ".join(terms), "limit": limit}
    else:  # pragma: no cover - other databases: plain substring match
        stmt = sql(
            f'SELECT m.id, m.path, s.start, s."end", s.text, 1.0 AS score, {who} '
            "FROM segments s JOIN transcripts t ON t.id = s.transcript_id "
            "JOIN media m ON m.id = t.media_id"
            + join_sp
            + "WHERE lower(s.search_text) LIKE :q"
            + only
            + " ORDER BY m.id, s.start LIMIT :limit"
        )
        params = {"q": f"%{terms[0]}%", "limit": limit}
    if speaker:
        params["speaker"] = speaker.strip().lower()
    with catalog.session(write=False) as s:
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
            speaker=who_,
        )
        for mid, path, start, end, text, score, who_ in rows
    ]
