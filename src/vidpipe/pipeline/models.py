"""Models loaded once per process, by the options that build them: the ASR engine
(:func:`asr_engine`) and the voice (:func:`voice`), shared by the stages, the batch
runner and the service."""

from __future__ import annotations

import threading
from typing import Any

from vidpipe.config import get_settings

__all__ = ["asr_engine", "voice"]

_lock = threading.Lock()
_engines: dict[tuple[str, int | None], Any] = {}
_voices: dict[tuple[str | None, str | None, int | None], Any] = {}


def asr_engine(model: str, threads: int | None = None):
    """The faster-whisper engine for ``model`` and ``threads``, built once per process.

    Raises:
        ModelError: the model cannot be found or loaded.
    """
    # imported here for start-up time: NumPy, ASR/TTS engines
    from vidpipe.speech.transcribe import get_engine

    key = (model, threads)
    with _lock:
        if key not in _engines:
            _engines[key] = get_engine(
                "faster-whisper", model=model, threads=threads, settings=get_settings()
            )
        return _engines[key]


def voice(name: str | None, language: str | None, threads: int | None = None):
    """The TTS voice for ``name``/``language`` (:func:`vidpipe.speech.tts.get_voice`),
    built once per process.

    Raises:
        ModelError, UsageError: see :func:`~vidpipe.speech.tts.get_voice`.
    """
    # imported here for start-up time: NumPy, ASR/TTS engines
    from vidpipe.speech.tts import get_voice

    key = (name, language, threads)
    with _lock:
        if key not in _voices:
            _voices[key] = get_voice(name, language, threads=threads)
        return _voices[key]
