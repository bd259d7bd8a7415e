"""Speaker turns as files: RTTM (NIST Rich Transcription Time Marked) and JSON.

RTTM lines are ``SPEAKER <file> 1 <onset> <duration> <NA> <NA> <speaker> <NA> <NA>``
(NIST RT-09 evaluation plan, appendix A; the form pyannote and DIHARD use), times in
seconds with millisecond precision. JSON is ``{"file": ..., "duration": ...,
"speakers": [...], "turns": [{"start", "end", "speaker"}, ...]}``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path

from vidpipe.errors import InputError
from vidpipe.types import SpeakerTurn


def format_rttm(turns: Iterable[SpeakerTurn], file_id: str) -> str:
    """RTTM text for ``turns`` of the recording ``file_id`` (one line per turn, by start).

    Raises:
        InputError: ``file_id`` or a speaker label is empty or has whitespace (RTTM
            fields are space separated).
    """
    for name, what in ((file_id, "file id"), *((t.speaker, "speaker label") for t in turns)):
        if not name or any(ch.isspace() for ch in name):
            raise InputError(f"RTTM {what} {name!r} is empty or contains whitespace")
    lines = [
        f"SPEAKER {file_id} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker} <NA> <NA>"
        for t in sorted(turns, key=lambda t: (t.start, t.end, t.speaker))
    ]
    return "".join(line + "\n" for line in lines)


def parse_rttm(text: str, source: str = "RTTM") -> dict[str, list[SpeakerTurn]]:
    """Speaker turns of each file id in RTTM ``text``.

    Only ``SPEAKER`` lines count; blank lines and lines starting with ``#`` are skipped.

    Returns:
        file id -> turns sorted by start (seconds).

    Raises:
        InputError: a ``SPEAKER`` line with fewer than 8 fields, a non-numeric or
            negative onset or duration (``source`` and the line number are named).
    """
    out: dict[str, list[SpeakerTurn]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#") or fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise InputError(f"{source} line {n}: a SPEAKER line needs at least 8 fields")
        try:
            onset, dur = float(fields[3]), float(fields[4])
        except ValueError:
            raise InputError(f"{source} line {n}: onset and duration must be numbers") from None
        if not (math.isfinite(onset) and math.isfinite(dur)) or onset < 0 or dur < 0:
            raise InputError(f"{source} line {n}: onset and duration must be >= 0")
        out.setdefault(fields[1], []).append(
            SpeakerTurn(start=onset, end=round(onset + dur, 6), speaker=fields[7])
        )
    return {k: sorted(v, key=lambda t: (t.start, t.end)) for k, v in out.items()}


def read_rttm(path: str | os.PathLike[str]) -> dict[str, list[SpeakerTurn]]:
    """:func:`parse_rttm` of a file.

    Raises:
        InputError: unreadable file or a bad line.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read RTTM file {path}: {exc}") from exc
    return parse_rttm(text, str(path))


def turns_to_json(
    turns: Iterable[SpeakerTurn], file_id: str | None = None, duration: float | None = None
) -> str:
    """The JSON form of ``turns`` (speakers listed in order of first speech)."""
    ordered = sorted(turns, key=lambda t: (t.start, t.end, t.speaker))
    speakers: list[str] = []
    for t in ordered:
        if t.speaker not in speakers:
            speakers.append(t.speaker)
    doc = {
        "file": file_id,
        "duration": duration,
        "speakers": speakers,
        "turns": [t.model_dump(mode="json") for t in ordered],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def turns_from_json(text: str) -> list[SpeakerTurn]:
    """Turns from :func:`turns_to_json` output (or a bare list of turn objects).

    Raises:
        InputError: not JSON, or a turn without numeric ``start``/``end`` and ``speaker``.
    """
    try:
        doc = json.loads(text)
        items = doc["turns"] if isinstance(doc, dict) else doc
        return [SpeakerTurn.model_validate(t) for t in items]
    except (ValueError, KeyError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"not a speaker-turn JSON document: {first}") from None
