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

A hit also carries ``word_start``, the time of the first word of the segment where the
query is said (:func:`word_time`, from the catalog's word rows): the whole query as a
phrase first, else its first word found. Words are compared with case, punctuation and
white space removed and Chinese folded to Simplified, over the concatenated characters
of consecutive words: Whisper's words in scripts written without spaces (Chinese,
Japanese, Thai) are single characters or pieces of words, so "协会" spoken as the words
"协", "会" starts at "协", and a term may begin inside a word there. In other scripts a
match must begin and end at word boundaries ("types" does not match inside "prototypes").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy import text as sql

from vidpipe.library.models import WordRow
from vidpipe.text.script import fold_chinese, has_cjk
from vidpipe.text.tokens import index_text, query_terms

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.orm import Session

    from vidpipe.library.catalog import Catalog

__all__ = ["SearchHit", "index_text", "query_terms", "search", "snippet", "word_time"]

#: characters of scripts written without spaces between words (Han, Kana, Thai, Lao,
#: Myanmar, Khmer): a term may start or end inside one of their words
_NO_SPACE = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)


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
    #: where the query is said in the segment (:func:`word_time`), else ``start``
    word_start: float | None = None

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


def _norm(text: str) -> str:
    """``text`` for matching words: Chinese folded to Simplified, lower case, without
    punctuation or white space."""
    return "".join(ch for ch in fold_chinese(text).lower() if unicodedata.category(ch)[0] in "LMN")


@lru_cache(maxsize=64)
def _keys(query: str) -> tuple[str, ...]:
    """What :func:`word_time` looks for, in order: the whole query, then its terms."""
    keys = [_norm(query), *(_norm(t) for t in query_terms(query))]
    return tuple(dict.fromkeys(k for k in keys if k))


def word_time(words: Sequence[tuple[str, float]], query: str) -> float | None:
    """The start of the first word where ``query`` is said among ``words``.

    The whole query (as a phrase) is looked for first, then each of its search terms
    (:func:`query_terms`) in order; the first found wins. Matching runs over the
    concatenated, normalised characters of consecutive words (see the module's note):
    in scripts written without spaces a match may begin or end inside a word (the time
    is then that word's start); elsewhere it must begin and end at word boundaries.

    Args:
        words: a segment's words in order, each ``(text, start in seconds)``.
        query: what was searched for, as typed.

    Returns:
        The start (seconds) of the word the match begins in, or ``None`` when the words
        do not contain the query (or there are no words).
    """
    pieces = [_norm(w) for w, _ in words]
    joined = "".join(pieces)
    if not joined:
        return None
    owner: list[int] = []  # character -> index of its word
    starts: set[int] = set()  # offsets where a word begins
    ends: set[int] = set()  # offsets where a word ends
    for i, p in enumerate(pieces):
        if p:
            starts.add(len(owner))
            owner.extend([i] * len(p))
            ends.add(len(owner))
    for key in _keys(query):
        pos = joined.find(key)
        while pos >= 0:
            stop = pos + len(key)
            begins = pos in starts or bool(_NO_SPACE.match(joined[pos]))
            finishes = stop in ends or bool(_NO_SPACE.match(joined[stop - 1]))
            if begins and finishes:
                return float(words[owner[pos]][1])
            pos = joined.find(key, pos + 1)
    return None


def _segment_words(s: Session, segment_ids: list[int]) -> dict[int, list[tuple[str, float]]]:
    """The word rows of the given segment rows: ``{segment row id: [(word, start)]}``."""
    out: dict[int, list[tuple[str, float]]] = {}
    if not segment_ids:
        return out
    rows = s.execute(
        select(WordRow.segment_id, WordRow.word, WordRow.start)
        .where(WordRow.segment_id.in_(sorted(set(segment_ids))))
        .order_by(WordRow.segment_id, WordRow.idx)
    ).all()
    for sid, word, start in rows:
        out.setdefault(sid, []).append((word, float(start)))
    return out


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
        :class:`SearchHit` list; ties are ordered by media id and start time. Each
        hit's ``word_start`` is where the query is said in its segment (seconds;
        :func:`word_time`), or the segment's start when its words do not tell (no
        word times stored).
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
            'SELECT m.id, m.path, s.start, s."end", s.text, -bm25(segments_fts) AS score, '
            f"{who}, s.id "
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
            f"ts_rank(s.search_tsv, plainto_tsquery('simple', :q)) AS score, {who}, s.id "
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
            f'SELECT m.id, m.path, s.start, s."end", s.text, 1.0 AS score, {who}, s.id '
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
        words = _segment_words(s, [r[-1] for r in rows])

    def said_at(sid: int, start: float) -> float:
        at = word_time(words.get(sid, []), query)
        return float(start) if at is None else at

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
            word_start=said_at(sid, start),
        )
        for mid, path, start, end, text, score, who_, sid in rows
    ]
