"""The ``transcribe`` stage: speech to text, stored on the media item."""

from __future__ import annotations

import functools
import importlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator

from vidpipe.config import get_settings
from vidpipe.errors import InputError, UsageError
from vidpipe.files import check_readable_file, item_stem, numbered_stem, sha256_file
from vidpipe.library.select import select_noted as select
from vidpipe.pipeline.models import asr_engine
from vidpipe.pipeline.stages.base import (
    TRANSCRIPT_ARTIFACT,
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)
from vidpipe.text.script import check_script, transcript_to_script
from vidpipe.types import Names

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.select import Selection
    from vidpipe.media.subtitles import CueOptions
    from vidpipe.types import Transcript


def _settings_model() -> str:
    return get_settings().model


def _settings_script() -> str:
    return get_settings().zh_script


class TranscribeStage(Stage):
    """Speech to text; the transcript is stored on the media item and written as
    ``transcript.json``.

    The options are the batch runner's transcribe options, so their hash is the same.
    A file that is not yet in the catalog is recorded there by content (sha256); an
    audio job's file is transcribed for that job's media item.
    """

    name = "transcribe"
    takes = ("media", "file", "dep:audio")
    media_step = True
    in_all = True
    needs_audio = True

    class Options(StageOptions):
        model: Annotated[str, Names("model")] = Field(default_factory=_settings_model)
        language: str = "auto"
        task: Literal["transcribe", "translate"] = "transcribe"
        word_timestamps: bool = True
        beam_size: int = Field(5, ge=1, le=20)
        zh_script: str = Field(default_factory=_settings_script)

        @field_validator("language")
        @classmethod
        def _lower(cls, v: str) -> str:
            return (v or "auto").strip().lower()

        @field_validator("zh_script")
        @classmethod
        def _script(cls, v: str) -> str:
            try:
                return check_script(v)
            except UsageError as exc:
                raise ValueError(exc.message) from None

    @staticmethod
    def ahead(paths: list[Path], options: Any, threads: int | None = None) -> dict[str, Any]:
        """Transcribe several files at once with this stage's ``options`` (short ones
        share Whisper windows: :func:`vidpipe.speech.transcribe.transcribe_many`), for
        :attr:`StageContext.transcripts`.

        Returns:
            ``{resolved path: Transcript}``; a file that failed is left out (its own
            stage then runs on it and fails with the reason).

        Raises:
            ModelError: the model cannot be loaded.
        """
        # imported here for start-up time: NumPy, ASR/TTS engines
        from vidpipe.speech.transcribe import transcribe_many

        got = transcribe_many(
            paths,
            engine=asr_engine(options.model, threads),
            language=options.language,
            task=options.task,
            word_timestamps=options.word_timestamps,
            beam_size=options.beam_size,
            zh_script=options.zh_script,
        )
        return {
            str(Path(p).resolve()): tr
            for p, tr in zip(paths, got, strict=True)
            if not isinstance(tr, BaseException)
        }

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        # imported here for start-up time: NumPy, ASR/TTS engines, pysubs2, PyAV
        from vidpipe.speech.transcribe import transcribe
        from vidpipe.writers import JsonWriter

        given_audio = (
            inputs.audio() if not inputs.given.path and inputs.given.media_id is None else None
        )
        if given_audio is not None:
            path, mid = given_audio, inputs.media_id()
        else:
            path, mid = inputs.source(ctx.catalog)
        made = (ctx.transcripts or {}).pop(str(Path(path).resolve()), None)
        if made is not None:  # transcribed ahead, packed with the other files of its group
            tr = made
            ctx.progress(1.0, f"transcribed {path.name}")
        else:
            ctx.progress(0.0, f"loading {options.model}")
            tr = transcribe(
                path,
                engine=asr_engine(options.model, ctx.threads),
                language=options.language,
                task=options.task,
                word_timestamps=options.word_timestamps,
                beam_size=options.beam_size,
                progress=ctx.counter(f"transcribing {path.name}"),
                zh_script=options.zh_script,
            )
        tr.model = options.model
        if ctx.catalog is not None and mid is not None:
            ctx.catalog.save_transcript(mid, tr, self.options_hash(options))
        result: dict[str, Any] = {
            "language": tr.language,
            "duration": tr.duration,
            "model": tr.model,
            "segments": len(tr.segments),
        }
        if mid is not None:
            result["media_id"] = mid
        if not ctx.write_artifacts:
            return StageResult(result=result)
        out = JsonWriter().write(tr, ctx.path(TRANSCRIPT_ARTIFACT))
        return StageResult(result=result, artifacts=[ctx.relative(out)])


def with_settings(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a function taking ``settings=``, e.g.
    :func:`vidpipe.speech.transcribe.transcribe`) called with the process settings
    (``VIDPIPE_*``, :func:`vidpipe.config.get_settings`) unless the caller gives some:
    how the public ``vidpipe.transcribe`` / ``vidpipe.transcribe_many`` resolve settings
    once, at the front, for the building blocks that read none."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("settings") is None:
            kwargs["settings"] = get_settings()
        return fn(*args, **kwargs)

    return call


def _noop(*_args: Any) -> None:
    return None


@dataclass
class TranscribeSettings:
    """How ``transcribe`` runs (the command's options, checked).

    Attributes:
        engine: ``faster-whisper`` (local), ``openai`` (``api_base``) or ``iflytek``.
        model: model name or folder (``None``: VIDPIPE_MODEL, ``base``).
        language: ``auto`` or an ISO 639-1 code.
        task: ``transcribe``, or ``translate`` to English.
        word_timestamps: keep per-word times in the JSON output.
        sentences: split segments into sentences by word times.
        vad: skip non-speech (Silero VAD).
        beam_size, batch_size: decoding beam and batch (1 = sequential).
        threads: CPU threads (``None``: every core).
        initial_prompt: text that primes names and style.
        audio_stream: audio stream index (0-based; ``None``: the default one).
        api_base: the OpenAI-compatible endpoint of the ``openai`` engine.
        max_upload_mb: remote upload limit in MB (``None``: 25).
        zh_script: Chinese script of the output (``simplified``, ``traditional``, ``keep``).
        diarize: label speakers (:func:`vidpipe.speakers.diarize` on the file's audio,
            then :func:`vidpipe.speakers.assign_speakers`: each word takes the speaker
            covering it most, segments split where the speaker changes); needs the
            ``diarize`` extra. Word times are then kept in the JSON.
        num_speakers, min_speakers, max_speakers: the speaker count, or bounds on it.
    """

    engine: str = "faster-whisper"
    model: str | None = None
    language: str = "auto"
    task: str = "transcribe"
    word_timestamps: bool = False
    sentences: bool = True
    vad: bool = True
    beam_size: int = 5
    batch_size: int = 8
    threads: int | None = None
    initial_prompt: str | None = None
    audio_stream: int | None = None
    api_base: str | None = None
    max_upload_mb: float | None = None
    zh_script: str = "simplified"
    diarize: bool = False
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None


@dataclass
class FileOutcome:
    """One input's outcome: the transcript and files written, or the ``error``;
    ``wall`` is the seconds it took."""

    path: Path
    transcript: Transcript | None = None
    paths: list[Path] = field(default_factory=list)
    wall: float = 0.0
    error: BaseException | None = None


def transcribe_files(
    files: Sequence[str | os.PathLike[str]],
    settings: TranscribeSettings,
    output_dir: str | os.PathLike[str],
    formats: Sequence[str],
    cue_options: CueOptions | None = None,
    *,
    on_ready: Callable[[], None] = _noop,
    on_start: Callable[[Path], None] = _noop,
    on_decoded: Callable[[Path, float], None] = _noop,
    progress: Callable[[Path, float, float], None] = _noop,
    on_item: Callable[[FileOutcome], None] = _noop,
) -> list[FileOutcome]:
    """Transcribe each file with one engine (built once) and write ``formats`` into
    ``output_dir`` under the file's stem (numbered when two inputs share one).

    With the local engine and several files, they go in groups of
    :data:`~vidpipe.speech.transcribe.PACK_GROUP` through
    :func:`vidpipe.speech.transcribe.transcribe_many`
    (short clips share Whisper windows; each file's text and times stay its own); a
    file's ``wall`` is then its share of the group's time by audio seconds.

    Word times are asked for whenever a subtitle format is written (cues are cut at
    them) or speakers are labelled; they are kept in the JSON only with
    ``settings.word_timestamps`` or ``settings.diarize``.

    With ``settings.diarize`` each transcript gets speakers
    (:func:`vidpipe.pipeline.stages.diarize.diarize_file` on the same audio stream,
    then :func:`vidpipe.speakers.assign_speakers`) before it is written; the
    diarization models are loaded before the engine, so a missing ``diarize`` extra
    fails before any input. ``progress`` then reports the diarization's share too.

    Args:
        files: media files, in order.
        settings: the engine and decoding options.
        output_dir: the folder (created).
        formats: checked format names (:func:`vidpipe.writers.parse_formats`).
        cue_options: subtitle cue layout (default :class:`~vidpipe.media.subtitles.CueOptions`).
        on_ready(): the engine is built (a bad model or endpoint raises before).
        on_start(path): an input starts (decoding).
        on_decoded(path, seconds): its audio is decoded (seconds of audio).
        progress(path, done, total): seconds of audio transcribed of ``total``.
        on_item(outcome): an input is done, or failed (``outcome.error``).

    Returns:
        The outcomes, in input order; a Ctrl-C ends the loop after its outcome.

    Raises:
        ModelError, UsageError: the engine (or, with ``diarize``, the diarization
            models or speaker counts) cannot be used (before any input).
    """
    # imported here for start-up time: NumPy, ASR/TTS engines, pysubs2, PyAV
    asr = importlib.import_module(
        "vidpipe.speech.transcribe"
    )  # the module, not vidpipe.speech.transcribe()
    from vidpipe.speech.transcribe import get_engine, transcribe_many
    from vidpipe.speech.transcribe import transcribe as transcribe_file
    from vidpipe.writers import SUBTITLE_FORMATS, write_transcript

    s = settings
    label = _speaker_labeller(s) if s.diarize else None
    want_words = s.word_timestamps or s.diarize or any(f in SUBTITLE_FORMATS for f in formats)
    upload = int(s.max_upload_mb * 1024 * 1024) if s.max_upload_mb else None
    engine = get_engine(
        s.engine,
        model=s.model,
        threads=s.threads,
        api_base=s.api_base,
        max_upload_bytes=upload,
        settings=get_settings(),  # what the options leave open (VIDPIPE_*), resolved here
    )
    on_ready()
    used_stems: dict[str, int] = {}
    outcomes: list[FileOutcome] = []
    paths = [Path(raw) for raw in files]
    many = len(paths) > 1 and hasattr(engine, "transcribe_many")
    groups = (
        [paths[i : i + asr.PACK_GROUP] for i in range(0, len(paths), asr.PACK_GROUP)]
        if many
        else [[p] for p in paths]
    )
    kwargs = {
        "engine": engine,
        "language": s.language,
        "task": s.task,
        "word_timestamps": want_words,
        "sentence_segments": s.sentences,
        "vad": s.vad,
        "beam_size": s.beam_size,
        "batch_size": s.batch_size,
        "initial_prompt": s.initial_prompt,
        "audio_stream": s.audio_stream,
        "zh_script": s.zh_script,
    }
    for group in groups:
        for f in group:
            on_start(f)
        t0 = time.perf_counter()
        try:
            if many:
                results: list[Any] = transcribe_many(
                    group,
                    progress=lambda i, done, total, g=group: progress(g[i], done, total),
                    on_decoded=lambda i, seconds, g=group: on_decoded(g[i], seconds),
                    **kwargs,
                )
            else:
                f = group[0]
                results = [
                    transcribe_file(
                        f,
                        progress=lambda done, total, f=f: progress(f, done, total),
                        on_decoded=lambda seconds, f=f: on_decoded(f, seconds),
                        **kwargs,
                    )
                ]
        except (Exception, KeyboardInterrupt) as exc:
            for f in group:
                outcome = FileOutcome(f, error=exc, wall=time.perf_counter() - t0)
                outcomes.append(outcome)
                on_item(outcome)
            if isinstance(exc, KeyboardInterrupt):
                break
            continue
        # a packed group's wall time is shared by the files' audio seconds
        wall = time.perf_counter() - t0
        audio = sum(r.duration or 0.0 for r in results if not isinstance(r, BaseException))
        for f, result in zip(group, results, strict=True):
            if isinstance(result, BaseException):
                outcome = FileOutcome(f, error=result)
            else:
                share = wall * (result.duration or 0.0) / audio if audio else wall / len(group)
                try:
                    if label is not None:
                        t1 = time.perf_counter()
                        result = label(f, result, progress)
                        share += time.perf_counter() - t1
                    stem = numbered_stem(f.stem, used_stems)
                    written = write_transcript(
                        result,
                        output_dir,
                        stem,
                        formats,
                        cue_options,
                        keep_words=s.word_timestamps or s.diarize,
                    )
                except Exception as exc:
                    outcome = FileOutcome(f, error=exc, wall=share)
                else:
                    outcome = FileOutcome(f, result, list(written), share)
            outcomes.append(outcome)
            on_item(outcome)
    return outcomes


def _speaker_labeller(
    s: TranscribeSettings,
) -> Callable[[Path, Transcript, Callable[[Path, float, float], None]], Transcript]:
    """``label(path, transcript, progress) -> transcript with speakers`` for
    :func:`transcribe_files`, after checking the counts and loading the models.

    Raises:
        UsageError: bad speaker counts. ModelError: the ``diarize`` extra is missing.
    """
    from vidpipe.pipeline.stages.diarize import diarize_file, load_models, speaker_options
    from vidpipe.speakers import assign_speakers

    options = speaker_options(s.num_speakers, s.min_speakers, s.max_speakers)
    load_models()

    def label(
        path: Path, transcript: Transcript, progress: Callable[[Path, float, float], None]
    ) -> Transcript:
        total = transcript.duration or 0.0
        turns = diarize_file(
            path,
            options,
            audio_stream=s.audio_stream,
            progress=lambda frac, _step: progress(path, frac * total, total),
        )
        return assign_speakers(transcript, turns.turns)

    return label


def export_transcripts(
    cat: Catalog,
    output_dir: str | os.PathLike[str],
    formats: Sequence[str],
    cue_options: CueOptions | None = None,
    *,
    item_id: int | None = None,
    selection: Selection | None = None,
    zh_script: str = "simplified",
    report: Callable[[str], None] = _noop,
) -> list[Path]:
    """Write catalog transcripts as ``formats`` into ``output_dir``: item ``item_id``,
    else the items ``selection`` chooses (when active), else every item with a
    transcript. Each file is named by the item's source stem (with its id when two
    items share one); selected items without a transcript are reported and skipped.

    Args:
        zh_script: the Chinese script written (catalogs made before one script was kept
            may hold the other).
        report: receives a one-line note per skipped item.

    Returns:
        The files written, in item order.

    Raises:
        InputError: no such item, or it (or every selected item) has no transcript.
        OutputError: a file cannot be written.
    """
    # imported here for start-up time: pysubs2, PyAV
    from vidpipe.writers import write_transcript

    with_tr = {m.id for m in cat.all_media() if cat.transcript_row(m.id) is not None}
    if item_id is None:
        active = selection is not None and selection.active
        ids = select(cat, selection, report=report).ids if active else sorted(with_tr)
        for mid in ids:
            if mid not in with_tr:
                report(f"skipped #{mid}: no transcript")
        ids = [mid for mid in ids if mid in with_tr]
        if not ids and active:
            raise InputError("no selected item has a transcript", "see vidpipe report")
    else:
        if cat.get_media(item_id) is None:
            raise InputError(f"no item with id {item_id} in the catalog", "see vidpipe report")
        ids = [item_id]
    written: list[Path] = []
    stems: set[str] = set()
    for mid in ids:
        tr = cat.get_transcript(mid)
        if tr is None:
            raise InputError(f"item {mid} has no transcript", "run vidpipe run first")
        stem = item_stem(Path(tr.source or f"item{mid}").stem, mid, stems)
        tr = transcript_to_script(tr, zh_script)
        written += write_transcript(tr, output_dir, stem, formats, cue_options)
    return written


# ------------------------------------------------------------------- the work on catalog items


def resolve_input(
    cat: Catalog,
    target: str,
    model: str | None = None,
    language: str | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> tuple[int, Transcript, str]:
    """``ITEM`` (a catalog id) or ``FILE`` → ``(media_id, transcript, name)``: what
    ``summarize``, ``chapters`` and ``describe`` work on.

    A file already in the catalog (same content) reuses its stored transcript; any
    other file is recorded in the catalog (media row only, no source) and transcribed
    with this stage's options (``model``: default the settings'; ``language``; the
    rest the stage's defaults, word timestamps included), and the transcript is stored
    under their hash (:meth:`TranscribeStage.options_hash`, as a transcribe job's).

    Raises:
        InputError: no such item or file, or the item has no transcript yet.
    """
    path = Path(target)
    if target.isdigit() and not path.exists():
        media = cat.get_media(int(target))
        if media is None:
            raise InputError(f"no item with id {target} in the catalog", "see vidpipe report")
        tr = cat.get_transcript(media.id)
        if tr is None:
            raise InputError(
                f"item {media.id} has no transcript yet",
                f"run: vidpipe run --steps probe,audio,transcribe (or pass {media.path})",
            )
        return media.id, tr, Path(media.path).stem
    check_readable_file(path)
    digest = sha256_file(path)
    media = cat.media_by_sha256(digest)
    if media is not None:
        tr = cat.get_transcript(media.id)
        if tr is not None:
            return media.id, tr, path.stem
    # imported here for start-up time: NumPy, ASR engines
    from vidpipe.speech.transcribe import transcribe

    # this stage's own options (and so its hash): the settings fill what is not given
    stage = TranscribeStage()
    given = {"model": model or get_settings().model}
    if language:
        given["language"] = language
    opts = stage.parse_options(given)
    tr = transcribe(
        path,
        engine=asr_engine(opts.model, None),
        language=opts.language,
        task=opts.task,
        word_timestamps=opts.word_timestamps,
        beam_size=opts.beam_size,
        progress=progress,
        zh_script=opts.zh_script,
    )
    tr.model = opts.model
    if media is None:
        media, _ = cat.add_media(path.resolve(), digest, path.stat().st_size)
    cat.save_transcript(media.id, tr, stage.options_hash(opts))
    return media.id, tr, path.stem
