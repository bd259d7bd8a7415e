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
  depth of the similarity valley is largest (the strongest topic shifts), no chapter
  shorter than :data:`MIN_CHAPTER_SECONDS`. The number of chapters
  (:func:`chapter_count`) is ``round(sqrt(duration / 12 s))``: 3 for a 2-minute talk
  (one per ~40 s), 7 for 10 minutes, 17 for an hour (one per ~3.5 min), at most one per
  30 s and :data:`MAX_CHAPTERS`. Chapters are cut at chunk starts, so callers chunk a
  transcript for chapters with :func:`chapter_chunk_seconds` (a sentence or so for a
  short talk) rather than the summary's 60 s.
- **Chapter titles** (:func:`make_title`): the head of the chapter's topic sentence (its
  best TextRank sentence): leading discourse words ("And", "So", "Good morning") and an
  opening clause before a comma dropped, cut at the first clause break (``, ; :`` and
  "that", "which", "because"...), at most 8 words (16 characters in Chinese,
  at a jieba word boundary), trailing stopwords trimmed: "This Tuesday is Election
  Day", "Our system of representative democracy". A phrase of the text, never a
  list of keywords.
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
"""A fixed target chapter length some callers pass (``chapter_seconds``); by default the
count follows :func:`chapter_count`'s square-root rule instead."""

MAX_CHAPTERS = 20
"""At most this many chapters, whatever the duration."""

MIN_CHAPTER_SECONDS = 30.0
"""No chapter is planned shorter than this (seconds), and no more than one per 30 s."""

CHAPTER_UNIT_SECONDS = 5.0
"""Shortest chunk (seconds) a transcript is cut into for chapters
(:func:`chapter_chunk_seconds`)."""

TITLE_WORDS = 8
"""Most words in an offline chapter title (16 characters for Chinese and Japanese)."""

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


def chapter_count(duration: float, n_chunks: int, chapter_seconds: float | None = None) -> int:
    """How many chapters a transcript of ``duration`` seconds gets.

    Default rule: ``round(sqrt(duration / 12 s))``, so longer talks get more chapters
    but longer ones too: 2 min → 3, 10 min → 7, 30 min → 12, 60 min → 17. With
    ``chapter_seconds`` (a fixed target length): ``round(duration / chapter_seconds)``.
    Either way bounded to ``1..min(MAX_CHAPTERS, n_chunks, duration / 30 s)``.
    """
    if chapter_seconds is None:
        n = round(math.sqrt(max(0.0, duration) / 12.0))
    else:
        n = round(duration / chapter_seconds) if chapter_seconds > 0 else 1
    most = math.floor(max(0.0, duration) / MIN_CHAPTER_SECONDS)
    return max(1, min(MAX_CHAPTERS, n_chunks, most, n))


def chapter_chunk_seconds(duration: float, max_chunk: float = 60.0) -> float:
    """The chunk length (seconds) to cut a transcript into before placing chapters.

    About 20 chunks over the duration, at least :data:`CHAPTER_UNIT_SECONDS` and at most
    ``max_chunk``: a 2-minute talk is cut into ~6 s chunks (a sentence each), so its 3
    chapters can start at any sentence; an hour into 60 s ones. On the 2:07 radio
    address (tests/data/en_long) this puts TextTiling's deepest valleys at three of the
    official text's five paragraph starts (15 s chunks missed them by a sentence).
    """
    return min(max_chunk, max(CHAPTER_UNIT_SECONDS, duration / 20.0))


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def tiling_boundaries(
    chunks: list[Chunk], language: str | None, count: int, min_seconds: float = 0.0
) -> list[int]:
    """Indices ``i`` such that a chapter starts at ``chunks[i]`` (``0`` excluded), sorted.

    TextTiling (Hearst 1997): gap ``g`` (between chunk ``g`` and ``g+1``) scores the
    cosine similarity of the word vectors of a window of up to 2 chunks on each side;
    its depth is ``(left peak − s) + (right peak − s)``; the deepest gaps become
    boundaries, up to ``count − 1`` of them, skipping a gap that would leave a chapter
    shorter than ``min_seconds`` (from chunk start times; the text's end is the last
    chunk's end).
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
    starts = [c.start for c in chunks]
    first, last = chunks[0].start, chunks[-1].end
    chosen: list[int] = []
    for g in order:
        if len(chosen) >= count - 1:
            break
        t = starts[g + 1]
        cuts = sorted([first, *(starts[i] for i in chosen), t, last])
        if all(b - a >= min_seconds for a, b in itertools.pairwise(cuts)):
            chosen.append(g + 1)
    return sorted(chosen)


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


_LEADING = re.compile(
    r"^(?:(?:and|but|so|or|well|now|also|then|okay|ok|yes|oh|good (?:morning|afternoon|"
    r"evening)|hello|hi|thank you|thanks)\b[\s,]*)+",
    re.IGNORECASE,
)
_CLAUSE = re.compile(
    r"\s*[,;:()\u2013\u2014]\s*|\s+(?:that|which|who|because|while|whether|where|when|"
    r"although|though|since|so that|but|и|но|что|который|которая|которые|потому)\s+",
    re.IGNORECASE,
)
# Words a title may not end on in English (YAKE's list also holds "example", "again").
_EN_FUNCTION_TEXT = (
    "a an the of to in on at by for from with about as into onto over under than and or "
    "but nor so if is are was were be been being am do does did has have had will would "
    "shall should can could may might must not no our your their his her its my we you "
    "they he she it i this that these those which who whom whose what all any some each "
    "every more most very also just only once again"
)
_EN_FUNCTION_WORDS = frozenset(_EN_FUNCTION_TEXT.split())
_ZH_CLAUSE = re.compile(r"[，,；;：:、（）()]")


def _head_zh(sentence: str, max_chars: int) -> str:
    import jieba

    jieba.setLogLevel(60)
    body = sentence.strip().rstrip("。！？!?…")
    parts = [p for p in _ZH_CLAUSE.split(body) if p.strip()]
    head = max(parts[:2], key=len) if len(parts) > 1 and len(parts[0]) < 4 else parts[0]
    out = ""
    for tok in jieba.lcut(head.strip()):
        if len(out) + len(tok) > max_chars:
            break
        out += tok
    return out or head[:max_chars]


def topic_head(sentence: str, language: str | None, max_words: int = TITLE_WORDS) -> str:
    """The head of a sentence, as a title: see :data:`TITLE_WORDS` and the module docstring.

    Latin and Cyrillic text: leading discourse words dropped ("And", "Good morning,"),
    an opening clause before a comma dropped when at least 4 words follow it, then the
    text up to the first clause break, at most ``max_words`` words, trailing stopwords
    and punctuation trimmed, first letter capitalised. Chinese and Japanese: the first
    clause (up to ``，；：、``), at most ``2 * max_words`` characters at a jieba word
    boundary. Returns ``""`` for a sentence without words.
    """
    if primary_language(language) in ("zh", "ja"):
        return _head_zh(sentence, 2 * max_words)
    body = _LEADING.sub("", sentence.strip()).strip()
    body = body.rstrip(".!?…\"'”’»")
    pieces = [p for p in _CLAUSE.split(body) if p and p.strip()]
    if not pieces:
        return ""
    head = pieces[0]
    if len(pieces) > 1 and len(head.split()) < 4 and len(pieces[1].split()) >= 4:
        head = pieces[1]  # "After months of debate, the time has come..." -> the main clause
    tokens = head.split()[:max_words]
    stop = _EN_FUNCTION_WORDS if primary_language(language) == "en" else stopwords(language)
    while len(tokens) > 2 and (
        tokens[-1].lower().strip(".,;:!?\"'") in stop or not _HAS_WORD.search(tokens[-1])
    ):
        tokens.pop()
    title = " ".join(tokens).strip(" ,;:-\u2013\u2014\"'“”«»")
    return title[:1].upper() + title[1:] if title else ""


def make_title(text: str, language: str | None, max_words: int = TITLE_WORDS) -> str:
    """A chapter title from the chapter's text: the head (:func:`topic_head`) of its topic
    sentence, the best-ranked TextRank sentence, the first and second sentences' scores
    weighted 1.5 and 1.25 (a passage tends to open with its topic; ties: the earlier).
    Sentences of fewer than 3 words are passed over when longer ones exist, and so is a
    sentence whose head has fewer than 3 content words ("We will be reminded") when
    another's has. ``"Untitled"`` for text without words."""
    sents = split_sentences(text, language, cased=False) or [text.strip()]
    if primary_language(language) in ("zh", "ja"):
        long_enough = [s for s in sents if len(s) >= 6]
    else:
        long_enough = [s for s in sents if len(s.split()) >= 3]
    pool = long_enough or sents
    # A topic sentence tends to open its passage: the first two sentences weigh more.
    scores = [r * w for r, w in zip(textrank(pool, language), [1.5, 1.25], strict=False)]
    scores += textrank(pool, language)[len(scores) :]
    heads = []
    for i in sorted(range(len(pool)), key=lambda i: (-scores[i], i)):
        head = topic_head(pool[i], language, max_words)
        if head and len(words(head, language)) >= 3:
            return head
        heads.append(head)
    return next((h for h in heads if h), "") or text.strip()[:60] or "Untitled"


class ExtractiveBackend:
    """Offline summaries, keywords and chapters (see the module docstring).

    Args:
        sentences_per_chunk: sentences kept in each chunk summary.
        overall_sentences: sentences in the overall summary (default: about a fifth of
            the transcript's sentences, 1..5).
        keyword_count: keywords returned.
        chapter_seconds: a fixed target chapter length in seconds (``None``: the
            square-root rule of :func:`chapter_count`).
    """

    name = "extractive"
    model: str | None = None

    def __init__(
        self,
        *,
        sentences_per_chunk: int = 1,
        overall_sentences: int | None = None,
        keyword_count: int = 10,
        chapter_seconds: float | None = None,
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
        """Chapters covering ``[0, max(duration, last chunk end)]``, placed at the
        strongest topic shifts and titled by their topic sentences' heads."""
        if not chunks:
            return [Chapter(start=0.0, end=max(0.0, duration), title="Untitled")]
        n = chapter_count(duration, len(chunks), self.chapter_seconds)
        min_len = min(MIN_CHAPTER_SECONDS, 0.5 * duration / n)
        starts = [0, *tiling_boundaries(chunks, language, n, min_len)]
        bounds = [*starts, len(chunks)]
        titles = [
            make_title(join_texts([c.text for c in chunks[a:b]]), language)
            for a, b in itertools.pairwise(bounds)
        ]
        return chapters_from_groups(chunks, starts, titles, duration)
