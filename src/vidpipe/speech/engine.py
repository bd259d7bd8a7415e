"""The ASR engine interface and its options.

An engine turns 16 kHz mono float32 audio into a :class:`~vidpipe.types.Transcript`.
Engines are chosen by name through :func:`vidpipe.speech.get_engine`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, Field

from vidpipe.types import Transcript

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
