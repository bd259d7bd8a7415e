"""Speaker labels on a transcript: each word takes the speaker whose turn covers it most,
and segments are split where the speaker changes (the word-level assignment of
WhisperX's ``assign_word_speakers``, Bain et al., Interspeech 2023)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidpipe.types import Segment, SpeakerTurn, Transcript, Word

NEAREST_WITHIN = 1.0
"""Seconds: a word (or segment) that no turn covers takes the speaker of the nearest turn
when that turn is at most this far away; farther, it keeps no speaker."""


def _speaker_of(
    start: float, end: float, turns: Sequence[SpeakerTurn], starts: np.ndarray, ends: np.ndarray
) -> str | None:
    if not turns:
        return None
    overlap = np.minimum(ends, end) - np.maximum(starts, start)
    by_speaker: dict[str, float] = {}
    for i in np.flatnonzero(overlap > 0):
        by_speaker[turns[i].speaker] = by_speaker.get(turns[i].speaker, 0.0) + overlap[i]
    if by_speaker:
        return max(by_speaker, key=lambda s: (by_speaker[s], -ord(s[0]) if s else 0))
    gap = np.maximum(starts - end, start - ends)
    i = int(np.argmin(gap))
    return turns[i].speaker if gap[i] <= NEAREST_WITHIN else None


def assign_speakers(transcript: Transcript, turns: Sequence[SpeakerTurn]) -> Transcript:
    """A copy of ``transcript`` with speakers on its words and segments.

    Each word gets the speaker whose turns overlap its ``[start, end]`` most (ties: the
    speaker listed first); a word no turn covers takes the nearest turn's speaker if it
    is within :data:`NEAREST_WITHIN` seconds, else none. A segment with words is split
    where consecutive words change speaker (a word without a speaker stays with the
    words before it); each piece spans its words (the first piece keeps the segment's
    start, the last its end) and its text is its words joined. A segment without words
    takes the speaker covering its span most. Segment ids are renumbered from 0;
    ``speakers`` lists the turns' speakers in order of first speech.

    Args:
        transcript: any transcript (times in seconds).
        turns: speaker turns in seconds (e.g. :attr:`Diarization.turns`); may overlap.

    Returns:
        A new :class:`Transcript`; ``transcript`` is not changed.
    """
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    starts = np.array([t.start for t in ordered], float)
    ends = np.array([t.end for t in ordered], float)
    speakers: list[str] = []
    for t in ordered:
        if t.speaker not in speakers:
            speakers.append(t.speaker)
    out: list[Segment] = []
    for seg in transcript.segments:
        if not seg.words:
            who = _speaker_of(seg.start, seg.end, ordered, starts, ends)
            out.append(seg.model_copy(update={"id": len(out), "speaker": who}))
            continue
        words = [
            w.model_copy(update={"speaker": _speaker_of(w.start, w.end, ordered, starts, ends)})
            for w in seg.words
        ]
        groups: list[list[Word]] = []
        current: str | None = None
        for w in words:
            if groups and (w.speaker is None or w.speaker == current):
                groups[-1].append(w)
                continue
            if groups and current is None:  # leading words without a speaker join this one
                groups[-1].append(w)
                current = w.speaker
                continue
            groups.append([w])
            current = w.speaker
        for gi, group in enumerate(groups):
            who = next((w.speaker for w in group if w.speaker is not None), None)
            update: dict = {"id": len(out), "speaker": who, "words": group}
            if len(groups) > 1:
                update |= {
                    "start": seg.start if gi == 0 else group[0].start,
                    "end": seg.end if gi == len(groups) - 1 else group[-1].end,
                    "text": "".join(w.word for w in group),
                }
            out.append(seg.model_copy(update=update))
    return transcript.model_copy(update={"segments": out, "speakers": speakers})
