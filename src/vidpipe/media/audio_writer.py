"""Stream audio samples into a wav, flac, mp3 or m4a file as they are produced.

:class:`AudioWriter` takes float32 sample blocks one after another and encodes each
block at once, so memory stays bounded however long the audio gets (text to speech
writes sentence by sentence). ``.wav`` is written by the standard library's
:mod:`wave` (16-bit PCM); ``.flac``, ``.mp3`` and ``.m4a`` by PyAV with the encoders of
:data:`vidpipe.media.audio.EXTRACT_FORMATS`. The file appears atomically
(:func:`vidpipe.files.atomic_path`) when the ``with`` block ends without an error; on
an error the temporary file is removed and nothing is left at the destination.
"""

from __future__ import annotations

import contextlib
import os
import wave
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from vidpipe.errors import OutputError, UsageError
from vidpipe.files import atomic_path
from vidpipe.media.audio import _MAX_CHANNELS, EXTRACT_FORMATS, _fit_rate

__all__ = ["AudioWriter"]


class AudioWriter:
    """Write audio to ``out`` block by block (a context manager).

    Usage::

        with AudioWriter("speech.mp3", sample_rate=22050) as w:
            for block in blocks:          # float32, shape (n,) or (n, channels)
                w.write(block)

    Args:
        out: destination; its suffix picks the format (``.wav`` 16-bit PCM, ``.flac``
            16-bit, ``.mp3`` LAME at its default bit rate, ``.m4a`` AAC in MP4).
        sample_rate: rate of the blocks in Hz. The file has the same rate when the
            encoder takes it (all four do for 8-48 kHz), else the next one above.
        channels: channels per sample (1 = mono); mp3 holds at most 2.

    Attributes:
        samples_written: samples per channel written so far (at ``sample_rate``).

    Raises:
        UsageError: unsupported suffix, channel count or rate.
        OutputError: the file cannot be created or written (the message names ``out``).
    """

    def __init__(self, out: str | os.PathLike[str], sample_rate: int, channels: int = 1) -> None:
        self.dest = Path(out)
        self.suffix = self.dest.suffix.lower()
        if self.suffix not in EXTRACT_FORMATS:
            raise UsageError(
                f"cannot write audio as {self.suffix or 'a file without an extension'!r}: "
                f"{self.dest}",
                f"use one of {', '.join(EXTRACT_FORMATS)}",
            )
        if sample_rate <= 0 or channels <= 0:
            raise UsageError(f"bad audio shape: {sample_rate} Hz, {channels} channels")
        max_ch = _MAX_CHANNELS.get(self.suffix)
        if max_ch is not None and channels > max_ch:
            raise UsageError(f"{self.suffix} holds at most {max_ch} channels, {channels} given")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.samples_written = 0
        self._stack: contextlib.ExitStack | None = None
        self._wav: wave.Wave_write | None = None
        self._container = None
        self._stream = None
        self._resampler: av.AudioResampler | None = None
        self._encoded = 0  # samples handed to the encoder (at the stream's rate)

    # -- context

    def __enter__(self) -> AudioWriter:
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(atomic_path(self.dest))
            stack.push(self._finish)  # runs before atomic_path renames (or removes) tmp
            try:
                if self.suffix == ".wav":
                    self._wav = wave.open(str(tmp), "wb")  # closed by _finish
                    self._wav.setnchannels(self.channels)
                    self._wav.setsampwidth(2)
                    self._wav.setframerate(self.sample_rate)
                else:
                    self._open_av(tmp)
            except (OSError, av.error.FFmpegError) as exc:
                raise self._error(exc) from exc
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        stack, self._stack = self._stack, None
        return bool(stack.__exit__(exc_type, exc, tb)) if stack is not None else False

    def _finish(self, exc_type, exc, tb) -> bool:
        """Flush and close on success; on an error just close (the error stands)."""
        if exc_type is None:
            self._close(flush=True)
        else:
            with contextlib.suppress(Exception):
                self._close(flush=False)
        return False

    # -- writing

    def write(self, samples: np.ndarray) -> None:
        """Encode one block: float samples in [-1, 1], shape ``(n,)`` or ``(n, channels)``.

        Values outside [-1, 1] are clipped. An empty block is ignored.

        Raises:
            UsageError: the block's channel count differs from ``channels``.
            OutputError: writing failed (a full disk, a removed folder...).
        """
        block = np.asarray(samples, dtype=np.float32)
        if block.ndim == 1:
            block = block.reshape(-1, 1)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise UsageError(
                f"audio block of shape {samples.shape} for a {self.channels}-channel file"
            )
        if block.shape[0] == 0:
            return
        block = np.clip(block, -1.0, 1.0)
        try:
            if self._wav is not None:
                self._wav.writeframes((block * 32767.0).round().astype("<i2").tobytes())
            elif self._resampler is not None:
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(block).reshape(1, -1),
                    format="flt",
                    layout=self._layout,
                )
                frame.sample_rate = self.sample_rate
                self._mux(self._resampler.resample(frame))
            else:
                raise ValueError("AudioWriter.write outside its with block")
        except (OSError, av.error.FFmpegError) as exc:
            raise self._error(exc) from exc
        self.samples_written += block.shape[0]

    # -- internals

    def _open_av(self, tmp: Path) -> None:
        fmt_name, codec_name, preferred = EXTRACT_FORMATS[self.suffix]
        codec = av.Codec(codec_name, "w")
        names = {a.name for a in codec.audio_formats or []}
        sample_fmt = next((f for f in preferred if f in names), preferred[0])
        rates = sorted(codec.audio_rates) if codec.audio_rates else None
        rate = _fit_rate(self.sample_rate, rates, None)
        self._layout = "mono" if self.channels == 1 else av.AudioLayout(f"{self.channels}c").name
        self._container = av.open(str(tmp), mode="w", format=fmt_name)
        self._stream = self._container.add_stream(codec_name, rate=rate, layout=self._layout)
        self._stream.format = sample_fmt
        self._stream.time_base = Fraction(1, rate)
        self._resampler = av.AudioResampler(
            format=sample_fmt,
            layout=self._layout,
            rate=rate,
            frame_size=self._stream.codec_context.frame_size or None,
        )

    def _mux(self, frames) -> None:
        for frame in frames:
            frame.pts = self._encoded
            frame.time_base = self._stream.time_base
            self._encoded += frame.samples
            self._container.mux(self._stream.encode(frame))

    def _close(self, flush: bool) -> None:
        """Finish the encoder (when ``flush``) and close the file."""
        try:
            if self._wav is not None:
                wav, self._wav = self._wav, None
                wav.close()
            elif self._container is not None:
                container, self._container = self._container, None
                try:
                    if flush and self._resampler is not None:
                        self._mux(self._resampler.resample(None))
                        container.mux(self._stream.encode(None))
                finally:
                    container.close()
        except (OSError, av.error.FFmpegError) as exc:
            raise self._error(exc) from exc

    def _error(self, exc: BaseException) -> OutputError:
        reason = " ".join(str(getattr(exc, "strerror", None) or exc).split())
        return OutputError(
            f"cannot write {self.dest}: {reason}", "check the folder and free disk space"
        )
