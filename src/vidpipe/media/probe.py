"""Probe a media file: container, duration and streams, read with PyAV (no ffmpeg binary).

:func:`probe` reads the container header and the stream parameters FFmpeg's
``avformat_find_stream_info`` gathers; the only decoding it does is the first
picture of each real video stream, to read the display-matrix rotation that
FFmpeg attaches to decoded frames (PyAV has no stream-level getter for it).

:func:`open_media` is shared with :mod:`vidpipe.media.audio`: it turns every way a
file can fail to open into a one-line :class:`~vidpipe.errors.InputError` or
:class:`~vidpipe.errors.MediaError`, and guards against FFmpeg reading forever
with an interrupt timeout.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from fractions import Fraction
from pathlib import Path

import av
import av.error

from vidpipe.errors import InputError, MediaError
from vidpipe.files import check_readable_file
from vidpipe.timecode import parse_clock
from vidpipe.types import MediaInfo, StreamInfo, StreamType

__all__ = ["OPEN_TIMEOUT", "READ_TIMEOUT", "media_error", "open_media", "probe", "stream_seconds"]

#: Seconds FFmpeg may spend opening a file and finding its streams before giving up.
OPEN_TIMEOUT = 15.0
#: Seconds FFmpeg may spend reading one packet before giving up.
READ_TIMEOUT = 15.0

_AV_TIME_BASE = 1_000_000  # FFmpeg's AV_TIME_BASE: container times are in microseconds
_STREAM_TYPES: set[str] = {"video", "audio", "subtitle", "data", "attachment"}
_ROTATION_MAX_PACKETS = 64  # packets to read while looking for the first video frame
# Attachments have no codec context in PyAV; FFmpeg derives their codec from the
# MIME type (libavformat/matroska.c ff_mkv_mime_tags). Same names as ffprobe.
_ATTACHMENT_CODECS = {
    "application/x-truetype-font": "ttf",
    "application/x-font": "ttf",
    "font/ttf": "ttf",
    "application/vnd.ms-opentype": "otf",
    "font/otf": "otf",
    "text/plain": "text",
    "binary": "bin_data",
}


def media_error(path: Path, exc: BaseException, doing: str = "read") -> Exception:
    """Translate a PyAV/FFmpeg exception into a vidpipe error with a one-line message.

    Args:
        path: the input file (named in the message).
        exc: what PyAV raised.
        doing: a verb for the message ("read", "decode"...).

    Returns:
        An :class:`InputError` (missing, unreadable) or a :class:`MediaError`; the
        caller raises it ``from exc``.
    """
    reason = _reason(exc)
    if isinstance(exc, av.error.ExitError):
        return MediaError(
            f"{path}: timed out while trying to {doing} the file",
            "the file may be corrupt, or on a stalled network drive",
        )
    if isinstance(exc, (FileNotFoundError, av.error.FileNotFoundError)):
        return InputError(f"{path}: no such file", "check the path")
    if isinstance(exc, (PermissionError, av.error.PermissionError)):
        return InputError(f"{path}: permission denied", "check the file's permissions")
    if isinstance(exc, (IsADirectoryError, av.error.IsADirectoryError)):
        return InputError(f"{path}: is a folder, not a media file", "pass the files inside it")
    if getattr(exc, "errno", None) == errno.EIO and isinstance(exc, av.error.FFmpegError):
        # FFmpeg's demuxers return AVERROR(EIO) when a local file ends inside a
        # structure they need (a truncated mp4 box, a cut Matroska cluster).
        return MediaError(
            f"{path}: the file is truncated or damaged (FFmpeg could not {doing} it: {reason})",
            "recreate or download the file again",
        )
    if isinstance(exc, (av.error.InvalidDataError, av.error.EOFError)):
        return MediaError(
            f"{path}: not a recognised audio or video file, or its header is damaged ({reason})",
            "check that the file is complete media; it may be truncated, corrupt or misnamed",
        )
    if isinstance(exc, av.error.DecoderNotFoundError):
        return MediaError(
            f"{path}: no decoder for this file's codec ({reason})",
            "convert it to a common format (for example wav or mp4) first",
        )
    return MediaError(
        f"{path}: cannot {doing} media ({reason})",
        "the file may be corrupt, truncated or in an unsupported format",
    )


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def open_media(path: str | os.PathLike[str]) -> tuple[Path, av.container.InputContainer]:
    """Check ``path`` and open it with PyAV for reading, with timeouts.

    Returns:
        ``(path, container)``; the caller must close the container (use ``with``).

    Raises:
        InputError: missing, a directory, not a regular file, or unreadable.
        MediaError: empty (0 bytes), not media, a damaged header, or FFmpeg timed out.
    """
    # check_readable_file only stats: a FIFO or device would block open() itself,
    # before FFmpeg's timeout applies, so those are refused there.
    p = check_readable_file(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc})", "check the path") from exc
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{p}: not a regular file", "pass a media file, not a pipe or device")
    size = st.st_size
    if size == 0:
        raise MediaError(
            f"{p}: file is empty (0 bytes)",
            "the download or copy probably failed; recreate the file",
        )
    try:
        container = av.open(
            str(p),
            mode="r",
            metadata_errors="ignore",
            timeout=(OPEN_TIMEOUT, READ_TIMEOUT),
        )
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise media_error(p, exc, "open") from exc
    return p, container


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Describe a media file's container and streams from its header.

    Reads the header (and whatever FFmpeg's stream-info probing reads, at most a
    few MB) and decodes only the first picture of each video stream, to learn its
    rotation; it never decodes the whole file.
    Times are in seconds, bit rates in bits per second, sample rates in Hz.

    Args:
        path: a local audio or video file.

    Returns:
        A :class:`~vidpipe.types.MediaInfo` with one :class:`~vidpipe.types.StreamInfo`
        per stream in container order. Unknown values are ``None``; language ``"und"``
        (undetermined) is reported as ``None``. Attached cover pictures (for example
        in an mp3) appear as video streams with ``frame_rate`` ``None``.

    Raises:
        InputError: the path is missing, a directory, a pipe/device, or unreadable.
        MediaError: the file is empty, not media, has a damaged or truncated header,
            holds no streams at all, holds no decodable audio or video stream (only
            subtitles, data, a cover picture, or a stream without a sample rate or frame
            size), or FFmpeg timed out reading it.
    """
    p, container = open_media(path)
    with container:
        try:
            streams = [_stream_info(container, s) for s in container.streams]
            fmt = container.format
            info = MediaInfo(
                path=str(p),
                size=p.stat().st_size,
                format_name=fmt.name,
                format_long_name=fmt.long_name or None,
                duration=_us(container.duration),
                bit_rate=container.bit_rate or None,
                start_time=_us(container.start_time),
                tags={str(k): str(v) for k, v in (container.metadata or {}).items()},
                streams=streams,
            )
        except (av.error.FFmpegError, ValueError) as exc:
            raise media_error(p, exc, "probe") from exc
        if not streams:
            raise MediaError(
                f"{p}: contains no audio or video streams",
                "the file is probably truncated (header only) or not media",
            )
        if not any(_usable(s) for s in streams):
            found = ", ".join(sorted({_unusable_kind(s) for s in streams}))
            raise MediaError(
                f"{p}: not media: no decodable audio or video stream "
                f"(read as {fmt.name}, FFmpeg found only: {found})",
                "check that the file is complete audio or video; it may be misnamed text",
            )
        rotations = {}
        for s in container.streams.video:
            if not _is_attached_pic(s):
                rotation = _first_frame_rotation(container, s)
                if rotation is not None:
                    rotations[s.index] = rotation
    if rotations:
        info = info.model_copy(
            update={
                "streams": [
                    st.model_copy(update={"rotation": rotations[st.index]})
                    if st.index in rotations
                    else st
                    for st in info.streams
                ]
            }
        )
    return info


def _usable(s: StreamInfo) -> bool:
    """An audio stream with a sample rate and channels, or a video stream (not a cover
    picture) with a frame size. FFmpeg's raw demuxers (flac, ac3, mp3...) report an
    audio stream with neither for any file given their extension, text included, and
    its SubRip demuxer finds a subtitle stream in a text file named ``subs.wav``."""
    if s.type == "audio":
        return bool(s.sample_rate and s.channels)
    return s.type == "video" and not s.attached_pic and bool(s.width and s.height)


def _unusable_kind(s: StreamInfo) -> str:
    if s.type == "audio":
        return "an audio stream without sample rate or channels"
    if s.type == "video":
        return "a cover picture" if s.attached_pic else "a video stream without frame size"
    return f"a {s.type} stream"


def _us(value: int | None) -> float | None:
    """Container times (AV_TIME_BASE units) to seconds."""
    if value is None:
        return None
    return value / _AV_TIME_BASE


def _ts(value: int | None, time_base: Fraction | None) -> float | None:
    """Stream timestamps to seconds."""
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _rational(value: Fraction | None, sep: str = "/") -> str | None:
    if value is None or value <= 0:
        return None
    value = Fraction(value)
    return f"{value.numerator}{sep}{value.denominator}"


def _tag(metadata: dict[str, str], name: str) -> str | None:
    """A tag by name, also under mkvmerge's language-suffixed spelling (``BPS-eng``)."""
    for key, value in metadata.items():
        if key == name or key.upper() == name or key.upper().startswith(name + "-"):
            return value
    return None


def _int_tag(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value or None


def _is_attached_pic(stream) -> bool:
    try:
        return bool(stream.disposition & av.stream.Disposition.attached_pic)
    except (AttributeError, TypeError):
        return False


def _stream_info(container, s) -> StreamInfo:
    metadata = {str(k): str(v) for k, v in (s.metadata or {}).items()}
    cc = s.codec_context  # None for attachments and data streams
    stype: StreamType = s.type if s.type in _STREAM_TYPES else "unknown"
    language = s.language or metadata.get("language")
    if language and language.lower() == "und":
        language = None
    title = metadata.get("title")
    if title is None and stype == "attachment":
        title = metadata.get("filename")

    codec = codec_long = None
    if cc is not None:
        try:
            codec = cc.codec.canonical_name  # 'mp3', not the decoder's 'mp3float'
            codec_long = cc.codec.long_name
        except (AttributeError, ValueError):
            codec = cc.name
    elif stype == "attachment":
        codec = _ATTACHMENT_CODECS.get(metadata.get("mimetype", "").lower())
    duration = _ts(s.duration, s.time_base)
    if duration is None:
        duration = parse_clock(_tag(metadata, "DURATION"))
    bit_rate = (cc.bit_rate if cc is not None else None) or _int_tag(_tag(metadata, "BPS"))
    frames = s.frames or _int_tag(_tag(metadata, "NUMBER_OF_FRAMES"))
    fields: dict = {
        "index": s.index,
        "type": stype,
        "codec": codec,
        "codec_long": codec_long,
        "profile": s.profile or None,
        "duration": duration,
        "start_time": _ts(s.start_time, s.time_base),
        "bit_rate": bit_rate or None,
        "language": language,
        "title": title,
        "frames": frames or None,
    }
    if stype == "video" and cc is not None:
        fields.update(_video_fields(s, cc))
    elif stype == "audio" and cc is not None:
        layout = cc.layout
        fields.update(
            sample_rate=cc.sample_rate or None,
            channels=layout.nb_channels or None,
            channel_layout=layout.name or None,
            sample_format=cc.format.name if cc.format is not None else None,
        )
    return StreamInfo(**fields)


def _video_fields(s, cc) -> dict:
    attached = _is_attached_pic(s)
    average = s.average_rate if s.average_rate else None
    rate = None if attached else (average or s.guessed_rate or s.base_rate or None)
    width = cc.width or None
    height = cc.height or None
    sar = s.sample_aspect_ratio or cc.sample_aspect_ratio or None
    dar = s.display_aspect_ratio or cc.display_aspect_ratio or None
    if dar is None and width and height:
        dar = Fraction(width, height) * (sar or 1)
    rotation = None
    rotate_tag = s.metadata.get("rotate") if s.metadata else None
    if rotate_tag is not None:  # FFmpeg < 5 exported the matrix as a clockwise tag
        try:
            rotation = _normalise_angle(-float(rotate_tag))
        except ValueError:
            rotation = None
    return {
        "attached_pic": attached,
        "width": width,
        "height": height,
        "frame_rate": _rational(rate),
        "frame_rate_float": float(rate) if rate else None,
        "nominal_frame_rate": None if attached else _rational(s.base_rate),
        "pix_fmt": cc.pix_fmt or None,
        "rotation": rotation,
        "sample_aspect_ratio": _rational(sar, ":"),
        "display_aspect_ratio": _rational(dar, ":"),
    }


def stream_seconds(container, stream) -> float | None:
    """Duration of ``stream`` in seconds from the header (no decoding).

    Uses the stream's own duration, else Matroska's ``DURATION`` statistics tag,
    else the container's duration; ``None`` when none is recorded.
    """
    duration = _ts(stream.duration, stream.time_base)
    if duration is None:
        duration = parse_clock(_tag(dict(stream.metadata or {}), "DURATION"))
    if duration is None:
        duration = _us(container.duration)
    return duration


def _normalise_angle(deg: float) -> float:
    """Map an angle to (-180, 180] degrees."""
    deg = float(deg) % 360.0
    if deg > 180.0:
        deg -= 360.0
    return deg + 0.0  # no -0.0


def _first_frame_rotation(container, stream) -> float | None:
    """Rotation (degrees, counter-clockwise, in [-180, 180]) of the first frame of ``stream``.

    FFmpeg attaches the container's display matrix to decoded frames; PyAV exposes it
    as ``VideoFrame.rotation`` but has no getter on the stream. Returns ``None`` when
    no frame could be decoded within a few packets.
    """
    if stream.codec_context is None:
        return None
    with contextlib.suppress(AttributeError, ValueError, av.error.FFmpegError):
        stream.codec_context.thread_type = "SLICE"  # frame threading delays the first frame
    try:
        for n, packet in enumerate(container.demux(stream)):
            if n >= _ROTATION_MAX_PACKETS:
                break
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                continue
            for frame in frames:
                return float(frame.rotation) + 0.0
        for frame in stream.codec_context.decode(None):
            return float(frame.rotation) + 0.0
    except (av.error.FFmpegError, ValueError, OSError):
        return None
    return None
