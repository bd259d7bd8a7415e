"""Seconds to clock strings for people: the one home of time formatting outside the writers.

Times are float seconds everywhere in vidpipe; these turn them into the forms shown on
screen and in reports. (SRT/WebVTT transcript cues are formatted by ``pysubs2`` in
:mod:`vidpipe.writers`.)
"""

from __future__ import annotations


def _split_ms(ms: int) -> tuple[int, int, int, int]:
    """Milliseconds to (hours, minutes, seconds, milliseconds)."""
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return h, m, s, ms


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


def hms(seconds: float | None) -> str:
    """``H:MM:SS`` rounded to the second, or ``-`` for None (report durations)."""
    if seconds is None:
        return "-"
    h, m, s, _ = _split_ms(round(seconds) * 1000)
    return f"{h}:{m:02d}:{s:02d}"


def chapter_time(seconds: float) -> str:
    """YouTube chapter timestamp: ``M:SS`` under an hour, else ``H:MM:SS`` (truncated)."""
    h, m, s, _ = _split_ms(int(seconds + 1e-6) * 1000)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def vtt_time(seconds: float) -> str:
    """WebVTT cue time ``HH:MM:SS.mmm`` (negative times clamp to 0)."""
    h, m, s, ms = _split_ms(round(max(0.0, seconds) * 1000))
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def m_ss_tenths(seconds: float) -> str:
    """``M:SS.s`` (or ``H:MM:SS.s``) to the tenth of a second, for scene tables."""
    tenths = round(seconds * 10)
    h, rest = divmod(tenths, 36000)
    m, rest = divmod(rest, 600)
    return f"{h}:{m:02d}:{rest / 10:04.1f}" if h else f"{m}:{rest / 10:04.1f}"
