"""Transcription piece by piece, for callers that show text while the rest is decoded.

:func:`iter_transcript` cuts the audio where Silero VAD (shipped inside faster-whisper)
finds speech, groups the speech spans into windows of at most 30 s (Whisper's input
window), and transcribes one window after another with the given engine, yielding
each window's segments as soon as they are decoded, their times shifted to the whole
audio. faster-whisper's batched pipeline decodes its VAD chunks independently too, so
the text is the one a whole-file call gives, up to where the windows are cut.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vidpipe.speech.engine import SAMPLE_RATE, ASREngine, TranscribeOptions
from vidpipe.types import Segment, Transcript

__all__ = ["iter_transcript", "speech_windows"]

#: Longest window in seconds (Whisper's 30 s input).
WINDOW_SECONDS = 30.0
#: Silence in ms that separates two VAD spans; faster-whisper's batched pipeline uses 160.
MIN_SILENCE_MS = 160


def speech_windows(audio: np.ndarray, window: float = WINDOW_SECONDS) -> list[tuple[int, int]]:
    """``(start, end)`` sample indexes of windows of speech, each at most ``window`` s.

    Args:
        audio: 16 kHz mono float32.
        window: longest window in seconds.

    Returns:
        Consecutive, non-overlapping windows covering every speech span found by
        Silero VAD (``faster_whisper.vad.get_speech_timestamps`` with spans cut at
        ``window`` s and :data:`MIN_SILENCE_MS`); empty when there is no speech.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    spans = get_speech_timestamps(
        audio,
        VadOptions(max_speech_duration_s=window, min_silence_duration_ms=MIN_SILENCE_MS),
    )
    limit = int(window * SAMPLE_RATE)
    out: list[tuple[int, int]] = []
    for span in spans:
        start, end = int(span["start"]), int(span["end"])
        if out and end - out[-1][0] <= limit:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _shift(seg: Segment, offset: float, seg_id: int) -> Segment:
    words = None
    if seg.words is not None:
        words = [
            w.model_copy(update={"start": w.start + offset, "end": w.end + offset})
            for w in seg.words
        ]
    return seg.model_copy(
        update={"id": seg_id, "start": seg.start + offset, "end": seg.end + offset, "words": words}
    )


def iter_transcript(
    audio: np.ndarray, engine: ASREngine, options: TranscribeOptions
) -> Iterator[Transcript]:
    """Transcribe ``audio`` window by window (see the module doc).

    Args:
        audio: 16 kHz mono float32 in [-1, 1].
        engine: any :class:`~vidpipe.speech.engine.ASREngine`.
        options: decoding options (the language detected in the first window is
            kept for the next ones when ``options.language`` is None).

    Yields:
        One :class:`~vidpipe.types.Transcript` per window: its segments (ids running
        on over the whole audio), times in seconds from the start of ``audio``,
        ``duration`` the whole audio's.

    Raises:
        What ``engine.transcribe`` raises (UsageError for a language or task the
        model cannot do, ModelError, RemoteError).
    """
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    duration = audio.shape[0] / SAMPLE_RATE
    next_id = 0
    for start, end in speech_windows(audio):
        part = engine.transcribe(audio[start:end], options)
        if options.language is None and part.language:
            options = options.model_copy(update={"language": part.language})
        offset = start / SAMPLE_RATE
        segments = []
        for seg in part.segments:
            segments.append(_shift(seg, offset, next_id))
            next_id += 1
        yield part.model_copy(update={"segments": segments, "duration": duration})
