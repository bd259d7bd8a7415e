"""Subtitle cues for rendered videos: loading, splitting to readable cues, wrapping, drawing.

Cues are :class:`~vidpipe.types.Segment` objects inside a
:class:`~vidpipe.types.Transcript`, so the transcript writers (SRT, WebVTT) write the
sidecar files and every transcript vidpipe makes can be burned in as it is.

Readability numbers follow common broadcast subtitle guidelines (BBC, Netflix timed
text style guides): at most two lines of about 42 characters (16 for CJK, which is
about as wide), and no cue longer than 7 seconds.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysubs2
from PIL import Image, ImageDraw

from vidpipe.errors import InputError
from vidpipe.files import check_readable_file
from vidpipe.media.fonts import load_font, tokens, wrap_text
from vidpipe.types import Segment, Transcript

__all__ = [
    "CueOverlay",
    "SubtitleStyle",
    "is_wide",
    "load_subtitles",
    "readable_cues",
    "render_cue",
]

MAX_LINE_CHARS = 42  # Latin/Cyrillic characters per line (BBC/Netflix guidelines)
MAX_LINE_CHARS_WIDE = 16  # CJK characters per line (Netflix Chinese/Japanese guidelines)
MAX_CUE_SECONDS = 7.0

_WIDE = re.compile(r"[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def is_wide(ch: str) -> bool:
    """True for East Asian wide characters (Han, Kana, Hangul, full-width forms)."""
    return bool(_WIDE.match(ch)) or unicodedata.east_asian_width(ch) in ("W", "F")


def load_subtitles(path: str | os.PathLike[str]) -> Transcript:
    """Read cues from an SRT, WebVTT, ASS/SSA file, or a vidpipe transcript JSON.

    Args:
        path: the subtitle file.

    Returns:
        A Transcript whose segments are the cues (seconds), in time order.

    Raises:
        InputError: missing/unreadable, or not a subtitle file.
    """
    p = check_readable_file(path)
    if p.suffix.lower() == ".json":
        try:
            return Transcript.model_validate(json.loads(p.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(
                f"{p}: not a vidpipe transcript JSON ({str(exc).splitlines()[0]})",
                "give an .srt/.vtt/.ass file or a JSON written by vidpipe transcribe",
            ) from exc
    try:
        subs = pysubs2.load(str(p), encoding="utf-8")
    except (pysubs2.exceptions.Pysubs2Error, UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            f"{p}: cannot read subtitles ({exc})", "give an .srt, .vtt or .ass file in UTF-8"
        ) from exc
    segs: list[Segment] = []
    for ev in sorted(subs, key=lambda e: e.start):
        if ev.is_comment:
            continue
        text = " ".join(ev.plaintext.split())
        if text and ev.end > ev.start:
            segs.append(Segment(id=len(segs), start=ev.start / 1000, end=ev.end / 1000, text=text))
    if not segs:
        raise InputError(f"{p}: no subtitle cues found", "check the file's format")
    return Transcript(segments=segs, duration=segs[-1].end)


def _wide_share(text: str) -> float:
    chars = [c for c in text if not c.isspace()]
    return sum(map(is_wide, chars)) / len(chars) if chars else 0.0


def _cue_capacity(text: str) -> int:
    per_line = MAX_LINE_CHARS_WIDE if _wide_share(text) > 0.5 else MAX_LINE_CHARS
    return 2 * per_line


def _split_text(text: str, parts: int) -> list[str]:
    """Split text into ``parts`` pieces of about equal length at word (or CJK char) bounds."""
    toks = [(" " if space else "") + tok for tok, space in tokens(text)]
    total = sum(len(t) for t in toks)
    out: list[str] = []
    cur = ""
    for tok in toks:
        cur += tok
        if len(out) < parts - 1 and len("".join(out)) + len(cur) >= total * (len(out) + 1) / parts:
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return [p.strip() for p in out if p.strip()]


def readable_cues(transcript: Transcript) -> Transcript:
    """Split long segments into subtitle-sized cues (two lines, at most 7 s).

    With word timestamps a cue ends at a word's end; without them the segment's time
    is shared out in proportion to characters.

    Args:
        transcript: any transcript (segments in seconds).

    Returns:
        A new Transcript with the same language and duration whose segments are cues.
    """
    cues: list[Segment] = []
    for seg in transcript.segments:
        text = " ".join(seg.text.split())
        if not text:
            continue
        span = max(seg.end - seg.start, 0.0)
        parts = max(
            -(-len(text) // _cue_capacity(text)),
            int(np.ceil(span / MAX_CUE_SECONDS)) if span > MAX_CUE_SECONDS else 1,
        )
        if parts <= 1:
            cues.append(Segment(id=len(cues), start=seg.start, end=seg.end, text=text))
            continue
        if seg.words and len(seg.words) >= parts:
            per = -(-len(seg.words) // parts)
            for i in range(0, len(seg.words), per):
                ws = seg.words[i : i + per]
                piece = "".join(w.word for w in ws).strip()
                if _wide_share(piece) <= 0.5:
                    piece = " ".join(piece.split())
                cues.append(Segment(id=len(cues), start=ws[0].start, end=ws[-1].end, text=piece))
            continue
        pieces = _split_text(text, parts)
        total = sum(len(p) for p in pieces) or 1
        t = seg.start
        for piece in pieces:
            dur = span * len(piece) / total
            cues.append(Segment(id=len(cues), start=t, end=t + dur, text=piece))
            t += dur
    return Transcript(
        language=transcript.language,
        duration=transcript.duration,
        segments=cues,
    )


@dataclass(frozen=True)
class SubtitleStyle:
    """How burned-in subtitles look.

    Sizes are fractions of the frame height so the look is the same at any size.
    Defaults: 5.2 % of the height (56 px at 1080p), white with a black outline of
    1/9 the font size, bottom margin 6 % of the height, lines at most 86 % of the width.
    """

    font: str | None = None
    size: float = 0.052
    outline: float = 1 / 9
    margin_bottom: float = 0.06
    max_width: float = 0.86
    max_lines: int = 3
    fill: tuple[int, int, int] = (255, 255, 255)
    outline_fill: tuple[int, int, int] = (0, 0, 0)


@dataclass
class CueOverlay:
    """A drawn cue in Y'CbCr with alpha, ready to blend into yuv420p planes.

    ``x``, ``y`` (even, pixels) place the box in the frame; ``y_plane`` and ``alpha``
    are full resolution (uint8, shape ``(h, w)``), ``u_plane``, ``v_plane`` and
    ``alpha_c`` half resolution.
    """

    x: int
    y: int
    y_plane: np.ndarray
    u_plane: np.ndarray
    v_plane: np.ndarray
    alpha: np.ndarray
    alpha_c: np.ndarray
    lines: list[str]


def _rgb_to_ycbcr709(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.709 limited-range Y'CbCr from 8-bit R'G'B' (ITU-R BT.709-6, table 3)."""
    r, g, b = (rgb[..., i].astype(np.float32) / 255 for i in range(3))
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    cb = (b - y) / 1.8556
    cr = (r - y) / 1.5748
    to8 = lambda v, off, scale: np.clip(np.rint(off + scale * v), 0, 255).astype(np.uint8)  # noqa: E731
    return to8(y, 16, 219), to8(cb, 128, 224), to8(cr, 128, 224)


def render_cue(text: str, width: int, height: int, style: SubtitleStyle) -> CueOverlay:
    """Draw one cue, centred near the bottom of a ``width`` x ``height`` frame.

    The text is wrapped to ``style.max_width`` of the frame; if it needs more than
    two lines the font shrinks (down to 75 %) before a third line is allowed.

    Args:
        text: the cue text (any script the font covers).
        width, height: frame size in pixels (even).
        style: colours, sizes and font.

    Returns:
        The overlay with its position.

    Raises:
        InputError: the style's font cannot be loaded.
    """
    base = max(10, round(height * style.size))
    max_w = width * style.max_width
    for size in (base, round(base * 0.87), round(base * 0.75)):
        font = load_font(style.font, size)
        lines = wrap_text(text, font, max_w, balanced=True)
        if len(lines) <= 2:
            break
    lines = lines[: style.max_lines]
    stroke = max(2, round(size * style.outline))
    ascent, descent = font.getmetrics()
    line_h = round((ascent + descent) * 1.12)
    box_w = int(min(width, max(font.getlength(ln) for ln in lines) + 4 * stroke)) if lines else 2
    box_h = line_h * max(1, len(lines)) + 2 * stroke
    box_w += box_w % 2
    box_h += box_h % 2
    img = Image.new("RGBA", (box_w, box_h), (*style.outline_fill, 0))
    draw = ImageDraw.Draw(img)
    for i, ln in enumerate(lines):
        draw.text(
            (box_w / 2, stroke + i * line_h),
            ln,
            font=font,
            fill=(*style.fill, 255),
            stroke_width=stroke,
            stroke_fill=(*style.outline_fill, 255),
            anchor="ma",
        )
    rgba = np.asarray(img)
    y_p, u_p, v_p = _rgb_to_ycbcr709(rgba[..., :3])
    alpha = rgba[..., 3].copy()
    # Chroma at half resolution: average 2x2 blocks (premultiplied by alpha).
    a4 = alpha.astype(np.float32).reshape(box_h // 2, 2, box_w // 2, 2)
    a_c = a4.mean(axis=(1, 3))

    def half(plane: np.ndarray) -> np.ndarray:
        p4 = plane.astype(np.float32).reshape(box_h // 2, 2, box_w // 2, 2) * a4
        return np.where(a_c > 0, p4.sum(axis=(1, 3)) / np.maximum(a4.sum(axis=(1, 3)), 1e-6), 128)

    u_c = np.clip(np.rint(half(u_p)), 0, 255).astype(np.uint8)
    v_c = np.clip(np.rint(half(v_p)), 0, 255).astype(np.uint8)
    x = (width - box_w) // 2
    y = height - round(height * style.margin_bottom) - box_h
    x -= x % 2
    y -= y % 2
    return CueOverlay(
        x=max(0, x),
        y=max(0, y),
        y_plane=y_p,
        u_plane=u_c,
        v_plane=v_c,
        alpha=alpha,
        alpha_c=np.clip(np.rint(a_c), 0, 255).astype(np.uint8),
        lines=lines,
    )


def blend_overlay(planes: tuple[np.ndarray, np.ndarray, np.ndarray], ov: CueOverlay) -> None:
    """Alpha-blend a cue into yuv420p planes ``(Y, U, V)`` in place."""
    y_pl, u_pl, v_pl = planes
    h, w = ov.alpha.shape
    h = min(h, y_pl.shape[0] - ov.y)
    w = min(w, y_pl.shape[1] - ov.x)
    _blend(y_pl[ov.y : ov.y + h, ov.x : ov.x + w], ov.y_plane[:h, :w], ov.alpha[:h, :w])
    cy, cx, ch, cw = ov.y // 2, ov.x // 2, h // 2, w // 2
    _blend(u_pl[cy : cy + ch, cx : cx + cw], ov.u_plane[:ch, :cw], ov.alpha_c[:ch, :cw])
    _blend(v_pl[cy : cy + ch, cx : cx + cw], ov.v_plane[:ch, :cw], ov.alpha_c[:ch, :cw])


def _blend(dst: np.ndarray, src: np.ndarray, alpha: np.ndarray) -> None:
    a = alpha.astype(np.uint16)
    mixed = (dst.astype(np.uint16) * (255 - a) + src.astype(np.uint16) * a + 127) // 255
    dst[...] = mixed.astype(np.uint8)


def write_srt(cues: Transcript, path: str | os.PathLike[str]) -> Path:
    """Write cues as SubRip atomically (the transcript SRT writer); return the path."""
    from vidpipe.writers import SrtWriter

    return SrtWriter().write(cues, path)
