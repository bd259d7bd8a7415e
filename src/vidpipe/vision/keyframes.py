"""Keyframes: decode the picture shown at given times and save it as JPEG.

Decoding is PyAV's (FFmpeg inside the wheel); JPEG encoding is Pillow's. Each
picture is corrected for display the way a player shows it: the display-matrix
rotation is applied, and non-square pixels (sample aspect ratio, SAR) are
resampled to square ones, so a 704x576 frame with SAR 16:11 is saved as 1024x576.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import av.error
from PIL import Image

from vidpipe.errors import MediaError
from vidpipe.files import atomic_write
from vidpipe.media.probe import media_error, open_media

__all__ = ["display_image", "extract_keyframes", "read_frames"]


def display_image(frame: av.VideoFrame, sar: Fraction | None = None) -> Image.Image:
    """A decoded frame as an RGB Pillow image, rotated and with square pixels.

    Rotation is FFmpeg's display matrix (``frame.rotation``, degrees
    counter-clockwise, what ``ffprobe`` prints); the sample aspect ratio stretches
    the width (``width * SAR`` pixels); pass the stream's ``sar`` (PyAV frames do
    not carry it).
    """
    img = frame.to_image()  # RGB24
    if sar and sar > 0 and sar != 1:
        width = max(1, round(img.width * Fraction(sar)))
        img = img.resize((width, img.height), Image.Resampling.LANCZOS)
    rotation = round(float(getattr(frame, "rotation", 0) or 0)) % 360
    if rotation:
        img = img.rotate(rotation, expand=True)  # Pillow rotates counter-clockwise
    return img


def read_frames(path: str | os.PathLike[str], times: list[float]) -> list[Image.Image]:
    """Decode the frame shown at each time (seconds from the start of the video).

    For each time the decoder seeks to the keyframe before it and decodes forward
    to the first frame whose presentation time is at or after ``t`` (the last frame
    when ``t`` is past the end). Times are relative to the stream's first
    timestamp, so files with a start offset work.

    Returns:
        One RGB image per time, in the order given.

    Raises:
        MediaError: no video stream, or nothing decodes.
    """
    p, container = open_media(path)
    images: list[Image.Image | None] = [None] * len(times)
    with container:
        streams = [s for s in container.streams.video if not _is_cover(s)]
        if not streams:
            raise MediaError(f"{p}: has no video stream", "pass a video file")
        stream = streams[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base or Fraction(1, 1_000_000)
        offset = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        # Half a nominal frame of tolerance: a time on a frame boundary picks that frame.
        rate = stream.average_rate or stream.base_rate or 25
        eps = 0.5 / float(rate)
        sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
        for i in sorted(range(len(times)), key=lambda k: times[k]):
            target = max(0.0, float(times[i])) + offset
            try:
                container.seek(int(target / tb), stream=stream, backward=True, any_frame=False)
                last = None
                for frame in container.decode(stream):
                    if frame.time is None:
                        continue
                    last = frame
                    if frame.time >= target - eps:
                        break
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                raise media_error(p, exc, "decode") from exc
            if last is None:
                raise MediaError(
                    f"{p}: no picture could be decoded at {times[i]:.3f} s",
                    "the file may be truncated or corrupt",
                )
            images[i] = display_image(last, sar)
    return [img for img in images if img is not None]


def _is_cover(stream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def save_jpeg(img: Image.Image, dest: str | os.PathLike[str], quality: int = 90) -> Path:
    """Write ``img`` as a baseline JPEG atomically (``quality`` 1-95, Pillow's scale)."""
    dest = Path(dest)
    with atomic_write(dest, "wb") as fh:
        img.convert("RGB").save(fh, format="JPEG", quality=quality)
    return dest


def extract_keyframes(
    path: str | os.PathLike[str],
    times: list[float],
    out_dir: str | os.PathLike[str],
    prefix: str = "scene",
    quality: int = 90,
) -> list[Path]:
    """Save the picture at each time as ``out_dir/<prefix>-NNN.jpg`` (NNN from 001).

    Args:
        path: a local video file.
        times: seconds from the start of the video.
        out_dir: folder for the JPEGs (created).
        prefix: file-name prefix.
        quality: JPEG quality, 1-95.

    Returns:
        The JPEG paths, one per time, in the order of ``times``. Each is written
        atomically, at display size in pixels (rotation and SAR applied).

    Raises:
        InputError, MediaError: bad input. OutputError: the folder is not writable.
    """
    images = read_frames(path, times)
    out = Path(out_dir)
    return [
        save_jpeg(img, out / f"{prefix}-{n:03d}.jpg", quality) for n, img in enumerate(images, 1)
    ]
