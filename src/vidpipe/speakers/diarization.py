"""Offline speaker diarization: who speaks when, overlap included.

The recipe is pyannote's ``speaker-diarization-3.1`` pipeline (Bredin, "pyannote.audio
speaker diarization pipeline", Interspeech 2023; ``pyannote/audio/pipelines/
speaker_diarization.py``) with the models vidpipe bundles:

1. Voice activity: Silero VAD (shipped in faster-whisper). No speech at all gives no
   turns without running the other models.
2. Segmentation: segmentation-3.0 over 10 s windows every ``step`` seconds, decoded to
   up to 3 local speakers per frame, overlap included (:mod:`.segmentation`).
3. Embeddings: one GE2E embedding per (window, local speaker), for every
   :data:`EMBED_STEP`-th window, from the samples where that speaker speaks alone (all
   its samples if it is never alone long enough; pyannote's ``exclude_overlap``)
   (:mod:`.embedding`). The windows in between inherit the clusters of the nearest
   embedded window through the frames they share.
4. Clustering: agglomerative clustering (centroid linkage on L2-normalised embeddings,
   pyannote's ``AgglomerativeClustering``) of the embeddings of speakers that speak
   alone long enough in their window; the number of clusters follows from a distance
   threshold, or is given (``num_speakers``) or bounded (``min_speakers``,
   ``max_speakers``). Every local speaker is then assigned to a cluster centroid,
   one-to-one within its window (Hungarian algorithm on cosine similarity).
5. Reconstruction: per frame, the number of speakers is the rounded mean over the
   windows covering it of their local speaker counts, and the speakers whose clusters
   are most active there take those places (pyannote's ``speaker_count`` and
   ``to_diarization``). Runs of active frames become turns.

Thresholds were chosen on the dev set (``tests/data/diarization``, six AMI and
Picovoice recordings) and are documented where they are defined; nothing else was
fitted to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vidpipe.errors import UsageError
from vidpipe.speakers.embedding import load_voice_encoder, normalize
from vidpipe.speakers.segmentation import (
    FRAME_SIZE,
    FRAME_STEP,
    LOCAL_SPEAKERS,
    SAMPLE_RATE,
    Segmentation,
    load_segmenter,
)
from vidpipe.types import SpeakerTurn

STEP = 1.0
"""Seconds between segmentation windows (pyannote: 10 % of the 10 s window)."""
EMBED_STEP = 2.0
"""Seconds between the windows whose local speakers are embedded (every second
window at ``STEP`` 1 s: GE2E costs ~7 ms per second of speech on one core)."""
MIN_CLEAN = 1.0
"""Seconds a local speaker must speak alone in a window for its embedding to take part
in clustering (pyannote uses 20 % of the window, 2 s; GE2E needs less)."""
MIN_EMBED = 0.3
"""Seconds of speech below which a local speaker gets no embedding (and no turn from
that window)."""
THRESHOLD = 0.45
"""Clustering threshold: the Euclidean distance between L2-normalised centroids
(cosine similarity ``1 - d^2/2`` = 0.90) above which two clusters stay apart. Chosen on
the dev set: DER 0.31 and 3 of 6 speaker counts right at 0.40-0.45, fewer speakers
found from 0.5 up (README, "Speaker diarization")."""
EMBED_RATE = 0.625
"""GE2E partials per second of a local speaker's speech (back to back 1.6 s partials;
Resemblyzer's default 1.3 overlaps them, at twice the cost)."""
MIN_CLUSTER_SIZE = 1
"""Clusters with fewer embeddings are merged into the nearest larger one (pyannote's
``min_cluster_size``; 1 = off: on the dev set's 30 s clips, 2 or 3 merged away real
speakers with little speech)."""


@dataclass
class Diarization:
    """The result of :func:`diarize`.

    Attributes:
        turns: speaker turns sorted by start (seconds); turns may overlap.
        speakers: labels ``SPEAKER_00``... in order of first speech.
        embeddings: label -> 256-d L2-normalised GE2E centroid of that speaker (for
            matching known voices, :func:`vidpipe.speakers.voiceprints.name_speakers`).
        duration: seconds of audio diarized.
    """

    turns: list[SpeakerTurn]
    speakers: list[str] = field(default_factory=list)
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    duration: float = 0.0

    def renamed(self, names: dict[str, str]) -> Diarization:
        """A copy whose speakers listed in ``names`` (label -> name) take their names."""
        return Diarization(
            turns=[
                t.model_copy(update={"speaker": names.get(t.speaker, t.speaker)})
                for t in self.turns
            ],
            speakers=[names.get(s, s) for s in self.speakers],
            embeddings={names.get(k, k): v for k, v in self.embeddings.items()},
            duration=self.duration,
        )


def speech_spans(audio: np.ndarray) -> list[tuple[float, float]]:
    """Speech regions found by Silero VAD (faster-whisper's ``get_speech_timestamps``
    with its default options).

    Args:
        audio: 16 kHz mono float32 samples.

    Returns:
        ``(start, end)`` in seconds, in order; empty for silence.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if audio.size == 0:
        return []
    spans = get_speech_timestamps(np.asarray(audio, dtype=np.float32), VadOptions())
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in spans]


def _check_counts(
    num_speakers: int | None, min_speakers: int | None, max_speakers: int | None
) -> tuple[int, int]:
    for name, v in (
        ("num_speakers", num_speakers),
        ("min_speakers", min_speakers),
        ("max_speakers", max_speakers),
    ):
        if v is not None and (not isinstance(v, int | np.integer) or v < 1):
            raise UsageError(f"{name} must be a whole number of at least 1, not {v!r}")
    if num_speakers is not None:
        return num_speakers, num_speakers
    lo, hi = min_speakers or 1, max_speakers or 10**6
    if lo > hi:
        raise UsageError(f"min_speakers ({lo}) is above max_speakers ({hi})")
    return lo, hi


def cluster_embeddings(
    embeddings: np.ndarray,
    threshold: float = THRESHOLD,
    min_clusters: int = 1,
    max_clusters: int = 10**6,
    min_cluster_size: int = MIN_CLUSTER_SIZE,
) -> np.ndarray:
    """Agglomerative clustering of speaker embeddings.

    Centroid linkage on L2-normalised vectors (Euclidean distance), cut at
    ``threshold``; clusters smaller than ``min_cluster_size`` are merged into the
    nearest larger one by centroid cosine similarity (pyannote's
    ``AgglomerativeClustering.cluster``). When the count falls outside
    ``[min_clusters, max_clusters]`` the tree is cut at the nearest allowed count.

    Args:
        embeddings: ``(n, d)`` vectors.
        threshold: distance between normalised centroids that separates clusters.
        min_clusters, max_clusters: bounds on the number of clusters.
        min_cluster_size: smallest cluster kept on its own.

    Returns:
        ``(n,)`` cluster indices ``0..k-1``.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(embeddings)
    if n == 0:
        return np.zeros(0, int)
    if n == 1:
        return np.zeros(1, int)
    x = normalize(embeddings).astype(np.float64)
    tree = linkage(x, method="centroid", metric="euclidean")
    labels = fcluster(tree, threshold, criterion="distance") - 1
    labels = _merge_small(x, labels, min(min_cluster_size, max(1, n // 2)))
    k = labels.max() + 1
    want = min(max(k, min_clusters), max_clusters, n)
    if want != k:
        labels = fcluster(tree, want, criterion="maxclust") - 1
        if want > 1:
            labels = _merge_small(x, labels, 1)
    _, labels = np.unique(labels, return_inverse=True)
    return labels


def _merge_small(x: np.ndarray, labels: np.ndarray, min_size: int) -> np.ndarray:
    sizes = np.bincount(labels)
    large = np.flatnonzero(sizes >= min_size)
    if large.size == 0 or large.size == sizes.size:
        return labels
    centroids = normalize(np.stack([x[labels == c].mean(axis=0) for c in large]))
    out = labels.copy()
    for i in np.flatnonzero(sizes[labels] < min_size):
        out[i] = large[int(np.argmax(centroids @ x[i]))]
    return out


def _sample_mask(frames: np.ndarray, n: int) -> np.ndarray:
    """Frame activity ``(589,)`` -> sample activity ``(n,)`` (each sample takes the frame
    whose centre is nearest)."""
    idx = np.clip((np.arange(n) - FRAME_SIZE // 2 + FRAME_STEP // 2) // FRAME_STEP, 0, None)
    idx = np.minimum(idx, frames.size - 1)
    return frames[idx] > 0


def diarize(
    audio: np.ndarray,
    *,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    threshold: float = THRESHOLD,
    step: float = STEP,
    progress: Callable[[float, str], None] | None = None,
) -> Diarization:
    """Who speaks when in a recording.

    Args:
        audio: 16 kHz mono float32 samples (:func:`vidpipe.media.audio.decode_audio`).
        num_speakers: the exact number of speakers, when known.
        min_speakers, max_speakers: bounds on the estimated number.
        threshold: clustering distance threshold (:data:`THRESHOLD`).
        step: seconds between segmentation windows.
        progress: called as ``progress(fraction, step_name)``.

    Returns:
        A :class:`Diarization`: turns (seconds; overlapping turns for overlapped speech),
        labels ``SPEAKER_00``... by first speech, centroid embeddings per label. Silence
        gives no turns.

    Raises:
        UsageError: a speaker count below 1, ``min_speakers > max_speakers``, or a
            ``step`` outside 0.1-10 s.
        ModelError: the ``diarize`` extra is missing or a model file is corrupt.
    """
    lo, hi = _check_counts(num_speakers, min_speakers, max_speakers)
    if not 0.1 <= step <= 10.0:
        raise UsageError(f"step must be 0.1-10 seconds (the window is 10 s), not {step!r}")
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    duration = audio.size / SAMPLE_RATE
    report = progress or (lambda _f, _s: None)
    report(0.0, "voice activity")
    if not speech_spans(audio):
        return Diarization(turns=[], duration=duration)
    report(0.1, "segmentation")
    seg = load_segmenter()(audio, step=step)
    encoder = load_voice_encoder()
    report(0.4, "embeddings")
    emb, clean, keys = _embed_local(audio, seg, encoder, step)
    if not keys:
        return Diarization(turns=[], duration=duration)
    report(0.8, "clustering")
    use = clean >= MIN_CLEAN
    if not use.any():
        use = clean >= clean.max()
    labels = cluster_embeddings(emb[use], threshold, lo, hi)
    k = int(labels.max()) + 1
    centroids = normalize(np.stack([emb[use][labels == c].mean(axis=0) for c in range(k)]))
    assign = _assign_local(seg, emb, keys, centroids)
    turns, order = _reconstruct(seg, assign, k, audio.size)
    names = {c: f"SPEAKER_{i:02d}" for i, c in enumerate(order)}
    report(1.0, "done")
    return Diarization(
        turns=[SpeakerTurn(start=s, end=e, speaker=names[c]) for s, e, c in turns],
        speakers=[names[c] for c in order],
        embeddings={names[c]: centroids[c] for c in order},
        duration=duration,
    )


def _binary_turns(binary: np.ndarray, n_samples: int):
    k = binary.shape[1]
    duration = n_samples / SAMPLE_RATE
    centre0 = FRAME_SIZE / 2 / SAMPLE_RATE
    frame_s = FRAME_STEP / SAMPLE_RATE
    turns: list[tuple[float, float, int]] = []
    for g in range(k):
        col = np.concatenate([[False], binary[:, g], [False]])
        edges = np.flatnonzero(np.diff(col.astype(np.int8)))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            start = max(0.0, centre0 + (a - 0.5) * frame_s)
            end = min(duration, centre0 + (b - 0.5) * frame_s)
            if end > start:
                turns.append((round(start, 3), round(end, 3), g))
    turns.sort()
    order: list[int] = []
    for _s, _e, g in turns:
        if g not in order:
            order.append(g)
    return turns, order


def _embed_local(
    audio: np.ndarray, seg: Segmentation, encoder, step: float
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Embeddings of the local speakers of every ``EMBED_STEP``-th window.

    Returns ``(embeddings (m, 256), clean seconds (m,), keys [(window, local)])``.
    """
    every = max(1, round(EMBED_STEP / step))
    chosen = list(range(0, len(seg.starts), every))
    if chosen[-1] != len(seg.starts) - 1:
        chosen.append(len(seg.starts) - 1)
    clips: list[np.ndarray] = []
    clean_s: list[float] = []
    keys: list[tuple[int, int]] = []
    frame_s = FRAME_STEP / SAMPLE_RATE
    for c in chosen:
        act = seg.activity[c]
        window = audio[seg.starts[c] : seg.starts[c] + 160000]
        alone = act * (act.sum(axis=1, keepdims=True) == 1)
        for j in range(LOCAL_SPEAKERS):
            if act[:, j].sum() * frame_s < MIN_EMBED:
                continue
            clean = alone[:, j].sum() * frame_s
            frames = alone[:, j] if clean >= MIN_EMBED else act[:, j]
            samples = window[_sample_mask(frames, window.size)]
            if samples.size < MIN_EMBED * SAMPLE_RATE:
                continue
            clips.append(samples)
            clean_s.append(float(clean))
            keys.append((c, j))
    if not clips:
        return np.zeros((0, 256), np.float32), np.zeros(0), []
    return encoder.embed_many(clips, rate=EMBED_RATE), np.asarray(clean_s), keys


def _assign_local(
    seg: Segmentation, emb: np.ndarray, keys: list[tuple[int, int]], centroids: np.ndarray
) -> np.ndarray:
    """``(windows, 3)`` global speaker of each local speaker (-1: none).

    Embedded windows assign their local speakers one-to-one to centroids (Hungarian);
    windows between them take, for each local speaker, the assignment of the nearest
    embedded window whose same local speaker overlaps it most in time.
    """
    from scipy.optimize import linear_sum_assignment

    n_win = len(seg.starts)
    assign = np.full((n_win, LOCAL_SPEAKERS), -1, int)
    by_window: dict[int, list[int]] = {}
    for i, (c, _j) in enumerate(keys):
        by_window.setdefault(c, []).append(i)
    for c, rows in by_window.items():
        sim = emb[rows] @ centroids.T
        r, col = linear_sum_assignment(-sim)
        for a, b in zip(r, col, strict=True):
            assign[c, keys[rows[a]][1]] = b
    embedded = sorted(by_window)
    for c in range(n_win):
        if c in by_window:
            continue
        # the nearest embedded window: map this window's local speakers to its own by
        # co-activity over their shared frames (local labels are permutation-free)
        d = min(embedded, key=lambda e: abs(e - c))
        shift = round((seg.starts[c] - seg.starts[d]) / FRAME_STEP)
        a_c, a_d = _shared(seg.activity[c], seg.activity[d], shift)
        if a_c is None:
            continue
        overlap = a_c.T @ a_d  # (3, 3): frames where local i of c and j of d both speak
        r, col = linear_sum_assignment(-overlap)
        for i, j in zip(r, col, strict=True):
            if overlap[i, j] > 0:
                assign[c, i] = assign[d, j]
    return assign


def _shared(a: np.ndarray, b: np.ndarray, shift: int):
    """Frames of window ``a`` and ``b`` that cover the same time, ``a`` starting ``shift``
    frames after ``b``."""
    n = a.shape[0]
    if abs(shift) >= n:
        return None, None
    if shift >= 0:
        return a[: n - shift], b[shift:]
    return a[-shift:], b[: n + shift]


def _reconstruct(
    seg: Segmentation, assign: np.ndarray, k: int, n_samples: int
) -> tuple[list[tuple[float, float, int]], list[int]]:
    """Global turns ``(start, end, cluster)`` and the clusters in order of first speech."""
    n_frames = max(1, -(-(n_samples - FRAME_SIZE) // FRAME_STEP) + 1)
    total = round(seg.starts[-1] / FRAME_STEP) + seg.activity.shape[1]
    act = np.zeros((max(total, n_frames), k), np.float32)
    count = np.zeros(act.shape[0], np.float32)
    cover = np.zeros(act.shape[0], np.float32)
    for c, s in enumerate(seg.starts):
        o = round(s / FRAME_STEP)
        a = seg.activity[c]
        m = a.shape[0]
        count[o : o + m] += a.sum(axis=1)
        cover[o : o + m] += 1
        for j in range(LOCAL_SPEAKERS):
            g = assign[c, j]
            if g >= 0:
                act[o : o + m, g] = act[o : o + m, g] + a[:, j]
    act, count, cover = act[:n_frames], count[:n_frames], cover[:n_frames]
    speakers = np.rint(count / np.maximum(cover, 1)).astype(int)
    ranked = np.argsort(-act, axis=1, kind="stable")
    binary = np.zeros_like(act, dtype=bool)
    for t in np.flatnonzero(speakers):
        top = ranked[t, : min(speakers[t], k)]
        binary[t, top[act[t, top] > 0]] = True
    return _binary_turns(binary, n_samples)
