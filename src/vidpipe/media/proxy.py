"""A playable copy of a video for web browsers: H.264 video and AAC sound in an MP4
(``+faststart``: playable while it loads), and a poster frame (JPEG), made with PyAV.

For media a browser cannot decode (MPEG-4 Part 2, HEVC, MPEG-2...): the web page asks
for one (``POST /v1/items/{id}/proxy``, a ``proxy`` job) and plays it instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vidpipe.errors import MediaError, OutputError

__all__ = ["MAX_HEIGHT", "ProxyResult", "make_proxy"]

MAX_HEIGHT = 720
"""Tallest proxy picture, in pixels (taller videos are scaled down, aspect kept)."""


@dataclass(frozen=True)
class ProxyResult:
    """``path`` of the MP4, ``poster`` (JPEG) or None without a picture, ``width`` and
    ``height`` (pixels, 0 without video), ``duration`` (seconds, of the source)."""

    path: Path
    poster: Path | None
    width: int
    height: int
    duration: float | None


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def make_proxy(
    src: str | Path,
    dst: str | Path,
    *,
    max_height: int = MAX_HEIGHT,
    poster: str | Path | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> ProxyResult:
    """Encode ``src`` as H.264 (yuv420p, CRF 26, ``veryfast``) + AAC (128 kbit/s, 48 kHz,
    stereo or mono) MP4 at ``dst``, at most ``max_height`` pixels tall; write the first
    picture as a JPEG ``poster`` (default ``dst`` with ``.jpg``).

    Args:
        progress: ``progress(seconds done, seconds in all)`` as the source is decoded.

    Returns:
        :class:`ProxyResult`.

    Raises:
        MediaError: ``src`` cannot be decoded, or has neither video nor audio.
        OutputError: ``dst`` cannot be written.
    """
    import av
    import av.error

    src, dst = Path(src), Path(dst)
    poster_path = Path(poster) if poster is not None else dst.with_suffix(".jpg")
    try:
        inp = av.open(str(src))
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"{src.name}: cannot be decoded ({exc})") from exc
    with inp:
        vin = next(iter(inp.streams.video), None)
        ain = next(iter(inp.streams.audio), None)
        if vin is None and ain is None:
            raise MediaError(f"{src.name}: no video or audio stream")
        duration = float(inp.duration / av.time_base) if inp.duration else None
        try:
            out = av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"})
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot write {dst}: {exc}") from exc
        width = height = 0
        wrote_poster = False
        with out:
            vout = aout = None
            if vin is not None:
                w0, h0 = vin.codec_context.width, vin.codec_context.height
                scale = min(1.0, max_height / h0) if h0 else 1.0
                width, height = _even(w0 * scale), _even(h0 * scale)
                rate = vin.average_rate or vin.guessed_rate or Fraction(25)
                vout = out.add_stream("libx264", rate=rate)
                vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
                vout.options = {"crf": "26", "preset": "veryfast"}
                vout.codec_context.time_base = Fraction(1, 1) / Fraction(rate)
            resampler = None
            if ain is not None:
                layout = "mono" if ain.codec_context.channels == 1 else "stereo"
                aout = out.add_stream("aac", rate=48000)
                aout.layout = layout
                aout.bit_rate = 128_000
                resampler = av.AudioResampler(format="fltp", layout=layout, rate=48000)
            streams = [s for s in (vin, ain) if s is not None]
            frame_no = 0
            try:
                for packet in inp.demux(*streams):
                    for frame in packet.decode():
                        t = float(frame.pts * frame.time_base) if frame.pts is not None else None
                        if progress is not None and t is not None and duration:
                            progress(min(t, duration), duration)
                        if isinstance(frame, av.VideoFrame) and vout is not None:
                            if not wrote_poster:
                                frame.to_image().save(poster_path, "JPEG", quality=85)
                                wrote_poster = True
                            pic = frame.reformat(width=width, height=height, format="yuv420p")
                            pic.pts, pic.time_base = frame_no, vout.codec_context.time_base
                            frame_no += 1
                            out.mux(vout.encode(pic))
                        elif isinstance(frame, av.AudioFrame) and aout is not None:
                            frame.pts = None
                            for part in resampler.resample(frame):
                                out.mux(aout.encode(part))
            except av.error.FFmpegError as exc:
                raise MediaError(f"{src.name}: cannot be decoded ({exc})") from exc
            if vout is not None:
                out.mux(vout.encode())
            if aout is not None:
                for part in resampler.resample(None):
                    out.mux(aout.encode(part))
                out.mux(aout.encode())
    if progress is not None and duration:
        progress(duration, duration)
    return ProxyResult(dst, poster_path if wrote_poster else None, width, height, duration)
