"""Diarization error rate (DER), the standard score of speaker diarization.

``DER = (missed + false alarm + confusion) / total``, all in seconds of speaker time
inside the scored region (NIST RT-09 evaluation plan; pyannote.metrics'
``DiarizationErrorRate``): over the elementary pieces between all turn boundaries, with
``N_ref`` reference and ``N_hyp`` hypothesis speakers active and ``N_correct`` of them
matched, ``missed = max(0, N_ref - N_hyp)``, ``false alarm = max(0, N_hyp - N_ref)``,
``confusion = min(N_ref, N_hyp) - N_correct``, ``total = N_ref``, each times the
piece's duration. Hypothesis speakers are mapped one-to-one to reference speakers so
as to maximise their co-occurring time (Hungarian algorithm). Overlapped speech is
scored (not skipped).

The collar follows pyannote.metrics: ``collar`` seconds *in total* around every
reference turn boundary (half before, half after) are not scored, so ``collar=0.5``
equals NIST md-eval's ``-c 0.25``. Results match ``pyannote.metrics``
(``DiarizationErrorRate(collar=..., skip_overlap=False)``) to 1e-6 (tested).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vidpipe.types import SpeakerTurn

COLLAR = 0.5
"""Default collar in seconds (total, pyannote's convention: +-0.25 s per boundary)."""


@dataclass(frozen=True)
class DERComponents:
    """Seconds of each error kind, and of reference speech, inside the scored region.

    Add components of several files with ``+`` and read :attr:`der` for their total.
    """

    total: float = 0.0
    missed: float = 0.0
    false_alarm: float = 0.0
    confusion: float = 0.0

    def __add__(self, other: DERComponents) -> DERComponents:
        return DERComponents(
            self.total + other.total,
            self.missed + other.missed,
            self.false_alarm + other.false_alarm,
            self.confusion + other.confusion,
        )

    @property
    def der(self) -> float:
        """``(missed + false_alarm + confusion) / total``; 0 when both are empty, inf
        when only the reference is."""
        err = self.missed + self.false_alarm + self.confusion
        if self.total > 0:
            return err / self.total
        return 0.0 if err == 0 else float("inf")


def _scored_region(
    reference: Sequence[SpeakerTurn], uem: tuple[float, float], collar: float
) -> list[tuple[float, float]]:
    """``uem`` minus collars around reference boundaries, as sorted disjoint spans."""
    lo, hi = uem
    if collar <= 0:
        return [(lo, hi)] if hi > lo else []
    half = collar / 2
    cuts = sorted((b - half, b + half) for t in reference for b in (t.start, t.end))
    out: list[tuple[float, float]] = []
    pos = lo
    for a, b in cuts:
        if a > pos:
            out.append((pos, min(a, hi)))
        pos = max(pos, b)
        if pos >= hi:
            break
    if pos < hi:
        out.append((pos, hi))
    return [(a, b) for a, b in out if b > a]


def der_components(
    reference: Iterable[SpeakerTurn],
    hypothesis: Iterable[SpeakerTurn],
    *,
    collar: float = COLLAR,
    uem: tuple[float, float] | None = None,
) -> DERComponents:
    """The DER components of one recording.

    Args:
        reference: true speaker turns (seconds).
        hypothesis: system speaker turns (seconds); labels need not match the
            reference's (they are mapped optimally).
        collar: seconds in total around each reference boundary left unscored.
        uem: ``(start, end)`` seconds scored; default the span from the earliest to
            the latest turn of either side (pyannote's approximation). Give
            ``(0, duration)`` to score the whole recording.

    Returns:
        :class:`DERComponents` in seconds.
    """
    from scipy.optimize import linear_sum_assignment

    ref, hyp = list(reference), list(hypothesis)
    if uem is None:
        every = ref + hyp
        if not every:
            return DERComponents()
        uem = (min(t.start for t in every), max(t.end for t in every))
    region = _scored_region(ref, uem, collar)
    if not region:
        return DERComponents()
    ref_names = sorted({t.speaker for t in ref})
    hyp_names = sorted({t.speaker for t in hyp})
    points = {p for span in region for p in span}
    for t in ref + hyp:
        points.update((t.start, t.end))
    grid = np.array(sorted(points))
    starts, ends = grid[:-1], grid[1:]
    mids = (starts + ends) / 2
    width = ends - starts
    scored = np.zeros(mids.size, bool)
    for a, b in region:
        scored |= (mids > a) & (mids < b)
    width = np.where(scored, width, 0.0)

    def activity(turns: list[SpeakerTurn], names: list[str]) -> np.ndarray:
        idx = {n: i for i, n in enumerate(names)}
        act = np.zeros((mids.size, len(names)), bool)
        for t in turns:
            act[(mids > t.start) & (mids < t.end), idx[t.speaker]] = True
        return act

    r, h = activity(ref, ref_names), activity(hyp, hyp_names)
    n_ref, n_hyp = r.sum(axis=1), h.sum(axis=1)
    correct = np.zeros(mids.size)
    if ref_names and hyp_names:
        cooc = (r * width[:, None]).T.astype(float) @ h.astype(float)
        rows, cols = linear_sum_assignment(-cooc)
        for i, j in zip(rows, cols, strict=True):
            correct += r[:, i] & h[:, j]
    return DERComponents(
        total=float(np.sum(n_ref * width)),
        missed=float(np.sum(np.maximum(0, n_ref - n_hyp) * width)),
        false_alarm=float(np.sum(np.maximum(0, n_hyp - n_ref) * width)),
        confusion=float(np.sum((np.minimum(n_ref, n_hyp) - correct) * width)),
    )


def diarization_error_rate(
    reference: Iterable[SpeakerTurn],
    hypothesis: Iterable[SpeakerTurn],
    *,
    collar: float = COLLAR,
    uem: tuple[float, float] | None = None,
) -> float:
    """DER of one recording (see :func:`der_components`); 0.25 means 25 %."""
    return der_components(reference, hypothesis, collar=collar, uem=uem).der
