"""Speech: ASR engines behind one interface, the bundled model registry, transcription."""

from __future__ import annotations

from vidpipe.speech.engine import SAMPLE_RATE, ASREngine, TranscribeOptions
from vidpipe.speech.transcribe import get_engine, transcribe

__all__ = ["SAMPLE_RATE", "ASREngine", "TranscribeOptions", "get_engine", "transcribe"]
