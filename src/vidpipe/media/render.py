"""Render a slideshow video timed to narration: a streaming renderer, no clip objects.

How a frame is made (everything in Y'CbCr 4:2:0, the encoder's own format, so no
per-frame colour conversion):

1. Each image is prepared once when its slide first appears: decoded with Pillow
   (EXIF rotation applied), fitted onto a canvas ``zoom`` times the frame size
   (``fit``: the whole image over a blurred, darkened fill of itself; ``fill``: cropped
   to cover), converted once to BT.709 limited-range yuv420p planes. At most two
   slides are held at a time.
2. Ken Burns motion is an affine map from frame to canvas per frame, applied to the
   three planes with OpenCV's ``warpAffine`` (bilinear, 1/32-pixel sub-pixel
   precision), so motion is smooth, unlike FFmpeg's ``zoompan``, which rounds the
   crop window to whole pixels and jitters. Zoom moves geometrically (the same
   relative change every frame) and pans linearly: the picture changes steadily.
3. Transitions are centred on slide boundaries: a crossfade is a weighted sum of the
   two slides' planes; fade-through-black dims one to black and brings the next up.
4. Subtitle cues are drawn once each (Pillow, outlined, wrapped) and alpha-blended
   into the planes of the frames they cover.
5. Frames are produced on a worker thread into a small bounded queue and encoded with
   PyAV's libx264 (H.264 High, yuv420p, CRF 20) while the next ones are drawn; audio
   (narration, optional ducked music) is encoded as AAC and interleaved with video.
   The MP4 is written to a temporary name with ``+faststart`` and renamed on success.

The video has ``round(audio_seconds * fps)`` frames, so its duration equals the
audio's within half a frame.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import math
import os
import queue
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from vidpipe.errors import InputError, MediaError, OutputError, UsageError, VidpipeError
from vidpipe.files import atomic_path, check_readable_file
from vidpipe.media.audio import decode_audio, mix_music
from vidpipe.media.subtitles import (
    CueOverlay,
    SubtitleStyle,
    blend_overlay,
    render_cue,
    split_cues,
)
from vidpipe.types import Transcript
from vidpipe.writers import SrtWriter

__all__ = [
    "RenderOptions",
    "RenderResult",
    "SlidePlan",
    "plan_slides",
    "render_slideshow",
]

ProgressCallback = Callable[[float, float], None]

#: Image file suffixes picked up from a folder (anything Pillow reads also works by name).
AUDIO_RATE = 48000  # Hz, AAC output
MOTIONS = ("in", "out", "right", "left", "up", "down")
_VARY = ("in", "right", "out", "left")  # the cycle used by motion="vary"
_OUTPUT_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}
_MAX_SIDE = 8192


@dataclass
class RenderOptions:
    """Everything that shapes the video. Units: pixels, frames per second, seconds.

    Attributes:
        width, height: frame size in pixels; both even (yuv420p), 64..8192.
        fps: frames per second (24).
        slide_duration: seconds per slide when there is no audio and no durations (3.0).
        transition: ``"crossfade"``, ``"fade"`` (through black) or ``"none"``.
        transition_duration: seconds, centred on each slide boundary (0.5).
        ken_burns: move the picture (True); ``zoom`` is the scale between the widest
            and the tightest view (1.1); ``motion`` is ``"vary"`` (zoom in, pan right,
            zoom out, pan left, repeating) or one of ``in out right left up down``.
        fit: ``"fit"`` (whole image over a blurred fill of itself) or ``"fill"`` (crop).
        subtitles: ``"burn"`` (drawn into the picture), ``"soft"`` (an MP4 text track
            plus a sidecar ``.srt``), ``"both"`` or ``"none"``; used when cues are given.
        style: burned-subtitle look (font, size...).
        music_volume_db, duck_db: background music level and extra ducking under
            speech, dB (-14, -12).
        crf, preset, threads: libx264 quality (CRF 20), speed preset ("medium"),
            encoder threads (0 = one per core).
        audio_bitrate: AAC bit rate in bits/s (160 000).
    """

    width: int = 1920
    height: int = 1080
    fps: float = 24.0
    slide_duration: float = 3.0
    transition: str = "crossfade"
    transition_duration: float = 0.5
    ken_burns: bool = True
    zoom: float = 1.1
    motion: str = "vary"
    fit: str = "fit"
    subtitles: str = "burn"
    style: SubtitleStyle = field(default_factory=SubtitleStyle)
    music_volume_db: float = -14.0
    duck_db: float = -12.0
    crf: int = 20
    preset: str = "medium"
    threads: int = 0
    audio_bitrate: int = 160_000

    def check(self) -> None:
        """Raise :class:`UsageError` with one line for any invalid value."""
        for name in ("width", "height"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 64 or v > _MAX_SIDE:
                raise UsageError(f"{name} must be a whole number of pixels from 64 to {_MAX_SIDE}")
            if v % 2:
                raise UsageError(
                    f"{name} {v} is odd; H.264 yuv420p needs even frame sizes",
                    f"use {v - 1} or {v + 1}",
                )
        if not 1 <= float(self.fps) <= 120:
            raise UsageError(f"fps {self.fps} is out of range", "use 1 to 120, e.g. 24 or 30")
        if self.slide_duration <= 0:
            raise UsageError("slide duration must be positive (seconds)")
        if self.transition not in ("crossfade", "fade", "none"):
            raise UsageError(
                f"unknown transition {self.transition!r}", "use crossfade, fade or none"
            )
        if self.transition_duration < 0:
            raise UsageError("transition duration must be >= 0 seconds")
        if not 1.0 <= self.zoom <= 2.0:
            raise UsageError(f"zoom {self.zoom} is out of range", "use 1.0 to 2.0, e.g. 1.1")
        if self.motion != "vary" and self.motion not in MOTIONS:
            raise UsageError(f"unknown motion {self.motion!r}", "use vary, " + ", ".join(MOTIONS))
        if self.fit not in ("fit", "fill"):
            raise UsageError(f"unknown fit {self.fit!r}", "use fit or fill")
        if self.subtitles not in ("burn", "soft", "both", "none"):
            raise UsageError(
                f"unknown subtitle mode {self.subtitles!r}", "use burn, soft, both or none"
            )
        if not 0 <= self.crf <= 51:
            raise UsageError("crf must be 0..51 (lower is better quality; 18-23 is typical)")

    @property
    def rate(self) -> Fraction:
        """The frame rate as an exact fraction (29.97 -> 30000/1001)."""
        return Fraction(self.fps).limit_denominator(1001)

    @property
    def effective_transition(self) -> float:
        """Transition seconds actually used (0 when ``transition == "none"``)."""
        return 0.0 if self.transition == "none" else float(self.transition_duration)


@dataclass
class SlidePlan:
    """When each slide shows. ``bounds`` has one more entry than there are slides:
    slide ``i`` owns ``[bounds[i], bounds[i+1])`` seconds; transitions are centred on
    the inner bounds."""

    bounds: list[float]

    @property
    def durations(self) -> list[float]:
        """Seconds owned by each slide."""
        return [b - a for a, b in zip(self.bounds, self.bounds[1:], strict=False)]

    def slide_at(self, t: float) -> int:
        """Index of the slide that owns time ``t`` (seconds)."""
        i = int(np.searchsorted(self.bounds, t, side="right")) - 1
        return min(max(i, 0), len(self.bounds) - 2)


@dataclass
class RenderResult:
    """What :func:`render_slideshow` wrote."""

    output: Path
    duration: float  # seconds of video
    frames: int
    width: int
    height: int
    fps: float
    plan: SlidePlan
    srt: Path | None = None
    seconds: float = 0.0  # wall time
    audio_duration: float | None = None


def plan_slides(
    n_slides: int,
    *,
    total: float | None = None,
    durations: Sequence[float] | None = None,
    starts: Sequence[float] | None = None,
    options: RenderOptions | None = None,
) -> SlidePlan:
    """Decide when each slide shows.

    Exactly one timing source is used, in this order: ``starts`` (chunk start
    times: each slide begins at its chunk's start, the first at 0), ``durations``
    (explicit seconds per slide; with ``total`` the last slide absorbs the
    difference), an equal split of ``total`` (the audio's length), or
    ``options.slide_duration`` per slide.

    Args:
        n_slides: number of images (>= 1).
        total: the audio's duration in seconds, if there is audio.
        durations: seconds per slide (one per slide).
        starts: start times in seconds, one per slide, increasing.
        options: for the slide duration, transition and fps.

    Returns:
        The plan; its last bound equals ``total`` when given.

    Raises:
        UsageError: no images; a list of the wrong length or not increasing; or more
            slides than the audio allows (each slide must last longer than a
            transition plus one frame).
    """
    opts = options or RenderOptions()
    if n_slides < 1:
        raise UsageError("no images to show", "give at least one image")
    if starts is not None:
        if len(starts) != n_slides:
            raise UsageError(f"{len(starts)} start times for {n_slides} slides")
        end = total if total is not None else float(starts[-1]) + opts.slide_duration
        bounds = [0.0] + [float(s) for s in starts[1:]] + [float(end)]
    elif durations is not None:
        if len(durations) != n_slides:
            raise UsageError(f"{len(durations)} durations for {n_slides} slides")
        if any(d <= 0 for d in durations):
            raise UsageError("slide durations must be positive (seconds)")
        bounds = [0.0, *np.cumsum([float(d) for d in durations]).tolist()]
        if total is not None:
            bounds[-1] = float(total)
    elif total is not None:
        bounds = [total * i / n_slides for i in range(n_slides + 1)]
    else:
        bounds = [opts.slide_duration * i for i in range(n_slides + 1)]
    minimum = opts.effective_transition + 1 / float(opts.rate)
    durs = [b - a for a, b in itertools.pairwise(bounds)]
    if min(durs) < minimum - 1e-9:
        if total is not None and starts is None and durations is None:
            most = max(1, int(total / minimum))
            raise UsageError(
                f"{n_slides} slides do not fit in {total:.2f} s of audio "
                f"(each needs at least {minimum:.2f} s)",
                f"use at most {most} images, or a shorter --transition",
            )
        i = int(np.argmin(durs))
        raise UsageError(
            f"slide {i + 1} lasts {durs[i]:.2f} s, shorter than the "
            f"{minimum:.2f} s a slide needs (transition + one frame)",
            "give increasing start times / longer durations, or fewer slides",
        )
    return SlidePlan(bounds=bounds)


# --------------------------------------------------------------------------- images


def check_image(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` is an image Pillow can decode completely.

    Raises:
        InputError: missing, unreadable, not an image, or truncated/corrupt.
    """
    p = check_readable_file(path)
    try:
        with Image.open(p) as im:
            im.draft("RGB", (512, 512))  # JPEG: decode at reduced size, still checks all data
            im.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(
            f"{p}: not a readable image ({_first_line(exc)})",
            "replace or remove the file; PNG, JPEG, WebP, GIF, BMP and TIFF are supported",
        ) from exc
    return p


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _open_rgb(path: Path, target: tuple[int, int]) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.draft("RGB", target)
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
                return Image.alpha_composite(bg, rgba).convert("RGB")
            return im.convert("RGB")
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})", "replace the file") from exc


def prepare_canvas(path: Path, size: tuple[int, int], fit: str) -> Image.Image:
    """The slide's picture at canvas ``size`` (pixels): fitted over a blurred fill, or cropped.

    Args:
        path: image file.
        size: canvas ``(width, height)`` in pixels.
        fit: ``"fit"`` or ``"fill"``.

    Returns:
        An RGB image of exactly ``size``.
    """
    w, h = size
    img = _open_rgb(path, size)
    if fit == "fill":
        return ImageOps.fit(img, size, Image.Resampling.LANCZOS)
    # Blurred fill: a small cover crop, blurred, darkened to 55 %, scaled up (cheap).
    small = ImageOps.fit(img, (max(2, w // 16), max(2, h // 16)), Image.Resampling.BILINEAR)
    small = small.filter(ImageFilter.GaussianBlur(radius=max(1.0, w / 16 / 40)))
    small = ImageEnhance.Brightness(small).enhance(0.55)
    fg = ImageOps.contain(img, size, Image.Resampling.LANCZOS)
    del img  # free the decoded original before the full-size fill exists
    canvas = small.resize(size, Image.Resampling.BICUBIC)
    canvas.paste(fg, ((w - fg.width) // 2, (h - fg.height) // 2))
    return canvas


def _to_yuv(img: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB image -> BT.709 limited-range yuv420p planes (Y, U, V) via libswscale."""
    frame = av.VideoFrame.from_image(img).reformat(
        format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG"
    )
    planes = []
    for plane in frame.planes:  # rows may be padded to the line size
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        planes.append(rows[:, : plane.width].copy())
    return planes[0], planes[1], planes[2]


# --------------------------------------------------------------------------- motion


def _motion_for(index: int, motion: str) -> str:
    return _VARY[index % len(_VARY)] if motion == "vary" else motion


def view_rect(
    motion: str, progress: float, canvas: tuple[int, int], frame: tuple[int, int], zoom: float
) -> tuple[float, float, float, float]:
    """The canvas rectangle ``(x0, y0, width, height)`` (pixels, sub-pixel) shown at ``progress``.

    Zoom runs geometrically between the whole canvas (scale 1) and the frame-sized
    centre (scale ``zoom``); pans run linearly across the canvas at scale ``zoom``.

    Args:
        motion: ``in``, ``out``, ``right``, ``left``, ``up``, ``down`` or ``none``.
        progress: 0..1 through the slide's visible time.
        canvas: canvas ``(width, height)``.
        frame: output ``(width, height)``.
        zoom: the Ken Burns zoom factor (1.1).
    """
    cw, ch = canvas
    _fw, _fh = frame
    p = min(max(progress, 0.0), 1.0)
    if motion in ("in", "out"):
        s = zoom**p if motion == "in" else zoom ** (1 - p)
        vw, vh = cw / s, ch / s
        return (cw - vw) / 2, (ch - vh) / 2, vw, vh
    if motion == "none" or zoom <= 1.0:
        return 0.0, 0.0, float(cw), float(ch)
    vw, vh = cw / zoom, ch / zoom
    x_mid, y_mid = (cw - vw) / 2, (ch - vh) / 2
    if motion == "right":
        return (cw - vw) * p, y_mid, vw, vh
    if motion == "left":
        return (cw - vw) * (1 - p), y_mid, vw, vh
    if motion == "down":
        return x_mid, (ch - vh) * p, vw, vh
    return x_mid, (ch - vh) * (1 - p), vw, vh  # up


def _affine(rect: tuple[float, float, float, float], frame: tuple[int, int], chroma: bool):
    """Inverse map (frame pixel -> canvas pixel) for cv2.warpAffine, pixel-centre aligned.

    For the half-resolution chroma planes (centre-sited), frame chroma sample ``i`` lies
    at luma position ``2i + 0.5``; mapping it through the luma transform and back to
    chroma units gives the same scale and offset ``(0.5 * s + b - 0.5) / 2``.
    """
    x0, y0, vw, vh = rect
    sx, sy = vw / frame[0], vh / frame[1]
    bx = x0 + 0.5 * sx - 0.5
    by = y0 + 0.5 * sy - 0.5
    if chroma:
        bx = (0.5 * sx + bx - 0.5) / 2
        by = (0.5 * sy + by - 0.5) / 2
    return np.array([[sx, 0.0, bx], [0.0, sy, by]], dtype=np.float64)


class _Slide:
    """A prepared slide: canvas planes and its motion."""

    def __init__(self, index: int, path: Path, opts: RenderOptions) -> None:
        z = opts.zoom if opts.ken_burns else 1.0
        cw = math.ceil(opts.width * z / 2) * 2
        ch = math.ceil(opts.height * z / 2) * 2
        self.canvas = (cw, ch)
        self.motion = _motion_for(index, opts.motion) if opts.ken_burns else "none"
        self.zoom = z
        canvas = prepare_canvas(path, self.canvas, opts.fit)
        self.planes = _to_yuv(canvas)


Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


class _Frames:
    """Draws frame ``k`` into yuv420p planes ``(Y, U, V)`` (views of an encoder frame).

    The next slide is prepared on a helper thread while the current one shows, so the
    encoder is never starved while an image is decoded and fitted.
    """

    def __init__(
        self,
        images: list[Path],
        plan: SlidePlan,
        opts: RenderOptions,
        overlays: list[tuple[float, float, CueOverlay]],
    ) -> None:
        import cv2  # OpenCV: SIMD, multi-threaded warps (already needed by scenedetect)

        self.cv2 = cv2
        self.images, self.plan, self.opts, self.overlays = images, plan, opts, overlays
        self.cache: dict[int, _Slide] = {}
        self.fps = float(opts.rate)
        self.total = plan.bounds[-1]
        self.T = opts.effective_transition
        w, h = opts.width, opts.height
        self.size = (w, h)
        self._tmp = _planes(np.empty((h * 3 // 2, w), np.uint8), w, h)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vidpipe-slide")
        self._pending: dict[int, Future] = {}

    def close(self) -> None:
        """Stop preparing slides and drop the cached ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.cache.clear()
        self._pending.clear()

    def _prepare(self, i: int) -> Future:
        if i not in self._pending:
            self._pending[i] = self._pool.submit(_Slide, i, self.images[i], self.opts)
        return self._pending[i]

    def _slide(self, i: int) -> _Slide:
        if i not in self.cache:
            for old in [k for k in self.cache if k < i - 1]:
                del self.cache[old]  # keep at most the previous and the current slide
                self._pending.pop(old, None)
            self.cache[i] = self._prepare(i).result()
            if i + 1 < len(self.images):
                self._prepare(i + 1)  # decode and fit the next image in the background
        return self.cache[i]

    def _span(self, i: int) -> tuple[float, float]:
        """Seconds during which slide ``i`` is on screen (including its transitions)."""
        b = self.plan.bounds
        start = 0.0 if i == 0 else b[i] - self.T / 2
        end = self.total if i == len(b) - 2 else b[i + 1] + self.T / 2
        return start, end

    def _draw(self, i: int, t: float, out: Planes) -> None:
        cv2 = self.cv2
        s = self._slide(i)
        start, end = self._span(i)
        p = (t - start) / (end - start) if end > start else 0.0
        rect = view_rect(s.motion, p, s.canvas, self.size, s.zoom)
        w, h = self.size
        y_out, u_out, v_out = out
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        m_luma, m_chroma = _affine(rect, self.size, False), _affine(rect, self.size, True)
        cv2.warpAffine(s.planes[0], m_luma, (w, h), dst=y_out, flags=flags,
                       borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        for src, dst in ((s.planes[1], u_out), (s.planes[2], v_out)):
            cv2.warpAffine(src, m_chroma, (w // 2, h // 2), dst=dst, flags=flags,
                           borderMode=cv2.BORDER_REPLICATE)  # fmt: skip

    def frame(self, k: int, out: Planes) -> None:
        """Draw frame ``k`` (time ``k / fps``) into ``out``."""
        cv2 = self.cv2
        t = k / self.fps
        b = self.plan.bounds
        i = self.plan.slide_at(t)
        # Is t inside the transition around bound i (entering i) or bound i+1 (leaving i)?
        half = self.T / 2
        a = b_idx = None
        if self.T > 0:
            if i > 0 and t < b[i] + half:
                b_idx, a = i, (t - (b[i] - half)) / self.T
            elif i < len(b) - 2 and t >= b[i + 1] - half:
                b_idx, a = i + 1, (t - (b[i + 1] - half)) / self.T
        if b_idx is None:
            self._draw(i, t, out)
        elif self.opts.transition == "crossfade":
            self._draw(b_idx - 1, t, out)
            self._draw(b_idx, t, self._tmp)
            for dst, src in zip(out, self._tmp, strict=True):
                cv2.addWeighted(dst, 1.0 - a, src, a, 0.0, dst=dst)
        else:  # fade through black: out, then in
            if a < 0.5:
                self._draw(b_idx - 1, t, out)
                gain = 1.0 - 2 * a
            else:
                self._draw(b_idx, t, out)
                gain = 2 * a - 1.0
            y, u, v = out
            cv2.convertScaleAbs(y, dst=y, alpha=gain, beta=16 * (1 - gain))
            cv2.convertScaleAbs(u, dst=u, alpha=gain, beta=128 * (1 - gain))
            cv2.convertScaleAbs(v, dst=v, alpha=gain, beta=128 * (1 - gain))
        for start, end, ov in self.overlays:
            if start <= t < end:
                blend_overlay(out, ov)


def _frame_planes(frame: av.VideoFrame) -> Planes | None:
    """Writable numpy views of a yuv420p frame's planes, or None if rows are padded."""
    views = []
    for plane in frame.planes:
        if plane.line_size != plane.width:
            return None
        views.append(np.frombuffer(plane, np.uint8).reshape(plane.height, plane.width))
    return views[0], views[1], views[2]


def _planes(arr: np.ndarray, w: int, h: int) -> Planes:
    """Views of the Y, U, V planes inside a contiguous yuv420p array ``(H * 3 / 2, W)``."""
    flat = arr.reshape(-1)
    y = flat[: w * h].reshape(h, w)
    u = flat[w * h : w * h + w * h // 4].reshape(h // 2, w // 2)
    v = flat[w * h + w * h // 4 :].reshape(h // 2, w // 2)
    return y, u, v


# --------------------------------------------------------------------------- output


_ASS_HEADER = (
    b"[Script Info]\r\nScriptType: v4.00+\r\nPlayResX: 384\r\nPlayResY: 288\r\n\r\n"
    b"[V4+ Styles]\r\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
    b"OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, "
    b"Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\r\n"
    b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0"
    b"\r\n\r\n[Events]\r\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, "
    b"Effect, Text\r\n"
)


def _load_audio(path: Path) -> np.ndarray:
    audio = decode_audio(path, AUDIO_RATE, channels=2)
    if audio.shape[0] < AUDIO_RATE // 100:
        raise MediaError(f"{path}: the audio is empty (0 s)", "give a recording with sound in it")
    return audio


def _output_format(output: Path) -> str:
    fmt = _OUTPUT_SUFFIXES.get(output.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"cannot write {output.name}: the output must end in .mp4, .m4v or .mov",
            "e.g. -o video.mp4",
        )
    return fmt


def render_slideshow(
    images: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    audio: str | os.PathLike[str] | None = None,
    durations: Sequence[float] | None = None,
    starts: Sequence[float] | None = None,
    subtitles: Transcript | None = None,
    music: str | os.PathLike[str] | None = None,
    options: RenderOptions | None = None,
    progress: ProgressCallback | None = None,
) -> RenderResult:
    """Render images (and narration) into an MP4 slideshow.

    Args:
        images: image files, one per slide, in order (any format Pillow reads, any size).
        output: ``.mp4`` / ``.m4v`` / ``.mov`` path; written atomically.
        audio: narration (any audio or video file); the video lasts exactly as long.
        durations: seconds per slide (see :func:`plan_slides`).
        starts: slide start times in seconds, e.g. chunk starts.
        subtitles: cues (a Transcript; long segments are split into readable cues by
            :func:`~vidpipe.media.subtitles.split_cues`, the writers' splitter);
            burned in and/or muxed as a text track per ``options.subtitles``.
        music: background music (looped, ducked under speech); needs ``audio``.
        options: size, fps, timing, motion, transitions, subtitles, encoder.
        progress: called as ``progress(frames_done, frames_total)``.

    Returns:
        What was written (duration in seconds, frame count, the slide plan, SRT path).

    Raises:
        UsageError: invalid options, bad output suffix, more slides than the audio allows.
        InputError: a missing or unreadable image, audio or music file.
        MediaError, NoAudioError: audio/music that does not decode or is empty.
        OutputError: the output cannot be written.
    """
    t0 = time.perf_counter()
    opts = options or RenderOptions()
    opts.check()
    out = Path(output)
    fmt = _output_format(out)
    paths = [check_image(p) for p in images]
    if not paths:
        raise UsageError("no images to show", "give --images or --image-dir")
    if music is not None and audio is None:
        raise UsageError("background music needs narration audio", "add --audio")
    narration = _load_audio(check_readable_file(audio)) if audio is not None else None
    audio_seconds = narration.shape[0] / AUDIO_RATE if narration is not None else None
    plan = plan_slides(
        len(paths), total=audio_seconds, durations=durations, starts=starts, options=opts
    )
    if narration is not None and music is not None:
        bed = decode_audio(check_readable_file(music), AUDIO_RATE, channels=2)
        narration = mix_music(narration, bed, AUDIO_RATE, opts.music_volume_db, opts.duck_db)
    rate = opts.rate
    total = plan.bounds[-1]
    n_frames = max(1, round(total * rate))

    cues = split_cues(subtitles) if subtitles is not None and subtitles.segments else None
    overlays: list[tuple[float, float, CueOverlay]] = []
    if cues is not None and opts.subtitles in ("burn", "both"):
        drawn: dict[str, CueOverlay] = {}
        for seg in cues.segments:
            if seg.text not in drawn:
                drawn[seg.text] = render_cue(seg.text, opts.width, opts.height, opts.style)
            overlays.append((seg.start, seg.end, drawn[seg.text]))
    srt_path = None
    if cues is not None and opts.subtitles in ("soft", "both"):
        srt_path = SrtWriter().write(cues, out.with_suffix(".srt"))

    frames = _Frames(paths, plan, opts, overlays)
    try:
        with atomic_path(out) as tmp:
            _encode(tmp, fmt, frames, n_frames, narration, cues if srt_path else None, opts,
                    progress)  # fmt: skip
    except VidpipeError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}", "check the folder") from exc
    except av.error.FFmpegError as exc:
        raise OutputError(f"encoding {out.name} failed: {exc}", "check the options") from exc
    return RenderResult(
        output=out,
        duration=n_frames / float(rate),
        frames=n_frames,
        width=opts.width,
        height=opts.height,
        fps=float(rate),
        plan=plan,
        srt=srt_path,
        seconds=time.perf_counter() - t0,
        audio_duration=audio_seconds,
    )


_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter (malloc.h)


@functools.cache
def _fix_mmap_threshold() -> bool:
    """Keep glibc from hoarding freed frame-sized blocks (Linux only; once per process).

    glibc serves blocks over 128 KiB with mmap, but after the first such block is
    freed it raises that threshold (up to 32 MiB), so later multi-megabyte frames and
    canvases come from per-thread heaps that fragment and are not returned: a 1080p
    render's peak RSS grew by ~45 MB that way (548 -> 504 MB measured). Fixing the
    threshold at its default (``mallopt(M_MMAP_THRESHOLD, 128 KiB)``, the same as
    ``MALLOC_MMAP_THRESHOLD_=131072``) turns the adaptation off.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024))
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return False


def _encode(
    path: Path,
    fmt: str,
    frames: _Frames,
    n_frames: int,
    narration: np.ndarray | None,
    cues: Transcript | None,
    opts: RenderOptions,
    progress: ProgressCallback | None,
) -> None:
    w, h = opts.width, opts.height
    rate = opts.rate
    _fix_mmap_threshold()
    container = av.open(str(path), "w", format=fmt, options={"movflags": "+faststart"})
    try:
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        cc = video.codec_context
        cc.options = {"crf": str(opts.crf), "preset": opts.preset}
        cc.thread_count = opts.threads
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1  # BT.709
        a_stream = None
        if narration is not None:
            a_stream = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            a_stream.bit_rate = opts.audio_bitrate
        s_stream = None
        if cues is not None:
            s_stream = container.add_stream("mov_text")
            s_stream.time_base = Fraction(1, 1000)
            s_stream.codec_context.subtitle_header = _ASS_HEADER
            if cues.language:
                s_stream.metadata["language"] = cues.language

        audio_pos = 0  # samples sent to the encoder
        a_frame_size = 1024

        def push_audio(until_seconds: float | None) -> None:
            nonlocal audio_pos
            if a_stream is None:
                return
            end = narration.shape[0] if until_seconds is None else int(until_seconds * AUDIO_RATE)
            end = min(end, narration.shape[0])
            while audio_pos < end:
                n = min(a_frame_size, narration.shape[0] - audio_pos)
                if until_seconds is not None and audio_pos + n > end and n == a_frame_size:
                    break
                block = np.ascontiguousarray(narration[audio_pos : audio_pos + n].T)
                af = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
                af.sample_rate = AUDIO_RATE
                af.pts = audio_pos
                af.time_base = Fraction(1, AUDIO_RATE)
                audio_pos += n
                for pkt in a_stream.encode(af):
                    container.mux(pkt)

        if s_stream is not None:
            for seg in cues.segments:
                data = seg.text.encode("utf-8")
                pkt = av.Packet(struct.pack(">H", len(data)) + data)
                start = round(seg.start * 1000)
                pkt.stream = s_stream
                pkt.pts = pkt.dts = start
                pkt.duration = max(1, round(seg.end * 1000) - start)
                pkt.time_base = Fraction(1, 1000)
                container.mux(pkt)

        q: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()
        # Encoder frames are recycled: libx264 copies a picture into its own buffers
        # before encode() returns, so a frame may be drawn again once encoded. Fresh
        # multi-megabyte frames cost ~2.6 ms each in page faults at 1080p.
        free: queue.SimpleQueue = queue.SimpleQueue()

        def new_frame() -> tuple[av.VideoFrame, Planes, np.ndarray | None]:
            try:
                return free.get_nowait()
            except queue.Empty:
                pass
            vf = av.VideoFrame(w, h, "yuv420p")
            views = _frame_planes(vf)
            if views is not None:
                return vf, views, None  # draw straight into the encoder's frame
            buf = np.empty((h * 3 // 2, w), np.uint8)  # padded rows: draw, then copy
            return vf, _planes(buf, w, h), buf

        def produce() -> None:
            try:
                for k in range(n_frames):
                    if stop.is_set():
                        return
                    slot = new_frame()
                    vf, views, buf = slot
                    frames.frame(k, views)
                    if buf is not None:
                        vf = av.VideoFrame.from_ndarray(buf, format="yuv420p")
                        slot = None  # a copy: not recyclable
                    q.put((k, vf, slot))
                q.put(None)
            except BaseException as exc:  # handed to the encoding thread
                q.put(exc)

        import cv2

        cv_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)  # x264's threads already fill the cores; OpenCV's pool would fight
        worker = threading.Thread(target=produce, name="vidpipe-render", daemon=True)
        worker.start()
        try:
            done = 0
            while True:
                item = q.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                k, vf, slot = item
                vf.pts = k
                vf.time_base = 1 / rate
                vf.colorspace, vf.color_range = 1, 1  # BT.709, limited (as drawn)
                push_audio((k + 1) / float(rate))
                for pkt in video.encode(vf):
                    container.mux(pkt)
                if slot is not None:
                    free.put(slot)
                done += 1
                if progress is not None:
                    progress(done, n_frames)
        finally:
            stop.set()
            while worker.is_alive():
                try:
                    q.get_nowait()
                except queue.Empty:
                    worker.join(0.05)
            cv2.setNumThreads(cv_threads)
            frames.close()
        for pkt in video.encode():
            container.mux(pkt)
        push_audio(None)
        if a_stream is not None:
            for pkt in a_stream.encode():
                container.mux(pkt)
    finally:
        container.close()
