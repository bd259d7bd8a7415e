"""Transcript writers: txt, srt, vtt, json, tsv, ass — one base class, selected by format name.

Times are float seconds in :class:`~vidpipe.types.Transcript`; this module is the
only place they become text. The subtitle formats (SRT, WebVTT, ASS) first split
segments into readable cues with :func:`vidpipe.media.subtitles.split_cues` (at most
two lines of 42 display columns, at most 7 s, by default; the renderer's burned-in
subtitles use the same splitter); cue times are rounded to the nearest millisecond
and made monotonic (each cue starts no earlier than the previous one and ends no
earlier than it starts); the files are produced with ``pysubs2``. VTT and ASS can
carry karaoke word timing (``CueOptions.highlight_words``). TXT, JSON and TSV keep
whole segments.

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

Speakers (a transcript through :func:`vidpipe.speakers.assign_speakers`, e.g.
``vidpipe transcribe --diarize``) show in every format; a transcript without them is
written exactly as before:

* JSON: ``speaker`` on segments and words, ``speakers`` (labels by first speech);
* TXT: ``SPEAKER_00: `` before the line where the speaker changes;
* SRT and ASS: ``[SPEAKER_00] `` before the first line of the cue where the speaker
  changes (the cue's first line is kept short enough for it); ASS events also carry
  the speaker in their ``Name`` field;
* VTT: a voice tag on every cue with a speaker (``<v SPEAKER_00>text``, WebVTT's
  voice span);
* TSV: a ``speaker`` column after ``end``.

A change is a segment (cue) whose speaker differs from the last speaker before it;
segments without a speaker get no label and do not count as a change.
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
from vidpipe.media.subtitles import CueOptions, cue_word_spans, split_cues
from vidpipe.timecode import vtt_timestamp
from vidpipe.types import Segment, Transcript

FORMATS = ("txt", "srt", "vtt", "json", "tsv", "ass")
DEFAULT_FORMATS = ("txt", "srt", "vtt", "json")
SUBTITLE_FORMATS = ("srt", "vtt", "ass")
"""Formats written as readable cues (:func:`vidpipe.media.subtitles.split_cues`);
the others keep whole segments."""


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


def has_speakers(transcript: Transcript) -> bool:
    """Whether ``transcript`` was diarized (a ``speakers`` list, or a segment with a
    speaker)."""
    return transcript.speakers is not None or any(
        s.speaker is not None for s in transcript.segments
    )


def speaker_changes(segments: Iterable[Segment]) -> list[str | None]:
    """Per segment, its speaker where the speaker changes, else ``None``.

    Segments with blank text are skipped (they are written nowhere) and so are
    segments without a speaker: ``A, -, A`` labels only the first ``A``.
    """
    out: list[str | None] = []
    last: str | None = None
    for seg in segments:
        who = seg.speaker if seg.text.strip() else None
        out.append(who if who is not None and who != last else None)
        if who is not None:
            last = who
    return out


def _label(speaker: str) -> str:
    """A speaker label on one line."""
    return " ".join(speaker.split())


class ResultWriter(ABC):
    """Base class: turns a Transcript into the text of one file format.

    Args:
        cues: how subtitle formats split segments into cues (line width and count,
            cue duration, word highlighting); other formats ignore it.
    """

    extension: ClassVar[str]

    def __init__(self, cues: CueOptions | None = None) -> None:
        self.cues = cues or CueOptions()

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
        labels = speaker_changes(transcript.segments)
        return "".join(
            (f"{_label(who)}: " if who else "") + f"{s.text.strip()}\n"
            for s, who in zip(transcript.segments, labels, strict=True)
            if s.text.strip()
        )


class SubtitleWriter(ResultWriter):
    """Subtitles through ``pysubs2``: segments split into readable cues first
    (:func:`~vidpipe.media.subtitles.split_cues` with ``self.cues``), cue times
    rounded to the millisecond and monotonic (:func:`cue_times_ms`)."""

    format: ClassVar[str]
    #: speaker changes shown as a ``[SPEAKER_00] `` prefix (SRT, ASS); VTT uses voice tags
    prefix_changes: ClassVar[bool] = True

    def cue_text(self, cue: Segment, start_ms: int, end_ms: int) -> str:
        """One cue's text in the file's markup, lines joined by ``\\N`` (pysubs2's break)."""
        return cue.text.replace("\n", "\\N")

    def with_speaker(self, text: str, cue: Segment, change: str | None) -> str:
        """``text`` (in the file's markup) with the speaker shown: ``[change] `` before
        it at a change of speaker (``change`` is the new speaker, else None)."""
        return f"[{_label(change)}] {text}" if change else text

    def render(self, transcript: Transcript) -> str:
        leads = None
        if self.prefix_changes and has_speakers(transcript):
            leads = [
                f"[{_label(who)}]" if who else "" for who in speaker_changes(transcript.segments)
            ]
        cues = split_cues(transcript, self.cues, leads)
        changes = speaker_changes(cues.segments)
        subs = pysubs2.SSAFile()
        for cue, (start, end), change in zip(
            cues.segments, cue_times_ms(cues), changes, strict=True
        ):
            if cue.text.strip():
                text = self.with_speaker(self.cue_text(cue, start, end), cue, change)
                event = pysubs2.SSAEvent(start=start, end=end, text=text)
                if cue.speaker is not None:  # ASS fields are comma separated
                    event.name = _label(cue.speaker.replace(",", " "))
                subs.append(event)
        return self.to_string(subs)

    def to_string(self, subs: pysubs2.SSAFile) -> str:
        """The file text; cue texts are already in the target markup, so tags pass through."""
        return subs.to_string(self.format, keep_ssa_tags=True)


class SrtWriter(SubtitleWriter):
    """SubRip: ``HH:MM:SS,mmm`` cue times (no word highlighting: SRT has no timing tags)."""

    extension = "srt"
    format = "srt"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class VttWriter(SubtitleWriter):
    """WebVTT: ``HH:MM:SS.mmm`` cue times.

    With ``highlight_words`` each word after the first gets a cue timestamp tag
    (WebVTT, W3C, section 4.2.2 "cue timestamp"; the form YouTube's karaoke captions
    use): ``And <00:00:00.760><c>so</c> <00:00:01.080><c>my</c>``. A tag is written
    only when it lies strictly inside the cue and after the previous tag, as the
    specification requires. ``&``, ``<`` and ``>`` in the text are escaped.
    """

    extension = "vtt"
    format = "vtt"
    prefix_changes = False

    def with_speaker(self, text: str, cue: Segment, change: str | None) -> str:
        """A voice span on every cue with a speaker: ``<v SPEAKER_00>text`` (WebVTT
        section 4.2.2; the end tag may be left out at the end of the cue)."""
        if cue.speaker is None:
            return text
        return f"<v {_vtt_escape(_label(cue.speaker))}>{text}"

    def cue_text(self, cue: Segment, start_ms: int, end_ms: int) -> str:
        spans = cue_word_spans(cue) if self.cues.highlight_words else None
        if not spans:
            return _vtt_escape(cue.text).replace("\n", "\\N")
        words = [w for w in cue.words or [] if w.word.strip()]
        out, pos, last = [], 0, start_ms
        for w, (a, b) in zip(words, spans, strict=True):
            out.append(_vtt_escape(cue.text[pos:a]))
            t = round(w.start * 1000)
            piece = _vtt_escape(cue.text[a:b])
            if last < t < end_ms:
                out.append(f"<{vtt_timestamp(t / 1000)}><c>{piece}</c>")
                last = t
            else:
                out.append(piece)
            pos = b
        out.append(_vtt_escape(cue.text[pos:]))
        return "".join(out).replace("\n", "\\N")


class AssWriter(SubtitleWriter):
    """Advanced SubStation Alpha (ASS) with pysubs2's default style.

    With ``highlight_words``, karaoke ``{\\kN}`` tags (N in centiseconds, the ASS
    karaoke unit): each word lasts from its start to the next word's start, the last
    to the cue's end, and a pause before the first word is an empty syllable; the
    durations add up to the cue's length. Braces in the text become parentheses
    (in ASS they open override tags).
    """

    extension = "ass"
    format = "ass"

    def cue_text(self, cue: Segment, start_ms: int, end_ms: int) -> str:
        text = cue.text.replace("{", "(").replace("}", ")")
        spans = cue_word_spans(cue) if self.cues.highlight_words else None
        if not spans:
            return text.replace("\n", "\\N")
        words = [w for w in cue.words or [] if w.word.strip()]
        # centisecond marks: cue start, each word's start, cue end (monotonic)
        marks = [start_ms // 10]
        for w in words:
            marks.append(min(max(round(w.start * 100), marks[-1]), end_ms // 10))
        marks.append(max(end_ms // 10, marks[-1]))
        out = [f"{{\\k{marks[1] - marks[0]}}}"] if marks[1] > marks[0] else []
        pos = 0
        for k, (a, b) in enumerate(spans):
            out.append(text[pos:a] + f"{{\\k{marks[k + 2] - marks[k + 1]}}}" + text[a:b])
            pos = b
        out.append(text[pos:])
        return "".join(out).replace("\n", "\\N")

    def with_speaker(self, text: str, cue: Segment, change: str | None) -> str:
        if not change:
            return text
        return f"[{_label(change).replace('{', '(').replace('}', ')')}] {text}"

    def to_string(self, subs: pysubs2.SSAFile) -> str:
        return subs.to_string("ass")


class JsonWriter(ResultWriter):
    """The Transcript as JSON (schema in this module's docstring)."""

    extension = "json"

    def render(self, transcript: Transcript) -> str:
        return json.dumps(transcript.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"


class TsvWriter(ResultWriter):
    """Tab-separated ``start``, ``end`` (integer milliseconds), ``text``; a diarized
    transcript has a ``speaker`` column after ``end`` (empty for a segment without)."""

    extension = "tsv"

    def render(self, transcript: Transcript) -> str:
        speakers = has_speakers(transcript)
        lines = ["start\tend\tspeaker\ttext" if speakers else "start\tend\ttext"]
        for seg, (start, end) in zip(transcript.segments, cue_times_ms(transcript), strict=True):
            text = " ".join(seg.text.split()).replace("\t", " ")
            if speakers:
                lines.append(f"{start}\t{end}\t{_label(seg.speaker or '')}\t{text}")
            else:
                lines.append(f"{start}\t{end}\t{text}")
        return "\n".join(lines) + "\n"


WRITERS: dict[str, type[ResultWriter]] = {
    w.extension: w for w in (TxtWriter, SrtWriter, VttWriter, JsonWriter, TsvWriter, AssWriter)
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
    cues: CueOptions | None = None,
    keep_words: bool = True,
) -> list[Path]:
    """Write one file per format as ``out_dir/stem.<ext>``, all together.

    Every format is rendered and written to a temporary file first; the files are
    renamed into place only when all of them are written, so a failure (a full
    disk, say) leaves none of this item's new files behind and never removes a file
    that existed before (:func:`vidpipe.files.write_files_together`).

    Args:
        transcript: what to write (seconds).
        out_dir: the folder.
        stem: file name without extension.
        formats: names from :data:`FORMATS`, a comma list, or ``"all"``.
        cues: cue limits and word highlighting for srt/vtt/ass (default
            :class:`~vidpipe.media.subtitles.CueOptions`).
        keep_words: False drops word timestamps from the whole-segment formats
            (json): the caller asked for words only to time the subtitle cues.

    Returns:
        The written paths, in the order of ``formats``.

    Raises:
        UsageError: unknown format or invalid cue limits. OutputError: the folder
            or a file cannot be written (the message names it).
    """
    folder = Path(out_dir)
    names = parse_formats(formats)
    opts = (cues or CueOptions()).check()
    plain = transcript
    if not keep_words:
        plain = transcript.model_copy(
            update={"segments": [s.model_copy(update={"words": None}) for s in transcript.segments]}
        )
    contents = {
        folder / f"{stem}.{name}": WRITERS[name](opts).render(
            transcript if name in SUBTITLE_FORMATS else plain
        )
        for name in names
    }
    return write_files_together(contents)
