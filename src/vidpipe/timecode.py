"""Seconds to clock strings: the one home of time formatting, one function per format.

Times are float seconds everywhere in vidpipe; these turn them into the forms shown on
screen, in reports and in cue files. Each function is named after the form it writes:

============================  ==================  =======================================
function                      3723.4567 s gives   used for
============================  ==================  =======================================
:func:`hms_colon`             ``1:02:03``         report durations (rounded to the second)
:func:`hms_ms`                ``1:02:03.457``     tables, search hits, segments
:func:`mmss_ms`               ``62:03.457``       ``vidpipe transcribe`` segment lines
:func:`chapter_timestamp`     ``1:02:03``         YouTube chapter lists (truncated; ``M:SS``
                                                  under an hour)
:func:`vtt_timestamp`         ``01:02:03.457``    WebVTT cue times and cue timestamp tags
:func:`m_ss_tenths`           ``1:02:03.5``       scene tables (``M:SS.s`` under an hour)
:func:`compact_duration`      ``1h``              ages in job tables (``45s``, ``12m``...)
============================  ==================  =======================================

and the way back, for clock strings that others write (Matroska duration tags, a
model's chapter list): :func:`parse_clock`.

(Whole SRT/WebVTT/ASS transcript files are written by ``pysubs2`` in
:mod:`vidpipe.writers`; their cue times are the same milliseconds.)
"""

from __future__ import annotations

import re

_CLOCK = re.compile(r"\s*(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?)\s*")


def _split_ms(ms: int) -> tuple[int, int, int, int]:
    """Milliseconds to (hours, minutes, seconds, milliseconds)."""
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return h, m, s, ms


def hms_colon(seconds: float | None) -> str:
    """``H:MM:SS`` rounded to the second (``1:02:03``), or ``-`` for None (report durations)."""
    if seconds is None:
        return "-"
    h, m, s, _ = _split_ms(round(seconds) * 1000)
    return f"{h}:{m:02d}:{s:02d}"


def hms_ms(seconds: float | None) -> str:
    """``H:MM:SS.mmm`` rounded to the millisecond, or ``-`` for None (tables, search hits)."""
    if seconds is None:
        return "-"
    h, m, s, ms = _split_ms(round(seconds * 1000))
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}"


def mmss_ms(seconds: float) -> str:
    """``MM:SS.mmm`` (minutes may exceed 59), as the transcribe command prints segments."""
    h, m, s, ms = _split_ms(round(seconds * 1000))
    return f"{h * 60 + m:02d}:{s:02d}.{ms:03d}"


def chapter_timestamp(seconds: float) -> str:
    """YouTube chapter timestamp: ``M:SS`` under an hour, else ``H:MM:SS``.

    Truncated to the whole second (a chapter listed at ``0:59`` has begun by then), as
    YouTube reads chapter lists in a video description.
    """
    h, m, s, _ = _split_ms(int(seconds + 1e-6) * 1000)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def vtt_timestamp(seconds: float) -> str:
    """WebVTT timestamp ``HH:MM:SS.mmm`` rounded to the millisecond (W3C WebVTT, 4.2.2
    "timestamp"; hours widen past 99); negative times clamp to 0."""
    h, m, s, ms = _split_ms(round(max(0.0, seconds) * 1000))
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def m_ss_tenths(seconds: float) -> str:
    """``M:SS.s`` (or ``H:MM:SS.s``) rounded to the tenth of a second, for scene tables."""
    tenths = round(seconds * 10)
    h, rest = divmod(tenths, 36000)
    m, rest = divmod(rest, 600)
    return f"{h}:{m:02d}:{rest / 10:04.1f}" if h else f"{m}:{rest / 10:04.1f}"


def compact_duration(seconds: float | None) -> str:
    """A short age or duration in the largest whole unit: ``45s``, ``12m``, ``3h``, ``2d``.

    Truncated, not rounded (``119 s`` is ``1m``), so it never claims more time than
    passed; negative values (clock skew between machines) count as 0; ``-`` for None.
    Made for narrow columns: at most 4 characters below 1,000 days.
    """
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def parse_clock(text: str | None) -> float | None:
    """Seconds from a clock string: ``SS``, ``M:SS`` or ``H:MM:SS``, each with an optional
    fraction (``00:00:02.002000000``, as Matroska's statistics tags write durations;
    ``1:02:03.5``; ``75``). None for anything else (empty, negative, words, four fields).
    """
    m = _CLOCK.fullmatch(text) if text else None
    if m is None:
        return None
    h, mins, s = m.groups()
    return int(h or 0) * 3600 + int(mins or 0) * 60 + float(s)
