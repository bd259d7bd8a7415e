"""Packing short clips into shared 30 s Whisper windows, and splitting the text back.

Whisper's encoder always works on a 30 s window: a 7 s clip transcribed alone pays
for 23 s of padding, and on 2 CPU cores the encoder pass (about 0.6 s for ``base``
int8) is most of a short clip's cost. When many short files are transcribed together,
each file's speech span (Silero VAD, trimmed to the first and last speech with
:data:`TRIM_MARGIN` s around it) is laid into windows of at most
:data:`WINDOW_SECONDS`, :data:`GAP_SECONDS` of digital silence between two clips;
the windows are decoded together by the batched pipeline with word timestamps, and
each word goes back to the clip it was spoken in (:func:`assign_words`), its times
made relative to that file again. ``benchmarks/asr.py`` measures the gain: 3.1x
bare faster-whisper's files per minute on the 32 LJSpeech clips of ``en_dev`` with
``base`` on 2 cores, at a lower WER (3.17 % against 4.06 %).

Only clips of one language share a window (the language is detected per file first,
see :func:`vidpipe.speech.whisper.FasterWhisperEngine.transcribe_many`). Windows are
decoded first without timestamp tokens, then the clips whose words do not cover their
VAD speech (:func:`uncovered_speech`: the decoder stopped early, as it does at the
first gap of a Mandarin window) are packed again and decoded with them; a clip still
uncovered, or in a window that fails Whisper's fallback thresholds, is transcribed
alone, so packing never loses a file's text.

This module is pure arithmetic over sample counts and word times (no model): the
planner, the packer and the splitter, each tested on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidpipe.speech.engine import SAMPLE_RATE

__all__ = [
    "GAP_SECONDS",
    "MAX_CLIP_SECONDS",
    "MIN_SPEECH_SECONDS",
    "TRIM_MARGIN",
    "UNCOVERED_SECONDS",
    "WINDOW_SECONDS",
    "Clip",
    "Window",
    "assign_words",
    "pack",
    "plan_windows",
    "trim_span",
    "uncovered_spans",
    "uncovered_speech",
]

WINDOW_SECONDS = 29.9
"""A packed window's length in seconds: Whisper's 30 s input less one 10 ms frame
(faster-whisper drops the last feature frame of a chunk)."""
GAP_SECONDS = 1.0
"""Digital silence between two clips of a window, seconds. Measured on ``en_dev``
(32 clips, ``base``, beam 5): 1.0 s gave WER 4.2 % against 5.5 % with 2.0 s (the
longer gaps made more windows and more boundary words); the words that straddle a
gap are put back by :func:`assign_words`."""
TRIM_MARGIN = 0.2
"""Seconds kept before the first and after the last VAD speech of a clip."""
UNCOVERED_SECONDS = 0.5
"""A packed clip whose words leave more VAD speech than this (seconds) outside them
is decoded again: the decoder stopped early in its window (Whisper without timestamp
tokens often ends a Mandarin window at its first gap) or skipped part of it."""
WORD_SLACK = 0.5
"""Seconds around a word (and around the first and last) counted as covered by it:
word times from cross-attention are approximate, and VAD keeps some silence."""
MAX_CLIP_SECONDS = 20.0
"""A file whose trimmed speech is longer than this is transcribed alone: with
:data:`GAP_SECONDS` it would leave under 9 s of a window to share."""
MIN_SPEECH_SECONDS = 1.0
"""A file with less VAD speech than this (seconds, all its chunks together) is
transcribed alone: in a shared window so little sound has nothing to anchor it, and a
0.9 s click in an otherwise silent upload came back as a neighbouring clip's word
("book"), where alone it gives no text. Short answers ("yes") pay one encoder pass."""


@dataclass(frozen=True)
class Clip:
    """One file's speech span placed in the packed audio.

    Attributes:
        index: the file's position in the caller's list.
        start: first sample of the span in the file (16 kHz samples).
        end: one past its last sample.
        offset: first sample of the span in the packed audio.
    """

    index: int
    start: int
    end: int
    offset: int

    @property
    def length(self) -> int:
        """Samples in the span."""
        return self.end - self.start

    def to_file(self, t: float) -> float:
        """A time in the packed audio (seconds) as seconds in the file, clamped to
        the span."""
        local = t - self.offset / SAMPLE_RATE + self.start / SAMPLE_RATE
        return min(max(local, self.start / SAMPLE_RATE), self.end / SAMPLE_RATE)

    def contains(self, t: float, slack: float = 0.0) -> bool:
        """Whether packed time ``t`` (seconds) lies in the span, ``slack`` s either side."""
        lo = self.offset / SAMPLE_RATE - slack
        return lo <= t <= lo + self.length / SAMPLE_RATE + 2 * slack


@dataclass(frozen=True)
class Window:
    """A window of the packed audio: samples ``[start, end)`` holding ``clips``."""

    start: int
    end: int
    clips: tuple[Clip, ...]

    def as_clip_timestamps(self) -> dict[str, float]:
        """faster-whisper's ``clip_timestamps`` entry (seconds)."""
        return {"start": self.start / SAMPLE_RATE, "end": self.end / SAMPLE_RATE}


def trim_span(
    speech: Sequence[dict[str, int]], n_samples: int, margin: float = TRIM_MARGIN
) -> tuple[int, int] | None:
    """A clip's speech span: from the first VAD speech start to the last speech end,
    ``margin`` seconds either side, inside ``[0, n_samples]``.

    Args:
        speech: Silero VAD chunks ``{"start", "end"}`` in samples, in order.
        n_samples: the clip's length in samples.

    Returns:
        ``(start, end)`` in samples, or ``None`` when VAD found no speech.
    """
    if not speech:
        return None
    pad = int(margin * SAMPLE_RATE)
    return max(0, speech[0]["start"] - pad), min(n_samples, speech[-1]["end"] + pad)


def plan_windows(
    lengths: Sequence[int],
    *,
    window: float = WINDOW_SECONDS,
    gap: float = GAP_SECONDS,
) -> list[list[int]]:
    """Which clips share a window: first-fit decreasing bin packing (longest clips
    first, each into the first window with room), a clip costing its length plus
    ``gap``. First-fit decreasing uses at most 11/9 of the optimal number of windows
    plus one (Johnson, 1973); it also tends to separate clips that follow each other
    in the caller's order, whose text would run on from one to the next.

    Args:
        lengths: each clip's span in samples (each at most ``window`` less ``gap``).
        window, gap: seconds.

    Returns:
        Lists of clip positions (into ``lengths``), each list in input order.

    Raises:
        ValueError: a clip does not fit in a window.
    """
    cap = int(window * SAMPLE_RATE)
    pad = int(gap * SAMPLE_RATE)
    bins: list[tuple[int, list[int]]] = []
    for i in sorted(range(len(lengths)), key=lambda k: (-lengths[k], k)):
        need = lengths[i] + pad
        if need > cap:
            raise ValueError(f"clip {i} ({lengths[i] / SAMPLE_RATE:.1f} s) fits no window")
        for b, (used, members) in enumerate(bins):
            if used + need <= cap:
                bins[b] = (used + need, [*members, i])
                break
        else:
            bins.append((need, [i]))
    return [sorted(members) for _, members in bins]


def pack(
    audios: Sequence[np.ndarray],
    spans: Sequence[tuple[int, int]],
    indexes: Sequence[int],
    *,
    window: float = WINDOW_SECONDS,
    gap: float = GAP_SECONDS,
) -> tuple[np.ndarray, list[Window]]:
    """Lay clips into windows of one packed float32 array.

    Args:
        audios: the files' samples (16 kHz mono float32), indexed by ``indexes``.
        spans: per packed clip, its ``(start, end)`` samples in its file.
        indexes: per packed clip, its file's position in ``audios``.
        window, gap: seconds (see :func:`plan_windows`).

    Returns:
        ``(packed, windows)``: the samples, and the windows with their clips in the
        order they lie (each clip followed by ``gap`` s of zeros).
    """
    plan = plan_windows([e - s for s, e in spans], window=window, gap=gap)
    silence = np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    windows: list[Window] = []
    cursor = 0
    for members in plan:
        w_start = cursor
        clips = []
        for m in members:
            s, e = spans[m]
            clips.append(Clip(index=indexes[m], start=s, end=e, offset=cursor))
            parts += [np.asarray(audios[indexes[m]][s:e], dtype=np.float32), silence]
            cursor += (e - s) + silence.shape[0]
        windows.append(Window(start=w_start, end=cursor, clips=tuple(clips)))
    packed = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return packed, windows


def assign_words(words: Sequence, clips: Sequence[Clip]) -> list[list[tuple[object, int]]]:
    """Give each decoded word of a window to the clip it was spoken in.

    Whisper's word times come from cross-attention alignment (DTW), and a word
    after a pause often starts where the previous word ended: the first word of a
    clip then straddles the silence before it (``in`` at 9.38-10.76 s with the
    clips at 0-9.66 and 10.66-12.55 s). So a word belongs to the clip holding its
    end; if its end is in a gap, to the clip holding its start; else to the clip
    nearest its middle.

    Args:
        words: objects with ``start`` and ``end`` in packed seconds, in order.
        clips: the window's clips, in the order they lie.

    Returns:
        Per clip (same order), its ``(word, position in words)`` pairs in order.
    """
    out: list[list[tuple[object, int]]] = [[] for _ in clips]
    for pos, w in enumerate(words):
        k = next((i for i, c in enumerate(clips) if c.contains(float(w.end), 0.02)), None)
        if k is None:
            k = next((i for i, c in enumerate(clips) if c.contains(float(w.start), 0.02)), None)
        if k is None:
            mid = (float(w.start) + float(w.end)) / 2

            def dist(c: Clip, mid: float = mid) -> float:
                lo = c.offset / SAMPLE_RATE
                return max(lo - mid, mid - (lo + c.length / SAMPLE_RATE), 0.0)

            k = min(range(len(clips)), key=lambda i: dist(clips[i]))
        out[k].append((w, pos))
    return out


def uncovered_spans(
    chunks: Sequence[dict[str, int]],
    words: Sequence[tuple[float, float]],
    slack: float = WORD_SLACK,
) -> list[tuple[float, float]]:
    """The stretches of VAD speech that no word covers.

    Args:
        chunks: Silero VAD speech ``{"start", "end"}`` in samples, in order.
        words: the words' ``(start, end)`` in seconds (any order).
        slack: seconds either side of each word counted as covered.

    Returns:
        ``(start, end)`` in seconds, in order: the parts of the speech chunks outside
        every ``[start - slack, end + slack]``; all the speech when there is no word.
    """
    merged: list[list[float]] = []
    for a, b in sorted((a - slack, b + slack) for a, b in words):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out: list[tuple[float, float]] = []
    for c in chunks:
        s, e = c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE
        for a, b in merged:
            if b <= s or a >= e:
                continue
            if a > s:
                out.append((s, a))
            s = max(s, b)
            if s >= e:
                break
        if s < e:
            out.append((s, e))
    return out


def uncovered_speech(
    chunks: Sequence[dict[str, int]],
    words: Sequence[tuple[float, float]],
    slack: float = WORD_SLACK,
) -> float:
    """Seconds of a clip's VAD speech that no word covers (:func:`uncovered_spans`).

    Args:
        chunks: the clip's Silero VAD speech ``{"start", "end"}`` in samples of its file.
        words: the words' ``(start, end)`` in seconds of the file, in order.
        slack: seconds either side of each word counted as covered.

    Returns:
        Speech seconds outside every ``[start - slack, end + slack]``; all the speech
        when there is no word.
    """
    return sum(b - a for a, b in uncovered_spans(chunks, words, slack))
