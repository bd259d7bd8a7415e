"""Media: probe containers, decode audio to numpy, extract audio tracks (PyAV, no ffmpeg)."""

# Imported eagerly on purpose: a lazy ``__getattr__`` would lose to the submodule
# ``vidpipe.media.probe``, which Python binds as the package attribute ``probe``.
from vidpipe.media.audio import audio_duration, decode_audio, extract_audio
from vidpipe.media.probe import probe

__all__ = ["audio_duration", "decode_audio", "extract_audio", "probe"]
