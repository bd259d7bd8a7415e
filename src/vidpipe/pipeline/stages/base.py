"""The stage contract: what every unit of pipeline work looks like.

A :class:`Stage` has a ``name`` (the job kind), a ``version`` (bumped when its output
changes), an ``Options`` pydantic model (validated when a job is created; stored as
JSON beside its :func:`~vidpipe.hashing.options_hash`), what it takes
(:class:`StageInput`: a media item id, a file path, a text, image and audio files,
and the outputs of the jobs it depends on, :class:`DependencyOutput`), and
``run(ctx, inputs, options) -> StageResult``: a typed result (JSON) and the paths
of the files it wrote, relative to the job folder (``ctx.work_dir``). Progress goes
through ``ctx.progress(fraction, step)``.

Stages are idempotent: their files have fixed names inside the job folder and are
written to a temporary name and renamed (:mod:`vidpipe.files`), so a rerun after a
kill gives the same files and the same result. The stages themselves are the other
modules of :mod:`vidpipe.pipeline.stages`; :mod:`vidpipe.pipeline.registry` names them.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vidpipe.errors import InputError, UsageError
from vidpipe.files import IMAGE_SUFFIXES, check_readable_file, ensure_dir, sha256_file
from vidpipe.hashing import options_hash
from vidpipe.types import Transcript

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.library.catalog import Catalog

__all__ = [
    "AUDIO_SUFFIXES",
    "JOB_REF",
    "NO_AUDIO",
    "DependencyOutput",
    "Stage",
    "StageContext",
    "StageInput",
    "StageInputs",
    "StageOptions",
    "StageResult",
    "StageSkipped",
    "has_no_audio",
    "options_error",
]

#: artifact suffixes taken as audio by :meth:`StageInputs.audio`
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a")
#: artifact suffixes taken as slides by :meth:`StageInputs.images`
IMAGE_ARTIFACT_SUFFIXES = IMAGE_SUFFIXES
#: the transcript artifact a speak or transcribe job hands on
TRANSCRIPT_ARTIFACT = "transcript.json"
#: why a stage that needs an audio track did not run (``skipped: no audio track``)
NO_AUDIO = "no audio track"
#: a file input given as ``job:<id>``: the file that dependency (a ``download`` job) holds
JOB_REF = "job:"


class StageInput(BaseModel):
    """What a job is given directly (stored as the job's ``input`` JSON).

    Attributes:
        media_id: a catalog media item id.
        path: a media or document file (made absolute when the job is created).
        text: text to speak or to draw a card from.
        images: image files (slides for ``render``), absolute paths.
        audio: an audio file (narration for ``render``), absolute path.
        url: a link to download (``download``).
        source_id: the catalog source (input line) whose chain this job belongs to
            (``vidpipe submit``): its state follows the chain
            (:func:`vidpipe.pipeline.chains.settle_source`).
        music: a background music file (``render``, ``narrate``), absolute path.
        pack: a ``transcribe`` job's packing group (:func:`vidpipe.pipeline.plan.
            pack_groups`): the resolved paths of the short files transcribed together
            with its own, whichever of them still has a job to run.
        output: the file a ``narrate`` job writes its video to (absolute) instead of
            the job folder (``vidpipe narrate -o``); set by the command line only (the
            HTTP service's job input has no such field).
        work_dir: the folder for a ``narrate`` job's work files (``--work-dir``; default
            ``<output>.work`` beside ``output``, else ``work/`` in the job folder).

    A file field (``path``, ``images``, ``audio``, ``music``) may also be ``job:<id>``
    (:data:`JOB_REF`): the file of dependency ``<id>`` (a ``download`` job's ``path``),
    resolved when the job runs (:meth:`StageInputs.file`).
    """

    model_config = ConfigDict(extra="forbid")

    media_id: int | None = Field(None, ge=1)
    path: str | None = None
    url: str | None = None
    source_id: int | None = Field(None, ge=1)
    text: str | None = None
    images: list[str] = Field(default_factory=list)
    audio: str | None = None
    music: str | None = None
    pack: list[str] = Field(default_factory=list)
    output: str | None = None
    work_dir: str | None = None

    def absolute(self) -> StageInput:
        """A copy whose file paths are absolute (a worker's folder does not matter)."""

        def full(p: str) -> str:
            if p.startswith(JOB_REF):
                return p
            return os.fspath(Path(p).expanduser().absolute())

        return self.model_copy(
            update={
                "path": full(self.path) if self.path else None,
                "images": [full(p) for p in self.images],
                "audio": full(self.audio) if self.audio else None,
                "music": full(self.music) if self.music else None,
                "output": full(self.output) if self.output else None,
                "work_dir": full(self.work_dir) if self.work_dir else None,
            }
        )


class DependencyOutput(BaseModel):
    """A finished dependency as its dependent sees it.

    ``artifacts`` are absolute paths (the storage root joined to the stored ones).
    """

    job_id: str
    kind: str
    result: dict[str, Any] = Field(default_factory=dict)
    artifacts: list[Path] = Field(default_factory=list)


@dataclass
class StageInputs:
    """Everything a stage runs on: the job's own input and its dependencies' outputs
    (in the order of ``depends_on``)."""

    given: StageInput = field(default_factory=StageInput)
    deps: list[DependencyOutput] = field(default_factory=list)

    def media_id(self) -> int | None:
        """The given media item, else the first dependency result naming one."""
        if self.given.media_id is not None:
            return self.given.media_id
        for dep in self.deps:
            mid = dep.result.get("media_id")
            if isinstance(mid, int):
                return mid
        return None

    def file(self, value: str) -> Path:
        """A given file field as a path: ``job:<id>`` is the file of that dependency (its
        result's ``path``, else its first artifact), anything else the path itself.

        Raises:
            InputError: ``<id>`` is not a dependency of the job, or it holds no file.
        """
        if not value.startswith(JOB_REF):
            return Path(value)
        job_id = value[len(JOB_REF) :]
        dep = next((d for d in self.deps if d.job_id == job_id), None)
        if dep is None:
            raise InputError(
                f"input {value} names no dependency of the job", "add it to depends_on"
            )
        path = dep.result.get("path")
        if isinstance(path, str) and path:
            return Path(path)
        if dep.artifacts:
            return dep.artifacts[0]
        raise InputError(f"job {job_id} ({dep.kind}) holds no file", "depend on a download job")

    def source(self, catalog: Catalog | None) -> tuple[Path, int | None]:
        """The media file to work on and its catalog item: the given path, else the
        given (or a dependency's) media item's file.

        A given file that is not in the catalog yet is recorded there by content
        (sha256, as ``vidpipe summarize FILE`` does), so results land on its item.

        Raises:
            InputError: no file given, the file is missing or unreadable, or the media
                item is not in the catalog.
        """
        mid = self.media_id()
        if self.given.path:
            path = self.file(self.given.path)
            if self.given.media_id is not None or catalog is None:
                return path, self.given.media_id

            check_readable_file(path)
            digest = sha256_file(path)
            media = catalog.media_by_sha256(digest)
            if media is None:
                media, _ = catalog.add_media(path.resolve(), digest, path.stat().st_size)
            return path, media.id
        if mid is not None:
            if catalog is None:
                raise InputError(f"media item {mid} needs a catalog", "run the job from a store")
            media = catalog.get_media(mid)
            if media is None:
                raise InputError(f"no item with id {mid} in the catalog", "see vidpipe report")
            return Path(media.path), mid
        raise InputError("the job has no media to work on", "give a media item id or a file")

    def artifacts(self, kinds: tuple[str, ...], suffixes: tuple[str, ...]) -> list[Path]:
        """Files of the dependencies of ``kinds`` whose suffix is one of ``suffixes``,
        in dependency order."""
        return [
            a
            for dep in self.deps
            if dep.kind in kinds
            for a in dep.artifacts
            if a.suffix.lower() in suffixes
        ]

    def transcript(self) -> Transcript | None:
        """The first dependency's ``transcript.json`` (a speak or transcribe job), or None."""
        for dep in self.deps:
            for a in dep.artifacts:
                if a.name == TRANSCRIPT_ARTIFACT:
                    try:
                        return Transcript.model_validate_json(a.read_text(encoding="utf-8"))
                    except OSError as exc:
                        raise InputError(
                            f"cannot read {a} of job {dep.job_id}: {exc.strerror or exc}",
                            "check the storage root is shared by every worker",
                        ) from exc
        return None

    def audio(self) -> Path | None:
        """The given audio file, else the first audio file of a speak or audio dependency."""
        if self.given.audio:
            return self.file(self.given.audio)
        found = self.artifacts(("speak", "audio"), AUDIO_SUFFIXES)
        return found[0] if found else None

    def images(self) -> list[Path]:
        """The given image files, then every image of the images dependencies in order."""
        return [self.file(p) for p in self.given.images] + self.artifacts(
            ("images",), IMAGE_ARTIFACT_SUFFIXES
        )


class StageOptions(BaseModel):
    """The base of every stage's ``Options``: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class StageResult(BaseModel):
    """What a stage returns: ``result`` (JSON) and ``artifacts``, paths of the files it
    wrote relative to the job folder."""

    result: dict[str, Any] = Field(default_factory=dict)
    artifacts: list[str] = Field(default_factory=list)


ProgressHook = Callable[[float, "str | None"], None]


@dataclass
class StageContext:
    """Where and with what a stage runs.

    Attributes:
        work_dir: the job folder; every artifact goes there (created on first use).
        catalog: the catalog the job lives in (stages record results there).
        job_id: the job being run (``None`` when a stage is called directly).
        threads: CPU threads a stage may use (``None``: every core).
        on_progress: receives ``(fraction 0..1, step)``; may raise to stop the stage
            (a canceled job).
        write_artifacts: write the job's files (``transcript.json``, ``audio.wav``,
            summary files). ``vidpipe run``'s own worker sets False: its results
            are the catalog rows, and ``work_dir`` is the item's folder for the files that are the
            result itself (describe's keyframes and ``scenes.json``).
        storage_root: the storage root the job folders are under (``None``: the
            configured one); the download stage's default folder is its ``media/``.
        transcripts: transcripts made ahead by resolved file path
            (:meth:`~vidpipe.pipeline.stages.transcribe.TranscribeStage.ahead`: a packing
            group's short files transcribed together, :func:`vidpipe.pipeline.execute.
            run_job`); the transcribe stage takes its file's from here.
    """

    work_dir: Path
    catalog: Catalog | None = None
    job_id: str | None = None
    threads: int | None = None
    on_progress: ProgressHook | None = None
    write_artifacts: bool = True
    storage_root: Path | None = None
    transcripts: dict[str, Any] | None = None

    def progress(self, fraction: float, step: str | None = None) -> None:
        """Report ``fraction`` (clamped to 0..1) of the work done, at ``step`` (one line)."""
        if self.on_progress is not None:
            self.on_progress(min(1.0, max(0.0, float(fraction))), step)

    def counter(self, step: str) -> Callable[[float, float], None]:
        """A ``progress(done, total)`` callback for the building blocks, as ``step``."""

        def report(done: float, total: float) -> None:
            self.progress(done / total if total else 0.0, step)

        return report

    def path(self, name: str) -> Path:
        """``work_dir / name``, its folder created.

        Raises:
            OutputError: the folder cannot be created.
        """
        p = self.work_dir / name
        ensure_dir(p.parent)
        return p

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the job folder (POSIX separators)."""
        return Path(path).resolve().relative_to(self.work_dir.resolve()).as_posix()


def options_error(kind: str, exc: ValidationError, what: str = "params") -> UsageError:
    """The one-line :class:`UsageError` for options the model refused: the field and
    pydantic's message, e.g. ``invalid transcribe params: beam_size: Input should be
    greater than or equal to 1`` (``what="input"`` for the job's input)."""
    first = exc.errors()[0]
    where = ".".join(str(x) for x in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    tail = f" (and {more} more)" if more else ""
    said = f"{where}: {msg}" if where else msg
    return UsageError(f"invalid {kind} {what}: {said}{tail}", f"see the {kind} stage's {what}")


def has_no_audio(media: Any) -> bool:
    """True if the probe recorded for ``media`` (a catalog media item) found no audio
    stream; False when it was not probed."""
    if media is None or not media.probe:
        return False
    return not any(st.get("type") == "audio" for st in media.probe.get("streams") or [])


class StageSkipped(Exception):
    """Raised by a stage (or found by its runner) when there is nothing to do for good
    reason: ``no audio track``, ``duplicate content of ...``. The job succeeds with
    ``{"skipped": reason}``; the batch runner records the stage row ``skipped``."""

    def __init__(self, reason: str, media_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.media_id = media_id


class Stage(ABC):
    """One kind of work. Subclasses set ``name``, ``version``, ``Options`` and
    ``takes`` and implement :meth:`run` (and :meth:`check_input` when the generic
    check is not enough).

    What ``vidpipe run``, ``vidpipe submit`` and the workers need to know about a stage
    is here too: :attr:`media_step` (a step of the batch pipeline over catalog items;
    the registry's order is the pipeline order), :attr:`in_all` (chosen by ``--steps
    all``), :attr:`needs_audio` (skipped with ``no audio track`` on a file without
    one), :attr:`resource` (``cpu`` or ``io``: which worker pool runs it) and
    :attr:`builds_on` (the stages whose results it is computed from).
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    Options: ClassVar[type[BaseModel]]
    #: what it works on, among ``media``, ``file``, ``text``, ``images``, ``audio``,
    #: ``url`` (given in the job's input) and ``dep:<kind>`` (the output of such a
    #: dependency)
    takes: ClassVar[tuple[str, ...]] = ()
    #: a step of ``vidpipe run``/``submit`` over a catalog item (``--steps`` names it)
    media_step: ClassVar[bool] = False
    #: chosen by ``--steps all``
    in_all: ClassVar[bool] = False
    #: needs an audio track: on a file without one it ends ``skipped: no audio track``
    needs_audio: ClassVar[bool] = False
    #: ``cpu`` (decoding, models) or ``io`` (network): workers run ``io`` stages in
    #: their own pool so that downloads never wait behind CPU work
    resource: ClassVar[str] = "cpu"
    #: stages whose results this one is computed from: their hashes are part of its
    #: cache hash (:meth:`options_hash` with ``upstream``)
    builds_on: ClassVar[tuple[str, ...]] = ()
    #: whether its whole effect is its files and result, so that a job may take its
    #: output from the stage cache (:mod:`vidpipe.pipeline.cache`); stages that record
    #: rows in the catalog (probe, transcribe, summarize...) are not
    cacheable: ClassVar[bool] = False

    def parse_options(self, params: dict[str, Any] | BaseModel | None) -> BaseModel:
        """Validate ``params`` with :attr:`Options` (defaults filled in).

        Raises:
            UsageError: the options model refused them (its message, one line).
        """
        if isinstance(params, self.Options):
            return params
        if isinstance(params, BaseModel):
            params = params.model_dump(mode="json")
        try:
            return self.Options.model_validate(params or {})
        except ValidationError as exc:
            raise options_error(self.name, exc) from None

    def options_hash(self, options: BaseModel, upstream: dict[str, str] | None = None) -> str:
        """:func:`~vidpipe.hashing.options_hash` of the options' JSON: a job's
        ``params_hash``, the catalog's stage and transcript rows (the same for ``vidpipe
        run`` and a job).

        Args:
            options: parsed options (:meth:`parse_options`).
            upstream: stage name -> that stage's hash; those of :attr:`builds_on` that
                are given become part of the hash (a summary of another transcript is
                another summary). ``None``: the options alone.
        """
        own = options_hash(options.model_dump(mode="json"))
        ups = {k: upstream[k] for k in self.builds_on if upstream and k in upstream}
        return options_hash({self.name: own, **ups}) if ups else own

    def check_input(
        self, given: StageInput, dep_kinds: list[str], item_kinds: Collection[str] = ()
    ) -> None:
        """Refuse a job with nothing to work on: one of :attr:`takes` must be there.

        Args:
            given: the job's own input.
            dep_kinds: the kinds of the jobs it depends on.
            item_kinds: the kinds whose result names a catalog media item (a download
                or a media step: the chains of ``vidpipe submit``;
                :func:`~vidpipe.pipeline.registry.item_kinds`).

        Raises:
            UsageError: none of what the stage takes is given or depended on.
        """
        have = {
            "media": given.media_id is not None,
            "file": bool(given.path),
            "text": bool(given.text and given.text.strip()),
            "images": bool(given.images),
            "audio": bool(given.audio),
            "url": bool(given.url and given.url.strip()),
        }
        if "media" in self.takes and dep_kinds:
            # a download or media step's result names the item (chains of vidpipe submit)
            have["media"] = have["media"] or any(k in item_kinds for k in dep_kinds)
        for want in self.takes:
            if want.startswith("dep:"):
                if want[4:] in dep_kinds:
                    return
            elif have.get(want):
                return
        said = ", ".join(t.replace("dep:", "a ") + (" job" if t.startswith("dep:") else "")
                         for t in self.takes)  # fmt: skip
        article = "an" if self.name[0] in "aeiou" else "a"
        raise UsageError(f"{article} {self.name} job needs an input", f"give one of: {said}")

    @abstractmethod
    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        """Do the work; write files under ``ctx.work_dir``.

        Raises:
            VidpipeError: a one-line failure (stored as the job's error).
        """
