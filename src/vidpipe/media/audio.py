"""Decode audio to numpy and extract audio tracks to files, with PyAV (no ffmpeg binary).

Decoding goes container -> packets -> frames -> an ``AudioFifo`` that batches
frames -> one ``AudioResampler`` call per batch -> numpy chunks concatenated once.
Nothing touches the disk. Corrupt packets in the middle of a stream are skipped, as
``ffmpeg`` does; a stream that yields no samples at all is an error.

Down-mixing uses FFmpeg's default matrix normalised so the mix cannot clip
(``rematrix_maxval=1``), which is what ``ffmpeg -ac 1`` does for integer output
and what Whisper's reference loader sees.
"""

from __future__ import annotations

import contextlib
import gc
import numbers
import os
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from vidpipe.errors import MediaError, NoAudioError, OutputError, UsageError
from vidpipe.files import atomic_path, output_error
from vidpipe.media.probe import media_error, open_media, stream_seconds

__all__ = [
    "EXTRACT_FORMATS",
    "audio_duration",
    "decode_audio",
    "extract_audio",
    "mix_music",
    "speech_envelope",
]

ProgressCallback = Callable[[float, float], None]

#: Output suffix -> (container format, encoder, preferred sample formats).
EXTRACT_FORMATS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    ".wav": ("wav", "pcm_s16le", ("s16",)),
    ".flac": ("flac", "flac", ("s16",)),
    ".mp3": ("mp3", "libmp3lame", ("fltp", "s16p", "s32p")),
    ".m4a": ("ipod", "aac", ("fltp",)),
}
_MAX_CHANNELS = {".mp3": 2, ".m4a": 8, ".flac": 8}
_MAX_RATE = {".flac": 655350}

_BATCH_SAMPLES = 500_000  # source samples per resampler call (~10 s at 48 kHz)
_PROGRESS_INTERVAL = 0.25  # seconds of wall time between progress callbacks
_RESAMPLER_OPTIONS = {"rematrix_maxval": "1.0"}  # normalised down-mix: no clipping


# --------------------------------------------------------------------------- helpers


def _select_audio_stream(container, path: Path, stream: int | None):
    audio = list(container.streams.audio)
    if not audio:
        kinds = sorted({s.type for s in container.streams})
        what = f" (it has {', '.join(kinds)} streams only)" if kinds else ""
        raise NoAudioError(
            f"{path}: has no audio stream{what}",
            "choose a file with a sound track",
        )
    if stream is None:
        try:
            best = container.streams.best("audio")
        except (av.error.FFmpegError, ValueError):
            best = None
        chosen = best if best is not None else audio[0]
    else:
        if isinstance(stream, bool) or not isinstance(stream, numbers.Integral) or stream < 0:
            raise UsageError(
                f"audio stream must be a number from 0, got {stream!r}",
                "streams are counted among audio streams only, starting at 0",
            )
        if stream >= len(audio):
            n = len(audio)
            raise NoAudioError(
                f"{path}: has no audio stream {stream}; it has {n} audio "
                f"stream{'s' if n != 1 else ''} (numbered from 0)",
                f"choose a stream from 0 to {n - 1}",
            )
        chosen = audio[int(stream)]
    if chosen.codec_context is None:
        raise MediaError(
            f"{path}: no decoder for audio stream #{chosen.index}",
            "convert it to a common format (for example wav) first",
        )
    return chosen


def _positive_int(name: str, value: object) -> int:
    """``value`` as an ``int`` (numpy integers accepted), or :class:`UsageError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) <= 0:
        raise UsageError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _iter_frames(container, stream, path: Path, errors: list[BaseException]) -> Iterator:
    """Decoded frames of ``stream``; corrupt packets are skipped and recorded in ``errors``.

    A demuxing error (truncated or garbled file) ends the stream; what was decoded
    before it is kept. A timeout raises :class:`MediaError`.
    """
    flushed = False
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                flushed = True  # PyAV's end-of-stream flush packet
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                errors.append(exc)
                continue
            yield from frames
    except av.error.ExitError as exc:
        raise media_error(path, exc, "read") from exc
    except av.error.FFmpegError as exc:
        errors.append(exc)
    if not flushed:
        try:
            yield from stream.codec_context.decode(None)
        except av.error.FFmpegError as exc:
            errors.append(exc)


def _no_samples_error(path: Path, errors: list[BaseException], decoded: float) -> MediaError:
    """The error for a stream that produced no output samples."""
    if decoded > 0:
        return MediaError(
            f"{path}: the audio is too short to use ({decoded:.4f} s)",
            "the file's header is probably damaged (for example a wrong sample rate)",
        )
    if errors:
        first = errors[0]
        reason = " ".join(str(getattr(first, "strerror", None) or first).split())
        return MediaError(
            f"{path}: could not decode any audio ({len(errors)} damaged "
            f"packet{'s' if len(errors) != 1 else ''}: {reason})",
            "the file is corrupt or truncated",
        )
    return MediaError(
        f"{path}: the audio stream holds no samples",
        "the file is empty or truncated (header only)",
    )


class _Progress:
    """Throttled ``progress(seconds_done, seconds_total)`` calls."""

    def __init__(self, callback: ProgressCallback | None, total: float | None) -> None:
        self.callback = callback
        self.total = float(total or 0.0)
        self.done = 0.0
        self._last = time.monotonic()

    def add(self, seconds: float) -> None:
        self.done += seconds
        if self.callback is None:
            return
        now = time.monotonic()
        if now - self._last >= _PROGRESS_INTERVAL:
            self._last = now
            self.callback(self.done, self.total)

    def finish(self) -> None:
        if self.callback is not None:
            self.callback(self.done, self.total)


class _Converter:
    """Batch frames in an AudioFifo and convert them with one AudioResampler.

    Handles a stream whose format, layout or rate changes mid-way by draining and
    starting a new FIFO and resampler. :meth:`push` and :meth:`finish` return the
    converted frames that are ready.
    """

    def __init__(self, fmt: str, layout: str, rate: int, frame_size: int | None = None) -> None:
        self.fmt, self.layout, self.rate, self.frame_size = fmt, layout, rate, frame_size
        self.key: tuple | None = None
        self.fifo: av.AudioFifo | None = None
        self.resampler: av.AudioResampler | None = None

    def push(self, frame) -> list:
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        out: list = []
        if key != self.key:
            out.extend(self._drain())
            self.key = key
            self.fifo = av.AudioFifo()
            self.resampler = av.AudioResampler(
                format=self.fmt,
                layout=self.layout,
                rate=self.rate,
                frame_size=self.frame_size,
                options=_RESAMPLER_OPTIONS,
            )
        frame.pts = None  # timestamps are rebuilt from sample counts; gaps don't matter
        self.fifo.write(frame)
        if self.fifo.samples >= _BATCH_SAMPLES:
            out.extend(self.resampler.resample(self.fifo.read()))
        return out

    def _drain(self) -> list:
        if self.resampler is None:
            return []
        out: list = []
        if self.fifo is not None and self.fifo.samples:
            out.extend(self.resampler.resample(self.fifo.read()))
        out.extend(self.resampler.resample(None))
        self.fifo = self.resampler = None
        return out

    def finish(self) -> list:
        out = self._drain()
        _collect_graphs()
        return out


#: Most seconds between two collections of finished resamplers' filter graphs.
COLLECT_EVERY = 5.0
_last_collect = 0.0
_collect_lock = threading.Lock()


def _collect_graphs() -> None:
    """Free the filter graphs of finished resamplers: in older PyAV they sit in
    reference cycles that only the cycle collector frees (faster-whisper issue #390;
    PyAV 18 leaves none), so without a collection a process decoding many files grows.
    A full collection walks every object of the process: 0.06-0.3 s in a service that
    holds a model and its app (about 200,000 objects), which a collection per file made
    a serial cost of every upload (8 concurrent uploads held the interpreter for up to
    2.4 s). So one collection covers
    the files finished in the last :data:`COLLECT_EVERY` seconds: what waits is a few
    small graphs, freed at the next file's end or by Python's own collector."""
    global _last_collect
    now = time.monotonic()
    if now - _last_collect < COLLECT_EVERY or not _collect_lock.acquire(blocking=False):
        return
    try:
        gc.collect()
        _last_collect = time.monotonic()
    finally:
        _collect_lock.release()


# --------------------------------------------------------------------------- public API


def audio_duration(path: str | os.PathLike[str], stream: int | None = None) -> float | None:
    """Duration in seconds of an audio stream, from the header (no decoding).

    Args:
        path: media file.
        stream: index among the audio streams (0-based); ``None`` = the best one.

    Returns:
        Seconds, or ``None`` when neither the stream nor the container records it.

    Raises:
        InputError, MediaError: as :func:`vidpipe.media.probe`.
        NoAudioError: no audio stream, or no audio stream number ``stream``.
    """
    p, container = open_media(path)
    with container:
        st = _select_audio_stream(container, p, stream)
        return stream_seconds(container, st)


def decode_audio(
    path: str | os.PathLike[str],
    sample_rate: int = 16000,
    stream: int | None = None,
    progress: ProgressCallback | None = None,
    channels: int = 1,
) -> np.ndarray:
    """Decode an audio stream to a float32 array at ``sample_rate`` Hz, in memory.

    Channels are down-mixed with FFmpeg's standard matrix (5.1 included), normalised
    so the mix does not clip; any source rate is resampled. Corrupt packets are
    skipped and what decodes is kept.

    Args:
        path: audio or video file.
        sample_rate: output rate in Hz (16000 for Whisper).
        stream: index among the file's audio streams, 0-based; ``None`` picks the
            container's best (usually the first/default) audio stream.
        progress: called as ``progress(seconds_done, seconds_total)`` about four
            times a second and once at the end; ``seconds_done`` counts decoded
            audio, ``seconds_total`` is the header's duration or ``0.0`` if unknown.
        channels: 1 (mono, the default) or 2 (stereo; mono sources are duplicated).

    Returns:
        For mono, a 1-D ``float32`` array of ``duration * sample_rate`` samples; for
        stereo, shape ``(samples, 2)``. Values nominally in [-1, 1].

    Raises:
        InputError: the path is missing, a directory, or unreadable.
        MediaError: empty, not media, undecodable (no sample at all), or timed out.
        NoAudioError: no audio stream, or no audio stream number ``stream``.
        UsageError: ``sample_rate`` or ``stream`` is not a valid number.
    """
    sample_rate = _positive_int("sample rate (Hz)", sample_rate)
    if channels not in (1, 2):
        raise UsageError(f"channels must be 1 or 2, not {channels!r}")
    p, container = open_media(path)
    errors: list[BaseException] = []
    chunks: list[np.ndarray] = []
    with container:
        st = _select_audio_stream(container, p, stream)
        tracker = _Progress(progress, stream_seconds(container, st))
        converter = _Converter("flt", "mono" if channels == 1 else "stereo", sample_rate)
        try:
            for frame in _iter_frames(container, st, p, errors):
                if frame.samples == 0 or not frame.sample_rate:
                    continue
                tracker.add(frame.samples / frame.sample_rate)
                chunks.extend(f.to_ndarray().reshape(-1) for f in converter.push(frame))
            chunks.extend(f.to_ndarray().reshape(-1) for f in converter.finish())
        except (av.error.FFmpegError, ValueError) as exc:
            raise media_error(p, exc, "decode") from exc
    tracker.finish()
    if not chunks:
        raise _no_samples_error(p, errors, tracker.done)
    audio = np.concatenate(chunks) if len(chunks) > 1 else chunks[0].copy()
    if audio.size == 0:
        raise _no_samples_error(p, errors, tracker.done)
    if channels == 2:
        audio = audio.reshape(-1, 2)  # packed "flt" frames interleave L R L R
    return audio.astype(np.float32, copy=False)


def speech_envelope(audio: np.ndarray, sample_rate: int, window: float = 0.01) -> np.ndarray:
    """Where speech plays, per window, from Silero VAD (pauses under 0.3 s count as speech).

    Args:
        audio: mono samples (1-D float32) or ``(samples, channels)``.
        sample_rate: Hz (a multiple of 16 kHz, or anything for the energy fallback).
        window: resolution of the result in seconds (10 ms).

    Returns:
        A bool array, one value per window (``ceil(samples / window_samples)``).
    """
    from vidpipe.media.silence import VAD_SAMPLE_RATE, find_silences

    mono = audio if audio.ndim == 1 else audio.mean(axis=1)
    hop = max(1, round(window * sample_rate))
    n = -(-mono.size // hop)
    if sample_rate % VAD_SAMPLE_RATE == 0:
        k = sample_rate // VAD_SAMPLE_RATE
        usable = mono[: mono.size // k * k]
        silences = find_silences(usable.reshape(-1, k).mean(axis=1), VAD_SAMPLE_RATE)
    else:
        silences = find_silences(mono, sample_rate, method="energy")
    active = np.ones(n, bool)
    for start, end in silences:
        active[int(start / window + 0.5) : int(end / window + 0.5)] = False
    return active


def _rms_where(audio: np.ndarray, active: np.ndarray, hop: int) -> float:
    """RMS of the windows of ``hop`` samples marked active (all windows if none are)."""
    mono = audio if audio.ndim == 1 else audio.mean(axis=1)
    mask = np.repeat(active, hop)[: mono.size]
    if mask.size < mono.size:
        mask = np.pad(mask, (0, mono.size - mask.size))
    chosen = mono[mask] if mask.any() else mono
    return float(np.sqrt(np.mean(np.square(chosen, dtype=np.float64))))


def mix_music(
    narration: np.ndarray,
    music: np.ndarray,
    sample_rate: int,
    volume_db: float = -14.0,
    duck_db: float = -12.0,
    attack: float = 0.08,
    release: float = 0.6,
) -> np.ndarray:
    """Mix background music under narration, ducked while speech plays.

    The music is looped (or cut) to the narration's length and levelled so its RMS
    sits ``volume_db`` below the narration's speech RMS (music files differ by 30 dB
    and more, so a fixed gain would be inaudible for some and drown others), then
    lowered a further ``duck_db`` wherever :func:`speech_envelope` finds speech. The
    gain moves toward the ducked level in ``attack`` seconds and back up in
    ``release`` seconds (one-pole smoothing, the usual side-chain compressor
    ballistics), so the music never pumps audibly. The sum is soft-limited to [-1, 1].

    Args:
        narration: ``(samples, 2)`` float32 (stereo) or 1-D mono.
        music: ``(samples, 2)`` or 1-D, same sample rate.
        sample_rate: Hz.
        volume_db: music level without speech, dB relative to the speech level (<= 0).
        duck_db: extra attenuation under speech, dB (<= 0).
        attack, release: seconds.

    Returns:
        The mix, shaped like ``narration`` (float32).
    """
    n = narration.shape[0]
    if music.shape[0] == 0:
        return narration
    reps = -(-n // music.shape[0])
    bed = np.concatenate([music] * reps, axis=0)[:n] if reps > 1 else music[:n]
    if narration.ndim == 2 and bed.ndim == 1:
        bed = np.repeat(bed[:, None], narration.shape[1], axis=1)
    elif narration.ndim == 1 and bed.ndim == 2:
        bed = bed.mean(axis=1)
    window = 0.01
    active = speech_envelope(narration, sample_rate, window=window)
    hop = round(window * sample_rate)
    speech_rms = _rms_where(narration, active, hop)
    music_rms = float(np.sqrt(np.mean(np.square(bed, dtype=np.float64))))
    if music_rms < 1e-6 or speech_rms < 1e-6:
        return narration
    level = speech_rms / music_rms
    target = np.where(active, duck_db, 0.0)
    # One-pole smoothing in dB, faster when going down (attack) than up (release).
    gains = np.empty_like(target)
    g = 0.0
    a_att = 1 - np.exp(-window / max(attack, 1e-3))
    a_rel = 1 - np.exp(-window / max(release, 1e-3))
    for i, tgt in enumerate(target):
        g += (tgt - g) * (a_att if tgt < g else a_rel)
        gains[i] = g
    per_sample = np.repeat(gains, hop)[:n]
    if per_sample.size < n:
        per_sample = np.pad(per_sample, (0, n - per_sample.size), mode="edge")
    lin = (level * 10 ** ((volume_db + per_sample) / 20)).astype(np.float32)
    out = narration + bed * (lin[:, None] if bed.ndim == 2 else lin)
    return np.tanh(out).astype(np.float32) if np.abs(out).max() > 1.0 else out.astype(np.float32)


def extract_audio(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    sample_rate: int | None = None,
    channels: int | None = None,
    stream: int | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Write an audio stream to ``out`` as wav, flac, mp3 or m4a (chosen by its suffix).

    Encoders: ``.wav`` 16-bit PCM, ``.flac`` 16-bit FLAC, ``.mp3`` LAME at its default
    bit rate (128 kb/s for 44.1 kHz stereo, less for lower rates), ``.m4a`` FFmpeg's
    AAC (about 128 kb/s for stereo) in an MP4 (iPod) container. The source rate and
    channel count are kept unless given, within each encoder's limits: mp3 takes at
    most 2 channels (more are down-mixed to stereo) and 8-48 kHz (another source rate
    becomes the next allowed one above it, or 48 kHz); AAC takes 7.35-96 kHz and up
    to 8 channels; FLAC up to 8 channels. Timestamps are rebuilt from
    the sample count, so the output lasts exactly as long as the decoded audio. The
    file appears atomically: readers never see a partial ``out``.

    Args:
        path: audio or video file.
        out: destination file; its suffix picks the format.
        sample_rate: output rate in Hz, or ``None`` to keep the source's.
        channels: output channel count (1 = mono, 2 = stereo...), or ``None`` to keep.
        stream: index among the audio streams, 0-based; ``None`` = the best one.
        progress: ``progress(seconds_done, seconds_total)``, as in :func:`decode_audio`.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.

    Raises:
        UsageError: unsupported suffix, or a rate/channel count the encoder refuses.
        InputError, MediaError, NoAudioError: as :func:`decode_audio`.
        OutputError: ``out`` cannot be written.
    """
    dest = Path(out)
    suffix = dest.suffix.lower()
    if suffix not in EXTRACT_FORMATS:
        supported = ", ".join(EXTRACT_FORMATS)
        raise UsageError(
            f"cannot write audio as {suffix or 'a file without an extension'!r}: {dest}",
            f"use one of {supported}",
        )
    fmt_name, codec_name, preferred = EXTRACT_FORMATS[suffix]
    if sample_rate is not None:
        sample_rate = _positive_int("sample rate (Hz)", sample_rate)
    if channels is not None:
        channels = _positive_int("channels", channels)
    codec = av.Codec(codec_name, "w")
    sample_fmt = next(
        (f for f in preferred if f in {a.name for a in codec.audio_formats or []}), preferred[0]
    )
    # Check explicit settings before touching the input.
    max_ch = _MAX_CHANNELS.get(suffix)
    if channels is not None and max_ch is not None and channels > max_ch:
        raise UsageError(
            f"{suffix} holds at most {max_ch} channels, {channels} asked",
            "use .wav for more channels",
        )
    rates = sorted(codec.audio_rates) if codec.audio_rates else None
    if sample_rate is not None:
        if rates and sample_rate not in rates:
            raise UsageError(
                f"{suffix} does not support {sample_rate} Hz",
                f"use one of {', '.join(str(r) for r in rates)} Hz",
            )
        if suffix in _MAX_RATE and sample_rate > _MAX_RATE[suffix]:
            raise UsageError(f"{suffix} supports at most {_MAX_RATE[suffix]} Hz")

    p, container = open_media(path)
    errors: list[BaseException] = []
    with container:
        st = _select_audio_stream(container, p, stream)
        cc = st.codec_context
        src_rate = cc.sample_rate or 0
        src_channels = cc.layout.nb_channels or 0
        rate = sample_rate or _fit_rate(src_rate or 48000, rates, _MAX_RATE.get(suffix))
        n_ch = channels or min(src_channels or 2, max_ch or 64)
        layout = _layout_name(cc.layout, n_ch)
        tracker = _Progress(progress, stream_seconds(container, st))
        try:
            with atomic_path(dest) as tmp:
                written = _encode(
                    container,
                    st,
                    p,
                    tmp,
                    dest,
                    fmt_name,
                    codec_name,
                    sample_fmt,
                    layout,
                    rate,
                    errors,
                    tracker,
                )
                if written == 0:
                    raise _no_samples_error(p, errors, tracker.done)
        except (av.error.FFmpegError, ValueError) as exc:
            raise media_error(p, exc, "decode") from exc
    tracker.finish()
    return dest


# --------------------------------------------------------------------------- encoding


def _fit_rate(rate: int, allowed: list[int] | None, max_rate: int | None) -> int:
    """The encoder-supported rate for a source ``rate``: itself, else the nearest above."""
    if max_rate is not None and rate > max_rate:
        rate = 96000
    if not allowed or rate in allowed:
        return rate
    higher = [r for r in allowed if r >= rate]
    return min(higher) if higher else max(allowed)


def _layout_name(src_layout, n_channels: int) -> str:
    """Keep the source layout when the count matches and it is a named layout."""
    name = src_layout.name if src_layout is not None else ""
    if (
        src_layout is not None
        and src_layout.nb_channels == n_channels
        and (name and "channels" not in name)
    ):
        return name
    return av.AudioLayout(f"{n_channels}c").name


def _encode(
    container,
    st,
    src: Path,
    tmp: Path,
    dest: Path,
    fmt_name: str,
    codec_name: str,
    sample_fmt: str,
    layout: str,
    rate: int,
    errors: list[BaseException],
    tracker: _Progress,
) -> int:
    """Decode ``st`` and encode it into ``tmp``; return the number of samples written."""
    try:
        output = av.open(str(tmp), mode="w", format=fmt_name)
    except (av.error.FFmpegError, OSError) as exc:
        raise _output_error(dest, exc) from exc
    written = 0
    with _closing_output(output, dest):
        try:
            ost = output.add_stream(codec_name, rate=rate, layout=layout)
            ost.format = sample_fmt
            ost.time_base = Fraction(1, rate)
            frame_size = ost.codec_context.frame_size or None
        except (av.error.FFmpegError, ValueError) as exc:
            raise UsageError(
                f"{dest.suffix} cannot hold {rate} Hz {layout} audio ({exc})",
                "choose another rate, channel count or format",
            ) from exc
        converter = _Converter(sample_fmt, layout, rate, frame_size)

        def write(frames: list) -> None:
            nonlocal written
            for frame in frames:
                frame.pts = written
                frame.time_base = ost.time_base
                written += frame.samples
                try:
                    output.mux(ost.encode(frame))
                except (av.error.FFmpegError, OSError) as exc:
                    raise _output_error(dest, exc) from exc

        for frame in _iter_frames(container, st, src, errors):
            if frame.samples == 0 or not frame.sample_rate:
                continue
            tracker.add(frame.samples / frame.sample_rate)
            write(converter.push(frame))
        write(converter.finish())
        if written:
            try:
                output.mux(ost.encode(None))
            except (av.error.FFmpegError, OSError) as exc:
                raise _output_error(dest, exc) from exc
    return written


def _output_error(dest: Path, exc: BaseException) -> OutputError:
    return output_error(dest, exc)


@contextlib.contextmanager
def _closing_output(output, dest: Path) -> Iterator:
    """Close an output container; closing writes the trailer, so its errors are
    errors writing ``dest`` (a full disk), never decoding errors."""
    try:
        yield output
    except BaseException:
        with contextlib.suppress(av.error.FFmpegError, OSError):
            output.close()
        raise
    try:
        output.close()
    except (av.error.FFmpegError, OSError) as exc:
        raise _output_error(dest, exc) from exc
