"""The ``diarize`` stage: who speaks when, as speaker turns (RTTM and JSON).

:class:`DiarizeStage` is the job kind ``diarize`` (a media item, a file or an audio
job's file in; ``turns.rttm`` and ``turns.json`` out). :func:`diarize_file` and
:func:`diarize_files` are what ``vidpipe diarize FILE…`` and ``vidpipe transcribe
--diarize`` call: the plain file commands, no catalog. The work is
:func:`vidpipe.speakers.diarize` (segmentation-3.0 + GE2E + clustering; the
``diarize`` extra).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError, model_validator

from vidpipe.errors import UsageError
from vidpipe.files import numbered_stem, write_files_together
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from vidpipe.speakers import Diarization, Voiceprint
    from vidpipe.types import Transcript

__all__ = [
    "TURN_FORMATS",
    "DiarizeOptions",
    "DiarizeOutcome",
    "DiarizeStage",
    "DiarizedTranscript",
    "diarize_audio",
    "diarize_file",
    "diarize_files",
    "diarize_transcript",
    "load_models",
    "parse_turn_formats",
    "render_turns",
    "rttm_file_id",
    "speaker_options",
    "write_turns",
]

TURN_FORMATS = ("rttm", "json")
"""Files a diarization is written as: ``NAME.rttm`` (NIST RTTM) and ``NAME.json``
(:func:`vidpipe.speakers.turns_to_json`)."""

#: the artifact stem of a diarize job (``turns.rttm``, ``turns.json``)
ARTIFACT_STEM = "turns"


class DiarizeOptions(StageOptions):
    """How many speakers to find (all optional: by default the number is estimated).

    Attributes:
        num_speakers: the exact number of speakers, when known (then the bounds are
            not used).
        min_speakers, max_speakers: bounds on the estimated number.
    """

    num_speakers: int | None = Field(None, ge=1, le=100, description="exact speaker count")
    min_speakers: int | None = Field(None, ge=1, le=100, description="least speakers")
    max_speakers: int | None = Field(None, ge=1, le=100, description="most speakers")

    @model_validator(mode="after")
    def _bounds(self):
        lo, hi = self.min_speakers, self.max_speakers
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"min_speakers ({lo}) is above max_speakers ({hi})")
        if self.num_speakers is not None and (
            (lo is not None and self.num_speakers < lo)
            or (hi is not None and self.num_speakers > hi)
        ):
            raise ValueError(
                f"num_speakers ({self.num_speakers}) is outside min_speakers..max_speakers"
            )
        return self


def speaker_options(
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
) -> DiarizeOptions:
    """:class:`DiarizeOptions` from the command line's ``--num-speakers``,
    ``--min-speakers``, ``--max-speakers``.

    Raises:
        UsageError: a count below 1 or above 100, or bounds that exclude each other
            (the first problem, one line).
    """
    try:
        return DiarizeOptions(
            num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        raise UsageError(
            f"{where}: {msg}" if where else msg,
            "check --num-speakers, --min-speakers and --max-speakers",
        ) from None


def load_models() -> None:
    """Load (and checksum) both diarization models once per process, so that a missing
    extra or a corrupt model fails before any input is worked on.

    Raises:
        ModelError: the ``diarize`` extra is missing (the message names
            ``pip install "vidpipe[diarize]"``) or a model file is corrupt.
    """
    # imported here for start-up time: NumPy, ONNX Runtime, torch
    from vidpipe.speakers.embedding import load_voice_encoder
    from vidpipe.speakers.segmentation import load_segmenter

    load_segmenter()
    load_voice_encoder()


def diarize_file(
    path: str | os.PathLike[str],
    options: DiarizeOptions | None = None,
    *,
    audio_stream: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> Diarization:
    """Speaker turns of one media file.

    Args:
        path: an audio or video file (any format PyAV decodes).
        options: speaker count or bounds (default: estimated).
        audio_stream: index among the file's audio streams (0-based; ``None``: the
            container's best).
        progress: called as ``progress(fraction 0..1, step)``; decoding is the first 5 %.

    Returns:
        A :class:`~vidpipe.speakers.Diarization`: turns in seconds (overlapping where
        people talk at once), labels ``SPEAKER_00``… by first speech; no turns for a
        file without speech (silence, music).

    Raises:
        InputError: missing or unreadable file. MediaError: not decodable.
        NoAudioError: no audio stream. ModelError: the ``diarize`` extra is missing.
        UsageError: bad speaker counts.
    """
    # imported here for start-up time: NumPy, PyAV, ONNX Runtime, torch
    from vidpipe.media.audio import decode_audio
    from vidpipe.speakers import diarize

    opts = options or DiarizeOptions()
    report = progress or (lambda _f, _s: None)
    report(0.0, "decoding")
    audio = decode_audio(path, stream=audio_stream)
    return diarize(
        audio,
        num_speakers=opts.num_speakers,
        min_speakers=opts.min_speakers,
        max_speakers=opts.max_speakers,
        progress=lambda f, step: report(0.05 + 0.95 * f, step),
    )


def rttm_file_id(stem: str) -> str:
    """An RTTM file id for a file stem: whitespace (RTTM's separator) becomes ``_``;
    an empty stem becomes ``audio``."""
    return re.sub(r"\s+", "_", stem.strip()) or "audio"


def parse_turn_formats(spec: str | Iterable[str]) -> list[str]:
    """``"rttm,json"``, ``"all"`` or a list -> the format names, in order.

    Raises:
        UsageError: an unknown name, or none given.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for item in (i.strip().lower().lstrip(".") for i in items):
        if not item:
            continue
        for name in TURN_FORMATS if item == "all" else (item,):
            if name not in TURN_FORMATS:
                raise UsageError(
                    f"unknown output format '{item}'", f"use {', '.join(TURN_FORMATS)} or all"
                )
            if name not in out:
                out.append(name)
    if not out:
        raise UsageError("no output format given", f"use {', '.join(TURN_FORMATS)} or all")
    return out


def render_turns(result: Diarization, file_id: str, fmt: str) -> str:
    """The text of ``result`` in format ``fmt`` (``rttm`` or ``json``) for recording
    ``file_id``.

    Raises:
        UsageError: unknown format.
    """
    from vidpipe.speakers import format_rttm, turns_to_json

    if fmt == "rttm":
        return format_rttm(result.turns, rttm_file_id(file_id))
    if fmt == "json":
        return turns_to_json(result.turns, file_id, round(result.duration, 3))
    raise UsageError(f"unknown output format '{fmt}'", f"use {', '.join(TURN_FORMATS)}")


def write_turns(
    result: Diarization,
    out_dir: str | os.PathLike[str],
    stem: str,
    formats: Sequence[str] = TURN_FORMATS,
    file_id: str | None = None,
) -> list[Path]:
    """Write ``out_dir/stem.rttm`` and/or ``.json``, all or none
    (:func:`vidpipe.files.write_files_together`).

    Args:
        result: the diarization.
        out_dir: the folder (created).
        stem: file name without extension.
        formats: names from :data:`TURN_FORMATS`.
        file_id: the recording's name inside the files (default ``stem``; whitespace
            becomes ``_`` in RTTM).

    Returns:
        The paths written, in the order of ``formats``.

    Raises:
        UsageError: unknown format. OutputError: a file cannot be written.
    """
    folder = Path(out_dir)
    names = parse_turn_formats(formats)
    fid = file_id or stem
    return write_files_together(
        {folder / f"{stem}.{fmt}": render_turns(result, fid, fmt) for fmt in names}
    )


@dataclass
class DiarizeOutcome:
    """One input's outcome: the diarization and the files written, or the ``error``;
    ``wall`` is the seconds it took (decoding included)."""

    path: Path
    result: Diarization | None = None
    paths: list[Path] = field(default_factory=list)
    wall: float = 0.0
    error: BaseException | None = None


def _noop(*_args: Any) -> None:
    return None


def diarize_files(
    files: Sequence[str | os.PathLike[str]],
    options: DiarizeOptions,
    output_dir: str | os.PathLike[str],
    formats: Sequence[str] = TURN_FORMATS,
    *,
    audio_stream: int | None = None,
    on_ready: Callable[[], None] = _noop,
    on_start: Callable[[Path], None] = _noop,
    progress: Callable[[Path, float, str], None] = _noop,
    on_item: Callable[[DiarizeOutcome], None] = _noop,
) -> list[DiarizeOutcome]:
    """Diarize each file and write ``formats`` into ``output_dir`` under the file's
    stem (numbered when two inputs share one: ``talk``, ``talk-2``): ``vidpipe
    diarize``.

    Args:
        files: media files, in order.
        options: speaker count or bounds.
        output_dir: the folder (created).
        formats: checked names (:func:`parse_turn_formats`).
        audio_stream: audio stream index for every file (``None``: the best).
        on_ready(): the models are loaded (a missing extra raises before).
        on_start(path): an input starts.
        progress(path, fraction, step): its progress.
        on_item(outcome): an input is done, or failed (``outcome.error``).

    Returns:
        The outcomes, in input order; a Ctrl-C ends the loop after its outcome.

    Raises:
        ModelError: the ``diarize`` extra is missing (before any input).
    """
    load_models()
    on_ready()
    used: dict[str, int] = {}
    outcomes: list[DiarizeOutcome] = []
    for raw in files:
        f = Path(raw)
        on_start(f)
        t0 = time.perf_counter()
        try:
            result = diarize_file(
                f,
                options,
                audio_stream=audio_stream,
                progress=lambda frac, step, f=f: progress(f, frac, step),
            )
            stem = numbered_stem(f.stem, used)
            written = write_turns(result, output_dir, stem, formats, file_id=f.stem)
        except (Exception, KeyboardInterrupt) as exc:
            outcome = DiarizeOutcome(f, error=exc, wall=time.perf_counter() - t0)
        else:
            outcome = DiarizeOutcome(f, result, written, time.perf_counter() - t0)
        outcomes.append(outcome)
        on_item(outcome)
        if isinstance(outcome.error, KeyboardInterrupt):
            break
    return outcomes


class DiarizeStage(Stage):
    """Speaker turns of a media item or file (an audio job's file too): ``turns.rttm``
    and ``turns.json`` in the job folder; the result lists the speakers, the number
    of turns and the seconds of speech and of overlapped speech.

    A media step of ``vidpipe run``/``submit`` (``--diarize`` or ``--steps
    ...,diarize``; not in ``all``), after ``transcribe``. On a catalog item it also
    stores the turns and speakers (:func:`vidpipe.library.speakers.
    save_item_diarization`), names the speakers whose voice matches a known voice
    (``vidpipe speakers add``; :func:`vidpipe.speakers.name_speakers`), and gives the
    item's transcript, when it has one, its speakers
    (:func:`vidpipe.speakers.assign_speakers`): search hits and exports carry them. A
    transcript corrected by hand (it has revisions) is left as it is.
    A file without an audio track ends ``skipped: no audio track``, one without
    speech succeeds with no turns.
    """

    name = "diarize"
    takes = ("media", "file", "dep:audio")
    media_step = True
    needs_audio = True
    builds_on = ("transcribe",)
    Options = DiarizeOptions

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        given_audio = (
            inputs.audio() if not inputs.given.path and inputs.given.media_id is None else None
        )
        if given_audio is not None:
            path, mid = given_audio, inputs.media_id()
        else:
            path, mid = inputs.source(ctx.catalog)
        ctx.progress(0.0, "loading the diarization models")
        load_models()
        res = diarize_file(
            path, options, progress=lambda f, step: ctx.progress(f, f"{step}: {path.name}")
        )
        result: dict[str, Any] = {
            "duration": round(res.duration, 3),
            "speakers": res.speakers,
            "turns": len(res.turns),
            "speech": round(_covered(res, 1), 3),
            "overlap": round(_covered(res, 2), 3),
        }
        if mid is not None:
            result["media_id"] = mid
            if ctx.catalog is not None:
                result["named"] = _record(ctx.catalog, mid, res)
        ctx.progress(1.0, f"diarized {path.name}")
        if not ctx.write_artifacts:
            return StageResult(result=result)
        folder = ctx.path(f"{ARTIFACT_STEM}.rttm").parent  # the job folder, created
        written = write_turns(res, folder, ARTIFACT_STEM, TURN_FORMATS, file_id=path.stem)
        return StageResult(result=result, artifacts=[ctx.relative(p) for p in written])


def _record(catalog: Any, media_id: int, res: Diarization) -> dict[str, str]:
    """Store item ``media_id``'s diarization ``res`` in the catalog: turns, speakers,
    the transcript's speakers, and names of known voices that match.

    Returns:
        ``{label: name}`` of the speakers a known voice named.
    """
    # imported here for start-up time: NumPy
    from vidpipe.library.revisions import transcript_revisions
    from vidpipe.library.speakers import rename_speakers, save_item_diarization, voiceprints
    from vidpipe.speakers import assign_speakers, name_speakers

    save_item_diarization(catalog, media_id, res.turns, res.embeddings)
    row = catalog.transcript_row(media_id)
    transcript = catalog.get_transcript(media_id) if row is not None else None
    # a transcript people corrected (revisions) is never rewritten: its edits would go
    edited = any(r.kind != "machine" for r in transcript_revisions(catalog, media_id))
    if transcript is not None and transcript.segments and not edited:
        catalog.save_transcript(media_id, assign_speakers(transcript, res.turns), row.options_hash)
    known = voiceprints(catalog)
    names = name_speakers(res.embeddings, known) if known and res.embeddings else {}
    if names:
        rename_speakers(catalog, media_id, names)
    return dict(names)


def _covered(res: Diarization, least: int) -> float:
    """Seconds where at least ``least`` speakers talk (1: speech, 2: overlap)."""
    edges = sorted(
        [(t.start, 1) for t in res.turns] + [(t.end, -1) for t in res.turns],
        key=lambda e: (e[0], e[1]),
    )
    total, active, last = 0.0, 0, 0.0
    for at, step in edges:
        if active >= least:
            total += at - last
        active += step
        last = at
    return total


# --------------------------------------------------------------------------- in memory


@dataclass
class DiarizedTranscript:
    """What :func:`diarize_transcript` gives: the transcript with speakers, the
    diarization (turns and speakers named where a known voice matched) and which labels
    took which known name."""

    transcript: Transcript
    diarization: Diarization
    named: dict[str, str] = field(default_factory=dict)


def diarize_audio(
    audio: np.ndarray,
    known: Sequence[Voiceprint] = (),
    *,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
) -> tuple[Diarization, dict[str, str]]:
    """Speaker turns of ``audio``; speakers like a known voice take its name.

    Args:
        audio: 16 kHz mono float32.
        known: known voices (from the catalog or the request); each names at most one
            speaker, and only from a cosine similarity of
            :data:`vidpipe.speakers.MATCH_THRESHOLD`.
        num_speakers, min_speakers, max_speakers: see :func:`vidpipe.speakers.diarize`.

    Returns:
        ``(diarization with names applied, {label: name} of the speakers named)``.

    Raises:
        UsageError: bad speaker counts.
        ModelError: the ``diarize`` extra is missing.
    """
    from vidpipe.speakers import diarize, name_speakers

    result = diarize(
        audio, num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers
    )
    names = name_speakers(result.embeddings, list(known)) if known else {}
    return (result.renamed(names) if names else result), names


def diarize_transcript(
    audio: np.ndarray,
    transcript: Transcript,
    known: Sequence[Voiceprint] = (),
    **counts: int | None,
) -> DiarizedTranscript:
    """:func:`diarize_audio`, then each word of ``transcript`` takes the speaker whose
    turns cover it most and segments split where the speaker changes
    (:func:`vidpipe.speakers.assign_speakers`; words need times for that: transcribe
    with word timestamps).

    Args:
        audio: the 16 kHz mono samples ``transcript`` was made from.
        transcript: its transcript.
        known: known voices.
        counts: ``num_speakers``, ``min_speakers``, ``max_speakers``.
    """
    from vidpipe.speakers import assign_speakers

    result, names = diarize_audio(audio, known, **counts)
    return DiarizedTranscript(assign_speakers(transcript, result.turns), result, names)
