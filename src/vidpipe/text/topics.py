"""Topics across a collection: embed each item, cluster offline, name clusters by keywords.

Each item's text (the first :data:`MAX_CHARS` characters of its transcript, then its
scenes' on-screen text and vision-model descriptions, see
:func:`vidpipe.library.understanding.topic_items`) is embedded
with the bundled multilingual E5 model (:mod:`vidpipe.embed.text`), items are grouped
by average-linkage agglomerative clustering on cosine distance (numpy, no scikit-learn),
and the number of topics is chosen by the silhouette score unless given. Each topic is
named by its top keywords (class-based TF-IDF over words; Chinese is split with jieba);
when a text backend that can name topics is passed (``namer``), it names them instead.

Items with fewer than :data:`MIN_CONTENT_WORDS` content words (words left after
stop words, fillers such as ``hmm``/``uh`` and words of one or two letters are
removed; :func:`tokenize`) are left out (:func:`usable_items` says why): a clip
that only says "hmm" names no topic. Fillers never name a topic.

Example::

    topics = find_topics([(1, "printing with movable types ...", "en"),
                          (2, "今天天气很好 ...", "zh")])
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from vidpipe.types import Topic

MAX_CHARS = 2000
MAX_TOPICS = 12
#: Items with fewer content words than this (after stop words, fillers and words of one
#: or two letters) get no topic. Two: the shortest real clips of the test data still
#: carry their subject in two words ("comparatively modern", "нейронные сети"), while
#: a "hmm, uh, okay" clip (no content word) or a lone "thanks" does not.
MIN_CONTENT_WORDS = 2

Item = tuple[int, str, str | None]  # (media_id, text, language)

_WORD = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff]")
_STOP_TEXT = """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if
    in into is it its itself just me more most my myself no nor not now of off on once only
    or other our ours out over own same she should so some such than that the their theirs
    them themselves then there these they this those through to too under until up very was
    we were what when where which while who whom why will with would you your yours one two
    may might must shall upon us well yet still even much many like said say says get got
    it's i'm don't that's there's let's we're they're you're i've what's
    и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только
    ее мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни
    быть был него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где
    есть надо ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет
    ж тогда кто этот того потому этого какой совсем ним здесь этом один почти мой тем чтобы
    нее сейчас были куда зачем всех никогда можно при наконец два об другой хоть после над
    больше тот через эти нас про всего них какая много разве три эту моя впрочем хорошо
    свою этой перед иногда лучше чуть том нельзя такой им более всегда конечно всю между
    это эта также который которые которая которое очень весь вся свой
    的 了 在 是 我 有 和 就 不 人 都 一 一个 上 也 很 到 说 要 去 你 会 着 没有 看 好 自己 这 那
    他 她 它 们 我们 你们 他们 这个 那个 什么 没 吧 吗 呢 啊 把 被 让 给 对 从 而 与 及 等 但
    还 又 或 因为 所以 如果 就是 这样 可以 已经 现在 时候 这些 那些 之 其 中 为 以 于 将"""
#: Hesitations and back-channel words (English spellings Whisper writes, Russian and
#: Chinese ones); with any repetition of their letters (``hmmm``, ``uhhh``) by :data:`_FILLER`.
_FILLER_TEXT = """hmm hm mm mmm mhm uh uhm um umm erm er ah ahh aha oh ooh eh huh yeah yep yup
    nah okay ok wow hey whoa oops ugh
    э эм ээ ммм хм ага угу ну ой ах
    嗯 呃 啊 哦 噢 哈 哎 唉 额 嘛 呦 哟"""
FILLERS = frozenset(_FILLER_TEXT.split())
_FILLER = re.compile(r"^(?:h+m+|m+h?m+|u+h+m*|u+m+|e+r+m*|a+h+|o+h+|e+h+|h+u+h+|a+h+a+)$")
STOPWORDS = frozenset(_STOP_TEXT.split()) | FILLERS


def tokenize(text: str, language: str | None = None) -> list[str]:
    """Lower-case content words; Chinese (or any text with CJK characters) through jieba.

    Stop words, fillers (:data:`FILLERS`, ``hmmm``-like repetitions) and words of one
    or two letters are dropped (CJK words of any length are kept)."""
    if (language or "").startswith("zh") or _CJK.search(text):
        import jieba

        jieba.setLogLevel(60)
        words = [w.strip().lower() for w in jieba.lcut(text)]
        words = [w for w in words if w and (_CJK.search(w) or _WORD.fullmatch(w))]
    else:
        words = [w.lower().strip("'-") for w in _WORD.findall(text)]
    return [
        w
        for w in words
        if w not in STOPWORDS and not _FILLER.match(w) and (len(w) > 2 or _CJK.search(w))
    ]


def usable_items(
    items: Sequence[Item], min_words: int = MIN_CONTENT_WORDS
) -> tuple[list[Item], list[tuple[int, str]]]:
    """Split ``items`` into those with enough text for a topic and those left out.

    Args:
        items: ``(media_id, text, language)``; ``text`` is speech and on-screen text.
        min_words: the fewest content words (:func:`tokenize`) an item needs.

    Returns:
        ``(kept, left_out)``: kept items in the given order, and ``(media_id, reason)``
        for each item left out: ``"no speech or on-screen text"`` when it has no
        content word, else ``"too little speech or on-screen text (N content words;
        at least 2 needed)"``.
    """
    kept: list[Item] = []
    left_out: list[tuple[int, str]] = []
    for mid, text, lang in items:
        n = len(tokenize(text[:MAX_CHARS], lang)) if text else 0
        if n == 0:
            left_out.append((mid, "no speech or on-screen text"))
        elif n < min_words:
            left_out.append(
                (
                    mid,
                    f"too little speech or on-screen text ({n} content word"
                    f"{'s' if n != 1 else ''}; at least {min_words} needed)",
                )
            )
        else:
            kept.append((mid, text, lang))
    return kept, left_out


def _average_linkage(dist: np.ndarray) -> list[list[int]]:
    """Merge history of average-linkage agglomerative clustering: clusters after each merge.

    Returns ``levels`` where ``levels[k]`` is the label array for ``k`` clusters (k>=1).
    """
    n = dist.shape[0]
    clusters: dict[int, list[int]] = {i: [i] for i in range(n)}
    d = dist.astype(np.float64).copy()
    np.fill_diagonal(d, np.inf)
    active = list(range(n))
    levels: dict[int, list[int]] = {}

    def labels() -> list[int]:
        out = [0] * n
        for lab, cid in enumerate(sorted(active, key=lambda c: min(clusters[c]))):
            for i in clusters[cid]:
                out[i] = lab
        return out

    levels[n] = labels()
    while len(active) > 1:
        sub = d[np.ix_(active, active)]
        flat = int(np.argmin(sub))
        a, b = active[flat // len(active)], active[flat % len(active)]
        na, nb = len(clusters[a]), len(clusters[b])
        # average linkage (Lance-Williams): new distances from merged cluster a∪b
        d[a, :] = (na * d[a, :] + nb * d[b, :]) / (na + nb)
        d[:, a] = d[a, :]
        d[a, a] = np.inf
        d[b, :] = np.inf
        d[:, b] = np.inf
        clusters[a] = clusters[a] + clusters.pop(b)
        active.remove(b)
        levels[len(active)] = labels()
    return [levels.get(k, []) for k in range(n + 1)]


def silhouette(dist: np.ndarray, labels: Sequence[int]) -> float:
    """Mean silhouette coefficient for a precomputed distance matrix (-1..1)."""
    lab = np.asarray(labels)
    ks = np.unique(lab)
    if len(ks) < 2 or len(ks) >= len(lab):
        return -1.0
    scores = []
    for i in range(len(lab)):
        same = lab == lab[i]
        if same.sum() <= 1:
            scores.append(0.0)
            continue
        a = dist[i, same].sum() / (same.sum() - 1)
        b = min(dist[i, lab == k].mean() for k in ks if k != lab[i])
        scores.append((b - a) / max(a, b, 1e-12))
    return float(np.mean(scores))


def cluster(vectors: np.ndarray, n_topics: int | None = None) -> list[int]:
    """Cluster unit vectors; ``n_topics`` fixed, or chosen by silhouette (2..12)."""
    n = len(vectors)
    if n == 0:
        return []
    if n == 1 or n_topics == 1:
        return [0] * n
    dist = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    levels = _average_linkage(dist)
    if n_topics is not None:
        return levels[max(1, min(n_topics, n))]
    if n == 2:
        return levels[2] if dist[0, 1] > 0.15 else levels[1]
    best_k, best = 1, 0.0  # one topic unless some split has a positive silhouette
    for k in range(2, min(MAX_TOPICS, n - 1) + 1):
        s = silhouette(dist, levels[k])
        if s > best + 1e-9:
            best_k, best = k, s
    return levels[best_k]


def topic_keywords(docs_by_topic: list[list[str]], top: int = 6) -> list[list[str]]:
    """Top words per topic by class-based TF-IDF (frequent in the topic, rare elsewhere)."""
    counts = [Counter(words) for words in docs_by_topic]
    df = Counter()
    for c in counts:
        df.update(set(c))
    n = len(counts)
    out = []
    for c in counts:
        total = sum(c.values()) or 1
        scored = sorted(
            c.items(), key=lambda kv: (-(kv[1] / total) * math.log(1 + n / df[kv[0]]), kv[0])
        )
        out.append([w for w, _ in scored[:top]])
    return out


def find_topics(
    items: Sequence[Item],
    n_topics: int | None = None,
    namer: Callable[[list[str], list[str]], str] | None = None,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    zh_script: str = "simplified",
) -> list[Topic]:
    """Group ``items`` (``(media_id, text, language)``) into topics.

    Args:
        items: one entry per item; items with fewer than :data:`MIN_CONTENT_WORDS`
            content words are left out (see :func:`usable_items` for the reasons).
        n_topics: a fixed number of topics; default chosen by the silhouette score.
        namer: optional ``namer(keywords, sample_texts) -> name`` (e.g. an LLM); on any
            error the keyword name is kept.
        embed: embedding function (default :func:`vidpipe.embed.text.embed_texts`).
        zh_script: Chinese items' texts are put in this script before anything else
            (:func:`vidpipe.text.script.to_script`), and so are the names and keywords
            of topics holding a Chinese item (an LLM's name too).

    Returns:
        Topics, largest first, each with ``keywords`` and ``media_ids``.
    """
    from vidpipe.text.script import check_script, is_chinese, to_script

    zh_script = check_script(zh_script)
    items = [
        (mid, to_script(text, zh_script) if is_chinese(lang) else text, lang)
        for mid, text, lang in items
    ]
    items, _left_out = usable_items(items)
    if not items:
        return []
    if embed is None:
        from vidpipe.embed.text import embed_texts as embed
    vectors = embed([text[:MAX_CHARS] for _, text, _ in items])
    labels = cluster(vectors, n_topics)
    groups: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(lab, []).append(i)
    ordered = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
    words = [[w for i in g for w in tokenize(items[i][1], items[i][2])] for g in ordered]
    keywords = topic_keywords(words)
    topics = []
    for tid, (g, kw) in enumerate(zip(ordered, keywords, strict=True), start=1):
        name = ", ".join(kw[:3]) or f"topic {tid}"
        if namer is not None:
            with contextlib.suppress(Exception):
                name = namer(kw, [items[i][1][:500] for i in g[:3]]).strip() or name
        if any(is_chinese(items[i][2]) for i in g):
            name, kw = to_script(name, zh_script), [to_script(k, zh_script) for k in kw]
        topics.append(
            Topic(id=tid, name=name, keywords=kw, media_ids=sorted(items[i][0] for i in g))
        )
    return topics


__all__ = [
    "FILLERS",
    "MIN_CONTENT_WORDS",
    "cluster",
    "find_topics",
    "silhouette",
    "tokenize",
    "topic_keywords",
    "usable_items",
]
