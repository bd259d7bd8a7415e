"""The ``extractive`` text backend: summaries, keywords and chapters without a model.

- **Sentences** are cut from each chunk's text after ``. ? ! …`` followed by a space,
  and after ``。 ？ ！`` (Chinese needs no space). Summary sentences are always
  verbatim substrings of the transcript.
- **Words**: Chinese is segmented with ``jieba``; other languages are split into
  Unicode word characters and lower-cased. Stopwords come from YAKE's bundled lists
  (``yake/core/StopwordsList/stopwords_<lang>.txt``: en, ru, zh and 30 more).
- **Sentence ranking**: TextRank (Mihalcea & Tarau, "TextRank: Bringing Order into
  Texts", EMNLP 2004): a graph of sentences weighted by word overlap normalised by
  sentence lengths, ``|Si ∩ Sj| / (log|Si| + log|Sj|)``, ranked with PageRank
  (power iteration in numpy, damping 0.85). ``summa`` implements the same method but
  splits sentences the English way only, hence this small implementation.
- **Keywords**: YAKE (Campos et al., 2020; the ``yake`` package) for languages with
  spaces between words; for Chinese, jieba's TextRank keyword extractor
  (``jieba.analyse.textrank``), falling back to its TF-IDF extractor.
- **Chapters**: TextTiling (Hearst, "TextTiling: Segmenting Text into Multi-paragraph
  Subtopic Passages", Computational Linguistics 1997) over chunks: the cosine
  similarity of the word-count vectors of adjacent chunks; boundaries go where the
  depth of the similarity valley is largest. The number of chapters is
  ``round(duration / chapter_seconds)`` bounded to 1..10 and by the chunk count.
  Each title is the chapter's top keywords.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from vidpipe.text.sentences import join_texts, primary_language, split_sentences
from vidpipe.types import Chapter, Chunk, ChunkSummary, Summary

CHAPTER_SECONDS = 240.0
"""Target chapter length in seconds (4 min) when the count is derived from the duration."""

MAX_CHAPTERS = 10

_WORD = re.compile(r"\w+(?:['’-]\w+)*", re.UNICODE)
_HAS_WORD = re.compile(r"\w", re.UNICODE)


@lru_cache(maxsize=16)
def stopwords(language: str | None) -> frozenset[str]:
    """YAKE's stopword list for ``language`` (empty if it has none)."""
    import yake

    folder = Path(yake.__file__).parent / "core" / "StopwordsList"
    path = folder / f"stopwords_{primary_language(language)}.txt"
    if not path.is_file():
        return frozenset()
    text = path.read_text(encoding="utf-8", errors="ignore")
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip())


def words(text: str, language: str | None) -> list[str]:
    """Content words of ``text``: lower-cased, stopwords and numbers removed."""
    stop = stopwords(language)
    if primary_language(language) in ("zh", "ja"):
        import jieba

        jieba.setLogLevel(60)
        tokens = [t.strip().lower() for t in jieba.lcut(text)]
    else:
        tokens = [t.lower() for t in _WORD.findall(text)]
    return [t for t in tokens if t and _HAS_WORD.search(t) and t not in stop and not t.isdigit()]


def textrank(sentences: list[str], language: str | None) -> list[float]:
    """TextRank score of each sentence (Mihalcea & Tarau 2004), same order as given.

    Edge weight between two sentences: shared content words divided by
    ``log(len_i) + log(len_j)`` (lengths in content words, at least 2 to keep the
    logarithms positive). Isolated sentences keep PageRank's uniform share.
    """
    n = len(sentences)
    if n == 0:
        return []
    if n == 1:
        return [1.0]
    bags = [set(words(s, language)) for s in sentences]
    lens = [max(2, len(words(s, language))) for s in sentences]
    weights = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            common = len(bags[i] & bags[j])
            if common:
                w = common / (math.log(lens[i]) + math.log(lens[j]))
                weights[i, j] = weights[j, i] = w
    return pagerank(weights).tolist()


def pagerank(weights: np.ndarray, damping: float = 0.85, tol: float = 1e-8) -> np.ndarray:
    """PageRank of a weighted undirected graph given as a symmetric matrix.

    Power iteration of ``r = (1 − d)/n + d · Wᵀ_norm · r`` where ``W_norm`` divides each
    row by its sum; a node without edges spreads its rank uniformly (as networkx does).
    Returns scores summing to 1.
    """
    n = weights.shape[0]
    sums = weights.sum(axis=1)
    trans = np.where(sums[:, None] > 0, weights / np.where(sums == 0, 1, sums)[:, None], 1.0 / n)
    rank = np.full(n, 1.0 / n)
    for _ in range(200):
        new = (1 - damping) / n + damping * trans.T @ rank
        if np.abs(new - rank).sum() < tol:
            rank = new
            break
        rank = new
    return rank / rank.sum()


def top_sentences(sentences: list[str], language: str | None, count: int) -> list[str]:
    """The ``count`` best-ranked sentences, in their original order (ties: earlier first)."""
    scores = textrank(sentences, language)
    best = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))[: max(0, count)]
    return [sentences[i] for i in sorted(best)]


def keywords(text: str, language: str | None, top: int = 10) -> list[str]:
    """Up to ``top`` keywords or key phrases of ``text``, best first, as written in it.

    YAKE n-grams (n ≤ 2) for space-separated languages; jieba TextRank (then TF-IDF)
    for Chinese and Japanese. Keywords are deduplicated case-insensitively.
    """
    if not text.strip():
        return []
    lang = primary_language(language)
    found: list[str] = []
    if lang in ("zh", "ja"):
        import jieba
        import jieba.analyse

        jieba.setLogLevel(60)
        stop = stopwords(language)
        found = [
            k for k in jieba.analyse.textrank(text, topK=top * 2, withWeight=False) if k not in stop
        ]
        if len(found) < top:
            found += [
                k
                for k in jieba.analyse.extract_tags(text, topK=top * 2)
                if k not in stop and _HAS_WORD.search(k)
            ]
    else:
        import yake

        yake_lang = lang if stopwords(lang) else "en"
        extractor = yake.KeywordExtractor(lan=yake_lang, n=2, top=top * 2, dedup_lim=0.7)
        found = [k for k, _score in extractor.extract_keywords(text)]
        # YAKE keeps the first surface form; keep only phrases that occur verbatim.
        lowered = text.lower()
        found = [k for k in found if k.lower() in lowered and not k.isdigit()]
    out: list[str] = []
    seen: set[str] = set()
    for k in found:
        key = k.lower()
        if key not in seen:
            seen.add(key)
            out.append(k)
    return out[:top]


def chapter_count(duration: float, n_chunks: int, chapter_seconds: float) -> int:
    """``round(duration / chapter_seconds)`` bounded to ``1..min(10, n_chunks)``."""
    n = round(duration / chapter_seconds) if chapter_seconds > 0 else 1
    return max(1, min(MAX_CHAPTERS, n_chunks, n))


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def tiling_boundaries(chunks: list[Chunk], language: str | None, count: int) -> list[int]:
    """Indices ``i`` such that a chapter starts at ``chunks[i]`` (``0`` excluded), sorted.

    TextTiling (Hearst 1997): gap ``g`` (between chunk ``g`` and ``g+1``) scores the
    cosine similarity of the word vectors of a window of up to 2 chunks on each side;
    its depth is ``(left peak − s) + (right peak − s)``; the ``count − 1`` deepest
    gaps become boundaries.
    """
    if count <= 1 or len(chunks) < 2:
        return []
    vecs = [Counter(words(c.text, language)) for c in chunks]
    gaps = len(chunks) - 1
    sims = []
    for g in range(gaps):
        left = sum((vecs[i] for i in range(max(0, g - 1), g + 1)), Counter())
        right = sum((vecs[i] for i in range(g + 1, min(len(chunks), g + 3))), Counter())
        sims.append(_cosine(left, right))
    depths = []
    for g, s in enumerate(sims):
        lpeak = max(sims[: g + 1])
        rpeak = max(sims[g:])
        depths.append((lpeak - s) + (rpeak - s))
    order = sorted(range(gaps), key=lambda g: (-depths[g], sims[g], g))
    return sorted(g + 1 for g in order[: count - 1])


def chapters_from_groups(
    chunks: list[Chunk], starts: list[int], titles: list[str], duration: float
) -> list[Chapter]:
    """Chapters from chunk groups: group ``k`` begins at ``chunks[starts[k]]``.

    The first chapter starts at 0 s, each later one at its first chunk's start, and
    the last one ends at ``max(duration, last chunk end)``: chapters cover the
    timeline with no gaps or overlaps.
    """
    end = max(duration, chunks[-1].end if chunks else 0.0)
    times = [0.0] + [chunks[i].start for i in starts[1:]]
    out = []
    for k, t in enumerate(times):
        stop = times[k + 1] if k + 1 < len(times) else end
        out.append(Chapter(start=t, end=stop, title=titles[k]))
    return out


def make_title(text: str, language: str | None, max_words: int = 3) -> str:
    """A short chapter title: the top keywords, or the opening words of the text."""
    keys: list[str] = []
    for k in keywords(text, language, top=max_words * 3):
        k = k.rstrip(".,;:!?。！？，、")
        low = k.lower()
        # Skip a keyword that repeats one already taken ("Gutenberg" after "Gutenberg Bible").
        if k and not any(low in t.lower() or t.lower() in low for t in keys):
            keys.append(k)
    keys = keys[:max_words]
    sep = "、" if primary_language(language) in ("zh", "ja") else ", "
    if keys:
        title = sep.join(keys)
        return title[0].upper() + title[1:]
    sents = split_sentences(text, language, cased=False) or [text.strip()]
    return sents[0][:60] or "Untitled"


class ExtractiveBackend:
    """Offline summaries, keywords and chapters (see the module docstring).

    Args:
        sentences_per_chunk: sentences kept in each chunk summary.
        overall_sentences: sentences in the overall summary (default: about a fifth of
            the transcript's sentences, 1..5).
        keyword_count: keywords returned.
        chapter_seconds: target chapter length in seconds.
    """

    name = "extractive"
    model: str | None = None

    def __init__(
        self,
        *,
        sentences_per_chunk: int = 1,
        overall_sentences: int | None = None,
        keyword_count: int = 10,
        chapter_seconds: float = CHAPTER_SECONDS,
    ) -> None:
        self.sentences_per_chunk = sentences_per_chunk
        self.overall_sentences = overall_sentences
        self.keyword_count = keyword_count
        self.chapter_seconds = chapter_seconds

    def summarize(self, chunks: list[Chunk], language: str | None = None) -> Summary:
        """Chunk summaries (top TextRank sentences of each chunk), overall summary, keywords."""
        per_chunk = []
        all_sentences: list[str] = []
        for c in chunks:
            sents = split_sentences(c.text, language, cased=False)
            all_sentences += sents
            best = top_sentences(sents, language, self.sentences_per_chunk)
            per_chunk.append(
                ChunkSummary(chunk_id=c.id, start=c.start, end=c.end, summary=join_texts(best))
            )
        count = self.overall_sentences or max(1, min(5, round(len(all_sentences) / 5)))
        overall = join_texts(top_sentences(all_sentences, language, count))
        full = join_texts([c.text for c in chunks])
        return Summary(
            language=language,
            overall=overall,
            chunks=per_chunk,
            keywords=keywords(full, language, self.keyword_count),
            backend=self.name,
            model=None,
        )

    def chapters(
        self, chunks: list[Chunk], duration: float, language: str | None = None
    ) -> list[Chapter]:
        """Chapters covering ``[0, max(duration, last chunk end)]``, titled by keywords."""
        if not chunks:
            return [Chapter(start=0.0, end=max(0.0, duration), title="Untitled")]
        n = chapter_count(duration, len(chunks), self.chapter_seconds)
        starts = [0, *tiling_boundaries(chunks, language, n)]
        bounds = [*starts, len(chunks)]
        titles = [
            make_title(join_texts([c.text for c in chunks[a:b]]), language)
            for a, b in itertools.pairwise(bounds)
        ]
        return chapters_from_groups(chunks, starts, titles, duration)
