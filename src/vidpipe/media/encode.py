"""Encode mono samples into a complete audio file in memory (speech answers over HTTP).

The formats are those of OpenAI's ``/v1/audio/speech`` (``response_format``):

======  =====================================================================
format  what the bytes are
======  =====================================================================
wav     RIFF WAVE, 16-bit PCM (standard library :mod:`wave`)
mp3     MPEG-1 Layer III (LAME), in an MP3 file
flac    FLAC, 16-bit
aac     AAC-LC in ADTS frames (a ``.aac`` file, what OpenAI sends)
opus    Opus in Ogg (48 kHz, as Opus always decodes)
pcm     raw signed 16-bit little-endian samples at 24 kHz, no header (OpenAI's
        documented ``pcm``: "24kHz (16-bit signed, low-endian), without the header")
======  =====================================================================

Encoders come with PyAV's bundled FFmpeg (libmp3lame, flac, aac, libopus).
"""

from __future__ import annotations

import io
import wave
from fractions import Fraction

import av
import numpy as np

from vidpipe.errors import UsageError

__all__ = ["ENCODED_FORMATS", "MEDIA_TYPES", "PCM_RATE", "encode_samples"]

#: ``format -> (container, encoder)`` for the PyAV formats.
_AV_FORMATS = {
    "mp3": ("mp3", "libmp3lame"),
    "flac": ("flac", "flac"),
    "aac": ("adts", "aac"),
    "opus": ("ogg", "libopus"),
}
ENCODED_FORMATS = ("wav", "mp3", "flac", "aac", "opus", "pcm")
#: ``Content-Type`` of each format.
MEDIA_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "aac": "audio/aac",
    "opus": "audio/ogg",
    "pcm": "audio/pcm",
}
#: Sample rate of ``pcm`` in Hz (OpenAI's documented rate).
PCM_RATE = 24000


def _resample(block: np.ndarray, rate: int, out_rate: int) -> np.ndarray:
    """float32 mono at ``out_rate`` (FFmpeg's resampler through PyAV)."""
    if rate == out_rate or block.size == 0:
        return block
    frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=out_rate)
    pieces = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    pieces += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(pieces).astype(np.float32) if pieces else block[:0]


def encode_samples(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """The bytes of an audio file holding ``audio``.

    Args:
        audio: float mono samples in [-1, 1] (clipped), shape ``(n,)``.
        sample_rate: their rate in Hz.
        fmt: one of :data:`ENCODED_FORMATS`.

    Returns:
        A complete file (``pcm``: bare samples at :data:`PCM_RATE`). Rates an encoder
        cannot take are resampled (Opus to 48 kHz, AAC and MP3 to the next rate above
        that they support).

    Raises:
        UsageError: an unknown format.
    """
    if fmt not in ENCODED_FORMATS:
        raise UsageError(f"unknown audio format '{fmt}'", f"use {', '.join(ENCODED_FORMATS)}")
    block = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
    if fmt == "pcm":
        return (_resample(block, sample_rate, PCM_RATE) * 32767.0).round().astype("<i2").tobytes()
    buf = io.BytesIO()
    if fmt == "wav":
        with wave.open(buf, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(sample_rate)
            out.writeframes((block * 32767.0).round().astype("<i2").tobytes())
        return buf.getvalue()
    container_name, codec_name = _AV_FORMATS[fmt]
    codec = av.Codec(codec_name, "w")
    rates = sorted(codec.audio_rates) if codec.audio_rates else []
    rate = sample_rate
    if rates and sample_rate not in rates:
        rate = next((r for r in rates if r >= sample_rate), rates[-1])
    names = {a.name for a in codec.audio_formats or []}
    sample_fmt = next(f for f in ("s16", "fltp", "flt", "s16p") if not names or f in names)
    with av.open(buf, "w", format=container_name) as container:
        stream = container.add_stream(codec_name, rate=rate, layout="mono")
        stream.format = sample_fmt
        stream.time_base = Fraction(1, rate)
        resampler = av.AudioResampler(
            format=sample_fmt,
            layout="mono",
            rate=rate,
            frame_size=stream.codec_context.frame_size or None,
        )
        frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = sample_rate
        pts = 0
        for out in [*resampler.resample(frame), *resampler.resample(None)]:
            out.pts = pts
            out.time_base = stream.time_base
            pts += out.samples
            container.mux(stream.encode(out))
        container.mux(stream.encode(None))
    return buf.getvalue()
