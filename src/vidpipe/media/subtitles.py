"""Subtitle cues for rendered videos: loading, splitting to readable cues, wrapping, drawing.

Cues are :class:`~vidpipe.types.Segment` objects inside a
:class:`~vidpipe.types.Transcript`, so the transcript writers (SRT, WebVTT) write the
sidecar files and every transcript vidpipe makes can be burned in as it is.

Readability numbers follow common broadcast subtitle guidelines (BBC, Netflix timed
text style guides): at most two lines of 42 display columns (a CJK character counts
two) and no cue longer than 7 seconds. :func:`split_cues` is the one cue splitter:
the SRT/VTT/ASS writers and the renderer's burned-in subtitles both use it.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pysubs2
from PIL import Image, ImageDraw

from vidpipe.errors import InputError, UsageError
from vidpipe.files import check_readable_file
from vidpipe.media.fonts import NO_LINE_END, NO_LINE_START, load_font, tokens, wrap_text
from vidpipe.text.sentences import ends_sentence
from vidpipe.types import Segment, Transcript, Word

__all__ = [
    "CueOptions",
    "CueOverlay",
    "SubtitleStyle",
    "cue_word_spans",
    "display_width",
    "is_wide",
    "load_subtitles",
    "render_cue",
    "split_cues",
]

MAX_LINE_WIDTH = 42  # display columns per line (BBC/Netflix guidelines; a CJK character is 2)
MAX_LINE_COUNT = 2
MAX_CUE_SECONDS = 7.0

_WIDE = re.compile(r"[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_CLAUSE_END = frozenset(",;:，、；：—–")


def is_wide(ch: str) -> bool:
    """True for East Asian wide characters (Han, Kana, Hangul, full-width forms)."""
    return bool(_WIDE.match(ch)) or unicodedata.east_asian_width(ch) in ("W", "F")


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal or subtitle line: East Asian wide and
    full-width characters (``unicodedata.east_asian_width`` W/F) count 2, combining
    marks 0, everything else 1 (the rule of POSIX ``wcwidth``)."""
    if text.isascii():  # the common case, and the cue splitter asks thousands of times
        return len(text)
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if is_wide(ch) else 1
    return width


@dataclass(frozen=True)
class CueOptions:
    """How transcripts become subtitle cues (writers and the renderer use the same).

    Defaults follow the BBC and Netflix timed-text style guides: at most two lines
    of 42 display columns (a CJK character takes two, so 21 of them) and no cue
    longer than 7 seconds. ``highlight_words`` makes the VTT and ASS writers add
    karaoke word timing (when the cues have word timestamps).

    Args:
        max_line_width: display columns per line (>= 1).
        max_line_count: lines per cue (>= 1).
        max_cue_duration: seconds (> 0).
        highlight_words: per-word timing tags in VTT (``<00:00:01.230><c>word</c>``)
            and ASS (``{\\k..}``).
    """

    max_line_width: int = MAX_LINE_WIDTH
    max_line_count: int = MAX_LINE_COUNT
    max_cue_duration: float = MAX_CUE_SECONDS
    highlight_words: bool = False

    def check(self) -> CueOptions:
        """Return self when valid.

        Raises:
            UsageError: a limit below its minimum.
        """
        if self.max_line_width < 1:
            raise UsageError("--max-line-width must be at least 1", "try 42")
        if self.max_line_count < 1:
            raise UsageError("--max-line-count must be at least 1", "try 2")
        if not self.max_cue_duration > 0:
            raise UsageError("--max-cue-duration must be positive (seconds)", "try 7")
        return self


@dataclass
class _Unit:
    """An unbreakable piece of a cue: a word (or a CJK character), its times (s)."""

    text: str
    space: bool  # a space before it in the text
    start: float
    end: float
    word: Word | None = None
    lead: bool = False  # a speaker label before the cue: takes room, is not cue text


def _norm(text: str) -> str:
    return "".join(text.split())


def _word_units(seg: Segment) -> list[_Unit] | None:
    """Units from word timestamps, or None when there are none or they do not spell
    the segment's text (then times are shared out by characters)."""
    if not seg.words:
        return None
    units = [
        _Unit(w.word.strip(), w.word[:1].isspace(), w.start, w.end, w)
        for w in seg.words
        if w.word.strip()
    ]
    if not units or _norm("".join(u.text for u in units)) != _norm(seg.text):
        return None
    return units


def _char_units(seg: Segment, text: str) -> list[_Unit]:
    """Units from the text's break opportunities, timed in proportion to characters."""
    toks = tokens(text)
    total = sum(len(t) for t, _ in toks) or 1
    span = max(seg.end - seg.start, 0.0)
    units, done = [], 0
    for tok, space in toks:
        a = seg.start + span * done / total
        done += len(tok)
        units.append(_Unit(tok, bool(space), a, seg.start + span * done / total))
    return units


def _breakable(units: list[_Unit], i: int) -> bool:
    """May a line or cue break before ``units[i]``? Never before closing or after
    opening punctuation (``，。」)`` / ``「(``), except where there is a space."""
    if i <= 0 or i >= len(units):
        return True
    if units[i - 1].lead:
        return False
    if units[i].space:
        return True
    return units[i].text[0] not in NO_LINE_START and units[i - 1].text[-1] not in NO_LINE_END


def _hard_pieces(text: str, width: int) -> list[str]:
    pieces, cur = [], ""
    for ch in text:
        if cur and display_width(cur + ch) > width:
            pieces.append(cur)
            cur = ch
        else:
            cur += ch
    return [*pieces, cur] if cur else pieces


def _wrap(units: list[_Unit], width: int) -> list[str]:
    """Greedy wrap into lines of at most ``width`` columns (fewest lines possible);
    units stuck together (no break allowed between them) move as one."""
    groups: list[list[_Unit]] = []
    for k, u in enumerate(units):
        if groups and not _breakable(units, k):
            groups[-1].append(u)
        else:
            groups.append([u])
    lines: list[str] = []
    cur = ""
    for g in groups:
        text = "".join((" " if u.space and n else "") + u.text for n, u in enumerate(g))
        sep = " " if g[0].space and cur else ""
        if cur and display_width(cur + sep + text) <= width:
            cur += sep + text
            continue
        if cur:
            lines.append(cur)
        pieces = _hard_pieces(text, width) if display_width(text) > width else [text]
        lines.extend(pieces[:-1])
        cur = pieces[-1]
    if cur:
        lines.append(cur)
    return lines


def _balanced(units: list[_Unit], width: int) -> list[str]:
    """As few lines as :func:`_wrap`, but of similar width (no lonely last word)."""
    lines = _wrap(units, width)
    if len(lines) < 2:
        return lines
    lo, hi = 1, width
    if units and units[0].lead:  # never narrower than the label and its first word
        lo = min(width, display_width(_wrap(units[:2], 10**6)[0]))
    while lo < hi:  # the narrowest width that keeps the line count
        mid = (lo + hi) // 2
        if len(_wrap(units, mid)) <= len(lines):
            hi = mid
        else:
            lo = mid + 1
    return _wrap(units, hi)


def _break_cost(units: list[_Unit], j: int) -> float:
    """Cost of ending a cue after ``units[j - 1]`` (a cue itself costs 1): sentence
    ends are best (0.1), then clause punctuation (0.3), then other word boundaries,
    from 1.5 without a pause down to 0.4 at a pause of 0.55 s or more."""
    if j >= len(units):
        return 0.0
    if ends_sentence(units[j - 1].text):
        return 0.1
    last = units[j - 1].text[-1]
    if last in _CLAUSE_END:
        return 0.3
    return max(0.4, 1.5 - 2.0 * (units[j].start - units[j - 1].end))


def _strip_lead(text: str, lead: str) -> str:
    """``text`` without the characters of ``lead`` at its start (whatever line breaks
    the wrapping put among them), and without the whitespace after them."""
    pos = 0
    for ch in lead:
        while pos < len(text) and text[pos].isspace() and not ch.isspace():
            pos += 1
        if pos < len(text) and text[pos] == ch:
            pos += 1
    return text[pos:].lstrip()


def _split_segment(seg: Segment, opts: CueOptions, lead: str = "") -> list[Segment]:
    """One segment's cues (see :func:`split_cues`)."""
    width, count, longest = opts.max_line_width, opts.max_line_count, opts.max_cue_duration
    lead = " ".join(lead.split())
    span = seg.end - seg.start
    authored = [ln.strip() for ln in seg.text.strip().split("\n")]
    if (
        len(authored) > 1
        and len(authored) <= count
        and all(ln and display_width(ln) <= width for ln in authored)
        and display_width(f"{lead} {authored[0]}" if lead else authored[0]) <= width
        and span <= longest + 1e-9
    ):  # already a readable cue (e.g. split before): keep its line breaks
        return [seg.model_copy(update={"text": "\n".join(authored)})]
    text = " ".join(seg.text.split())
    if not text:
        return []
    units = _word_units(seg) or _char_units(seg, text)
    if lead:  # room for the label on the first line, never alone in a cue
        units = [
            _Unit(lead, False, seg.start, seg.start, lead=True),
            replace(units[0], space=True),
            *units[1:],
        ]
    n = len(units)

    def t0(i: int) -> float:
        return seg.start if i == 0 else units[i].start

    def t1(j: int) -> float:
        return seg.end if j == n else units[j - 1].end

    # Dynamic programming over break positions: fewest, best-placed cues, each one
    # within the line and duration limits (an unbreakable run that alone breaks a
    # limit is allowed: it cannot be split in time).
    inf = float("inf")
    best = [0.0] + [inf] * n
    back = [0] * (n + 1)
    for j in range(1, n + 1):
        if j < n and not _breakable(units, j):
            continue
        minimal = True  # the shortest cue that can end here is allowed even if too long
        for i in range(j - 1, -1, -1):
            if i > 0 and not _breakable(units, i):
                continue
            fits = len(_wrap(units[i:j], width)) <= count and t1(j) - t0(i) <= longest + 1e-9
            if not fits and not minimal:
                break  # adding earlier units only makes the cue longer
            minimal = False
            dur = t1(j) - t0(i)
            short = 0.3 if (i > 0 or j < n) and dur < 1.0 else 0.0
            cost = best[i] + 1.0 + _break_cost(units, j) + short
            if cost < best[j]:
                best[j], back[j] = cost, i
    bounds, j = [], n
    while j > 0:
        bounds.append((back[j], j))
        j = back[j]
    cues: list[Segment] = []
    prev = seg.start
    for i, j in reversed(bounds):
        piece = units[i:j]
        start = min(max(t0(i), prev, seg.start), seg.end)
        end = min(max(t1(j), start), seg.end)
        words = [u.word for u in piece if u.word is not None] or None
        text = "\n".join(_balanced(piece, width))
        if piece[0].lead:
            text = _strip_lead(text, lead)
        cues.append(
            Segment(id=0, start=start, end=end, text=text, words=words, speaker=seg.speaker)
        )
        prev = end
    return cues


def split_cues(
    transcript: Transcript,
    options: CueOptions | None = None,
    leads: Sequence[str] | None = None,
) -> Transcript:
    """Split segments into readable subtitle cues: the one cue splitter of vidpipe.

    Each cue has at most ``max_line_count`` lines of at most ``max_line_width``
    display columns (:func:`display_width`: CJK counts 2) and lasts at most
    ``max_cue_duration`` seconds. Cues break at word timestamps when the segment
    has them (and they spell its text); otherwise the segment's time is shared out
    in proportion to characters. Among the splits that keep the limits, the one
    with the fewest cues that end at sentence ends, then clause punctuation
    (``, ; : ，、``), then pauses is chosen (dynamic programming); lines
    break at spaces or between CJK characters, never before closing or after
    opening punctuation, and are balanced in width. A word longer than a line is
    cut between characters; a word longer than ``max_cue_duration`` is a cue of
    its own. A segment that already fits, with its line breaks, is kept.

    Args:
        transcript: any transcript (segments in seconds, words optional).
        options: the limits (default :class:`CueOptions`).
        leads: per segment, a label the writer puts before its first cue's first line
            (``"[SPEAKER_00]"``; ``""`` for none): the first line is made short enough
            for it plus a space, and the label never ends up in a cue of its own. The
            label is not part of the cue text.

    Returns:
        A new Transcript (same language, duration and metadata) whose segments are
        the cues: text lines joined by ``"\\n"``; ``words`` the cue's words (None
        without word timestamps); ``speaker`` its segment's; times monotonic and
        inside their segment. Joining a segment's cues (lines with spaces where the
        text had them) gives its text, in order.

    Raises:
        UsageError: invalid options.
    """
    opts = (options or CueOptions()).check()
    cues: list[Segment] = []
    for k, seg in enumerate(transcript.segments):
        lead = leads[k] if leads is not None and k < len(leads) else ""
        for cue in _split_segment(seg, opts, lead):
            cues.append(cue.model_copy(update={"id": len(cues)}))
    return transcript.model_copy(update={"segments": cues})


def cue_word_spans(cue: Segment) -> list[tuple[int, int]] | None:
    """Where each of ``cue.words`` is in ``cue.text``: ``(start, end)`` character
    offsets (a word cut over two lines spans the line break).

    Returns:
        One span per word with text, in order; None without words, or when the
        words do not spell the cue text.
    """
    if not cue.words:
        return None
    text, pos, spans = cue.text, 0, []
    for w in cue.words:
        word = w.word.strip()
        if not word:
            continue
        while pos < len(text) and text[pos].isspace():
            pos += 1
        start = pos
        for ch in word:
            while pos < len(text) and text[pos].isspace() and not ch.isspace():
                pos += 1
            if pos >= len(text) or text[pos] != ch:
                return None
            pos += 1
        spans.append((start, pos))
    return spans


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
