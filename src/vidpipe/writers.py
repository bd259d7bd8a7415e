"""Transcript writers: txt, srt, vtt, json, tsv — one base class, selected by format name.

Times are float seconds in :class:`~vidpipe.types.Transcript`; this module is the
only place they become text. SRT and WebVTT cue times are rounded to the nearest
millisecond and made monotonic (each cue starts no earlier than the previous one and
ends no earlier than it starts); the files are produced with ``pysubs2``.

JSON output (``format = "json"``) is the Transcript model itself::

    {
      "language": "en",                # ISO 639-1, or null
      "language_probability": 0.98,    # 0..1, or null
      "duration": 11.0,                # seconds of decoded audio
      "task": "transcribe",
      "model": "base", "engine": "faster-whisper", "source": "jfk.flac",
      "segments": [
        {"id": 0, "start": 0.0, "end": 10.36,          # seconds
         "text": "And so my fellow Americans, ...",
         "avg_logprob": -0.21, "no_speech_prob": 0.01,  # natural log; 0..1
         "compression_ratio": 1.3, "temperature": 0.0,
         "words": [{"start": 0.0, "end": 0.3, "word": " And", "probability": 0.9}]
                                                         # null without word timestamps
        }
      ]
    }

TSV output has a header ``start\\tend\\ttext`` with integer milliseconds, as
openai-whisper writes it.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import pysubs2

from vidpipe.errors import UsageError
from vidpipe.files import atomic_write, write_files_together
from vidpipe.types import Transcript

FORMATS = ("txt", "srt", "vtt", "json", "tsv")
DEFAULT_FORMATS = ("txt", "srt", "vtt", "json")


def cue_times_ms(transcript: Transcript) -> list[tuple[int, int]]:
    """Millisecond ``(start, end)`` per segment, rounded and made monotonic.

    Returns:
        One pair per segment of ``transcript.segments``, in order, with
        ``start_i >= start_{i-1}`` and ``end_i >= start_i``.
    """
    out: list[tuple[int, int]] = []
    prev_start = 0
    for seg in transcript.segments:
        start = max(round(seg.start * 1000), prev_start, 0)
        end = max(round(seg.end * 1000), start)
        out.append((start, end))
        prev_start = start
    return out


def _subtitles(transcript: Transcript) -> pysubs2.SSAFile:
    subs = pysubs2.SSAFile()
    for seg, (start, end) in zip(transcript.segments, cue_times_ms(transcript), strict=True):
        text = " ".join(seg.text.split())
        if text:
            subs.append(pysubs2.SSAEvent(start=start, end=end, text=text))
    return subs


class ResultWriter(ABC):
    """Base class: turns a Transcript into the text of one file format."""

    extension: ClassVar[str]

    @abstractmethod
    def render(self, transcript: Transcript) -> str:
        """The whole file content as a string."""

    def write(self, transcript: Transcript, path: str | os.PathLike[str]) -> Path:
        """Write atomically to ``path``; return it.

        Raises:
            OutputError: the folder cannot be written.
        """
        with atomic_write(path, "w", newline="") as fh:
            fh.write(self.render(transcript))
        return Path(path)


class TxtWriter(ResultWriter):
    """Plain text: one segment per line."""

    extension = "txt"

    def render(self, transcript: Transcript) -> str:
        return "".join(f"{s.text.strip()}\n" for s in transcript.segments if s.text.strip())


class SrtWriter(ResultWriter):
    """SubRip: ``HH:MM:SS,mmm`` cue times."""

    extension = "srt"

    def render(self, transcript: Transcript) -> str:
        return _subtitles(transcript).to_string("srt")


class VttWriter(ResultWriter):
    """WebVTT: ``HH:MM:SS.mmm`` cue times."""

    extension = "vtt"

    def render(self, transcript: Transcript) -> str:
        return _subtitles(transcript).to_string("vtt")


class JsonWriter(ResultWriter):
    """The Transcript as JSON (schema in this module's docstring)."""

    extension = "json"

    def render(self, transcript: Transcript) -> str:
        return json.dumps(transcript.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"


class TsvWriter(ResultWriter):
    """Tab-separated ``start``, ``end`` (integer milliseconds), ``text``."""

    extension = "tsv"

    def render(self, transcript: Transcript) -> str:
        lines = ["start\tend\ttext"]
        for seg, (start, end) in zip(transcript.segments, cue_times_ms(transcript), strict=True):
            text = " ".join(seg.text.split()).replace("\t", " ")
            lines.append(f"{start}\t{end}\t{text}")
        return "\n".join(lines) + "\n"


WRITERS: dict[str, type[ResultWriter]] = {
    w.extension: w for w in (TxtWriter, SrtWriter, VttWriter, JsonWriter, TsvWriter)
}


def parse_formats(spec: str | Iterable[str]) -> list[str]:
    """Parse ``"txt,srt"``, ``"all"`` or a list into known format names, in order.

    Raises:
        UsageError: an unknown format name.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for item in (i.strip().lower().lstrip(".") for i in items):
        if not item:
            continue
        names = FORMATS if item == "all" else (item,)
        for name in names:
            if name not in WRITERS:
                raise UsageError(
                    f"unknown output format '{item}'", f"use {', '.join(FORMATS)} or all"
                )
            if name not in out:
                out.append(name)
    if not out:
        raise UsageError("no output format given", f"use {', '.join(FORMATS)} or all")
    return out


def write_transcript(
    transcript: Transcript,
    out_dir: str | os.PathLike[str],
    stem: str,
    formats: str | Iterable[str] = DEFAULT_FORMATS,
) -> list[Path]:
    """Write one file per format as ``out_dir/stem.<ext>``, all together.

    Every format is rendered and written to a temporary file first; the files are
    renamed into place only when all of them are written, so a failure (a full
    disk, say) leaves none of this item's new files behind and never removes a file
    that existed before (:func:`vidpipe.files.write_files_together`).

    Returns:
        The written paths, in the order of ``formats``.

    Raises:
        UsageError: unknown format. OutputError: the folder or a file cannot be
            written (the message names it).
    """
    folder = Path(out_dir)
    contents = {
        folder / f"{stem}.{name}": WRITERS[name]().render(transcript)
        for name in parse_formats(formats)
    }
    return write_files_together(contents)
