"""The ASR engine interface and its options.

An engine turns 16 kHz mono float32 audio into a :class:`~vidpipe.types.Transcript`.
Engines are chosen by name through :func:`vidpipe.speech.get_engine`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, Field

from vidpipe.text.sentences import ends_sentence, word_ends
from vidpipe.types import Segment, Transcript

SAMPLE_RATE = 16000
"""Whisper's input rate in Hz; every engine takes audio at this rate."""

ProgressCallback = Callable[[float, float], None]
"""Called as ``progress(seconds_done, seconds_total)`` in audio seconds."""


class TranscribeOptions(BaseModel):
    """Decoding options shared by all engines (engines ignore what they cannot do).

    Defaults avoid Whisper's known failure modes on long audio: VAD removes silence
    (where Whisper hallucinates text), and the previous text is not fed back as a
    prompt (``condition_on_previous_text=False``), which breaks repetition loops
    (see faster-whisper and openai/whisper discussions #679 and #1762).
    """

    language: str | None = Field(None, description="ISO 639-1 code; None detects it.")
    task: Literal["transcribe", "translate"] = "transcribe"
    word_timestamps: bool = False
    sentence_segments: bool = True
    """Split long segments into sentences using word times (aligned even when
    ``word_timestamps`` is off; the words are then dropped from the result). The
    batched pipeline emits one segment per VAD chunk (up to 30 s); subtitles want
    sentence-sized cues."""
    vad: bool = True
    beam_size: int = Field(5, ge=1, le=20)
    batch_size: int = Field(8, ge=1, le=64, description="Batched pipeline; 1 = sequential.")
    initial_prompt: str | None = None
    temperature: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    condition_on_previous_text: bool = False
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4


@runtime_checkable
class ASREngine(Protocol):
    """Speech-to-text engine.

    ``transcribe(audio, options, progress)`` takes a 1-D float32 array of samples at
    :data:`SAMPLE_RATE` Hz in [-1, 1] and returns a Transcript whose times are seconds
    from the start of that array. It raises :class:`~vidpipe.errors.VidpipeError`
    subclasses for expected failures.
    """

    name: str

    def transcribe(
        self,
        audio: np.ndarray,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript: ...


def enforce_monotonic(segments: list[Segment], duration: float) -> list[Segment]:
    """Make segment and word times non-overlapping, ordered and inside ``[0, duration]``.

    faster-whisper's batched pipeline decodes VAD chunks independently, so the last
    segment of one chunk can overlap the first of the next by a few hundred ms (seen
    on LJSpeech: 22.90-24.20 then 24.06-28.86). Subtitles and word-level consumers
    need order, so each segment starts no earlier than the previous one ends, ends
    no earlier than it starts, and its words lie inside it in order. Times move by
    at most the overlap; nothing is dropped.

    Args:
        segments: in decoding order; modified copies are returned.
        duration: audio length in seconds (upper bound for every time).

    Returns:
        New Segment objects with ids renumbered from 0.
    """
    out: list[Segment] = []
    prev_end = 0.0
    for seg in segments:
        start = min(max(seg.start, prev_end, 0.0), duration)
        end = min(max(seg.end, start), duration)
        words = None
        if seg.words is not None:
            words = []
            w_prev = start
            for w in seg.words:
                w_start = min(max(w.start, w_prev), end)
                w_end = min(max(w.end, w_start), end)
                words.append(w.model_copy(update={"start": w_start, "end": w_end}))
                w_prev = w_end
        out.append(
            seg.model_copy(update={"id": len(out), "start": start, "end": end, "words": words})
        )
        prev_end = end
    return out


PAUSE_SPLIT = 0.8
"""A silence between words this long (seconds) also ends a segment."""
MAX_SEGMENT_SECONDS = 12.0
"""A segment longer than this is cut at its next comma or pause (subtitle readability)."""


def split_sentences(segment: Segment, keep_words: bool) -> list[Segment]:
    """Split a segment with word times into sentence-sized segments.

    A new segment starts after a word that
    :func:`~vidpipe.text.sentences.ends_sentence` (closing quotes allowed), at a
    pause of at least :data:`PAUSE_SPLIT` s, or after a comma once the segment is
    longer than :data:`MAX_SEGMENT_SECONDS`. A pause splits only where a word ends
    (:func:`~vidpipe.text.sentences.word_ends`): Whisper's Mandarin "words" are
    characters, and their times can put a pause inside ``认为``. Times come from the
    words; scores are the parent's. Text is the words joined as Whisper spelled them (leading spaces
    included), so CJK text without spaces stays unspaced.

    Args:
        segment: a segment whose ``words`` are set (otherwise it is returned as is).
        keep_words: keep ``words`` on the new segments.

    Returns:
        One or more segments (ids are left to the caller).
    """
    words = segment.words or []
    if not words:
        return [segment]
    groups: list[list] = [[]]
    ends = word_ends("".join(w.word for w in words))
    pos = 0
    for i, w in enumerate(words):
        pos += len(w.word)
        groups[-1].append(w)
        token = w.word.strip()
        nxt = words[i + 1] if i + 1 < len(words) else None
        if nxt is None:
            break
        long_enough = w.end - groups[-1][0].start >= MAX_SEGMENT_SECONDS
        if (
            ends_sentence(token)
            or (nxt.start - w.end >= PAUSE_SPLIT and pos in ends)
            or (long_enough and token.endswith((",", "，", "、", ";", ":")))
        ):
            groups.append([])
    out = []
    for g in groups:
        if not g:
            continue
        text = "".join(w.word for w in g).strip()
        out.append(
            segment.model_copy(
                update={
                    "start": g[0].start,
                    "end": g[-1].end,
                    "text": text,
                    "words": list(g) if keep_words else None,
                }
            )
        )
    return out
