"""Input lines to chains of jobs: what ``vidpipe run``, ``vidpipe submit`` and
``vidpipe ingest`` all do first.

Each input line (a URL, a line of a link list or record file, a media file, every
media file of a folder) is registered as a catalog source
(:func:`vidpipe.library.ingest.register`) and becomes one chain of dependent jobs in
pipeline order, each carrying the source's id (``source_id``):

- a URL not downloaded yet: ``download -> probe -> audio -> transcribe -> ...``; the
  ``download`` job records the file by content, and a file whose content an earlier
  line holds makes the source ``skipped: duplicate content of ...``;
- a local file, or a URL downloaded before: recorded by content here (the ``ingest``
  step: hashed, :func:`~vidpipe.library.ingest.record_by_content`), then ``probe ->
  audio -> ...`` on its media item.

The source row then follows its chain (:func:`vidpipe.pipeline.chains.settle_source`):
``done``, ``failed`` with ``<stage>: <reason>``, or ``skipped``.

**Reuse** (``vidpipe run``): a step already done for the source with the same options
(a succeeded job of that kind, source and options hash) is not made again, and a step
another process is running (a waiting, queued or running job) is shared, not started
twice: the new chain waits for that job. Once a step gets a new job, every later step
does too (a summary of a new transcript is a new summary). So a rerun makes no jobs at
all ("nothing to do"), a run killed midway continues where it stopped, and two runs on
one catalog do each step once. Planning holds the catalog's ``chains`` lock
(:meth:`~vidpipe.library.catalog.Catalog.lock`, across processes) while it looks for
jobs and creates them.

**Packing**: the local files of one input list that are at most
:data:`~vidpipe.speech.transcribe.HOLD_SECONDS` long (by probe) are cut, in input
order, into consecutive groups of :data:`~vidpipe.speech.transcribe.PACK_GROUP`;
each ``transcribe`` job of such a file carries its group (``input.pack``, resolved
paths). The worker that claims one
claims the group's other queued jobs with the same options and transcribes the whole
group in one call (:func:`vidpipe.pipeline.execute.run_job`), so a resumed run
re-forms the same groups and gets the same transcripts as an uninterrupted one.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from vidpipe.config import get_settings
from vidpipe.errors import UsageError, VidpipeError
from vidpipe.files import check_readable_file, sha256_file
from vidpipe.library.catalog import LEASE_SECONDS
from vidpipe.library.ingest import describe, record_by_content, register
from vidpipe.library.models import JOB_FINAL, JobRow, Source
from vidpipe.library.select import select_sources
from vidpipe.library.understanding import TextOptions
from vidpipe.library.urls import validate_url
from vidpipe.pipeline.chains import settle_source
from vidpipe.pipeline.jobs import DEFAULT_MAX_ATTEMPTS, JobStore
from vidpipe.pipeline.registry import STAGES, get_stage, media_steps
from vidpipe.types import Job

__all__ = [
    "AUDIO_STAGES",
    "CPU_STAGES",
    "DEFAULT_ALL",
    "STEPS",
    "Chain",
    "RunOptions",
    "Submission",
    "job_steps",
    "parse_steps",
    "plan_chains",
]

#: the stages run on each item after ``ingest``, in pipeline order (from the registry)
CPU_STAGES = media_steps()
STEPS = ("ingest", *CPU_STAGES)
#: steps that ``all`` selects (the understanding steps are named explicitly)
DEFAULT_ALL = ("ingest", *(s for s in CPU_STAGES if STAGES[s].in_all))
#: steps that need an audio track: ``skipped: no audio track`` on a silent file
AUDIO_STAGES = tuple(s for s in CPU_STAGES if STAGES[s].needs_audio)


def parse_steps(spec: str | Sequence[str], *, diarize: bool = False) -> tuple[str, ...]:
    """``"ingest,probe"`` → ``("ingest", "probe")`` in pipeline order; ``diarize``
    (``--diarize``) adds the ``diarize`` step.

    Raises:
        UsageError: an unknown step name.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    if diarize:
        items.append("diarize")
    names = {i.strip().lower() for i in items if i.strip()}
    if "all" in names:
        names = (names - {"all"}) | set(DEFAULT_ALL)
    unknown = names - set(STEPS)
    if unknown or not names:
        raise UsageError(
            f"unknown step '{', '.join(sorted(unknown)) or spec}'",
            f"use a comma list of {','.join(STEPS)}",
        )
    return tuple(s for s in STEPS if s in names)


@dataclass
class RunOptions:
    """What to run and how (``vidpipe run``, ``ingest`` and ``submit``).
    ``model``/``language`` default to the settings."""

    #: default: every step but ``diarize`` (it needs the optional ``diarize`` extra; the
    #: command line's default is ``all``: ingest, probe, audio, transcribe)
    steps: tuple[str, ...] = tuple(s for s in STEPS if s != "diarize")
    model: str | None = None
    language: str | None = None
    word_timestamps: bool = True
    beam_size: int = 5
    threads: int | None = None
    retry_failed: bool = False
    dest: Path | None = None
    limits: Any = None  # vidpipe.library.download.DownloadLimits
    text_backend: str = "extractive"  # summarize/chapters: extractive or openai
    llm_base: str | None = None
    llm_model: str | None = None
    max_chunk: float = 60.0
    #: which catalog items to work on when no source is given (vidpipe.library.select)
    selection: Any = None
    zh_script: str | None = None  # Chinese script; default VIDPIPE_ZH_SCRIPT (simplified)
    #: seconds a job's lease lasts without renewal (renewed every quarter of it)
    lease: float = LEASE_SECONDS
    #: seconds between looks at jobs another process is working on
    wait_poll: float = 0.25
    #: how JSON/JSONL/CSV source lists are read (vidpipe.library.ingest.RecordOptions)
    records: Any = None
    #: the embed step's encoder and pooling (vidpipe.pipeline.embed.EmbedOptions fields)
    embed_model: str = "whisper"
    embed_pool: str = "mean"
    #: the diarize step's speaker count or bounds (``None``: estimated)
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    def text_options(self) -> TextOptions:
        """The summarize/chapters text options of these options."""
        return TextOptions(
            backend=self.text_backend,
            llm_base=self.llm_base,
            llm_model=self.llm_model,
            max_chunk=self.max_chunk,
            language=self.language,
            zh_script=self.zh_script,
        )

    def transcribe_options(self) -> dict[str, Any]:
        """The ``transcribe`` stage's params."""
        return {
            "model": self.model or get_settings().model,
            "language": (self.language or "auto").lower(),
            "task": "transcribe",
            "word_timestamps": self.word_timestamps,
            "beam_size": self.beam_size,
            "zh_script": self.zh_script or get_settings().zh_script,
        }

    def stage_params(self) -> dict[str, dict[str, Any]]:
        """The params of every media step (:data:`CPU_STAGES`), each validated by its
        stage's ``Options`` when a job is made."""
        text = {
            "backend": self.text_backend,
            "llm_base": self.llm_base,
            "llm_model": self.llm_model,
            "max_chunk": self.max_chunk,
            "language": self.language,
            "zh_script": self.zh_script,
        }
        params: dict[str, dict[str, Any]] = {
            "probe": {},
            "audio": {},
            "transcribe": self.transcribe_options(),
            "summarize": text,
            "chapters": text,
            "describe": {"model": self.model, "language": self.language},
            "embed": {"model": self.embed_model, "pool": self.embed_pool},
            "diarize": {
                k: v
                for k, v in (
                    ("num_speakers", self.num_speakers),
                    ("min_speakers", self.min_speakers),
                    ("max_speakers", self.max_speakers),
                )
                if v is not None
            },
        }
        return {s: params.get(s, {}) for s in CPU_STAGES}

    def download_params(self) -> dict[str, Any]:
        """The ``download`` stage's params: ``limits`` and ``dest`` as options."""
        return STAGES["download"].Options.from_limits(self.limits, self.dest)


@dataclass
class Chain:
    """One input line's jobs, in pipeline order: the jobs made for it and those of
    another run it waits for (empty when it was skipped or failed: ``state`` and
    ``reason`` say why, when every step was done before, or when ``ingest`` was its
    only step)."""

    source: Source
    name: str
    media_id: int | None = None
    jobs: list[Job] = field(default_factory=list)
    state: str = "submitted"  # submitted | done | skipped | failed
    reason: str | None = None
    #: how many of ``jobs`` were made by this planning (the rest are shared)
    created: int = 0


@dataclass
class Submission:
    """What :func:`plan_chains` did, chains in input order."""

    chains: list[Chain]
    #: local files hashed and recorded as new items by this planning
    ingested: int = 0

    @property
    def job_ids(self) -> list[str]:
        return [j.id for c in self.chains for j in c.jobs]

    @property
    def failed(self) -> int:
        return sum(1 for c in self.chains if c.state == "failed")

    def first_jobs(self) -> list[Job]:
        """The jobs that wait for nothing made here: what ``submit`` enqueues."""
        return [j for c in self.chains for j in c.jobs if j.status == "queued"]


def job_steps(options: RunOptions) -> dict[str, dict[str, Any]]:
    """The stage params of each media step in ``options.steps``, in pipeline order.

    Raises:
        UsageError: no step at all that runs as a job (neither ``ingest`` nor a media
            step).
    """
    params = options.stage_params()
    steps = {s: params[s] for s in CPU_STAGES if s in options.steps}
    if not steps and "ingest" not in options.steps:
        raise UsageError("no job step in --steps", f"add one of ingest,{','.join(CPU_STAGES)}")
    return steps


def _ingest(store: JobStore, src: Source) -> tuple[int | None, str | None, str | None, bool]:
    """``(media_id, state, reason, new)`` for ``src``: a local file is recorded by
    content (``media_id``, or ``skipped``/``failed`` with the reason; ``new`` when it
    was hashed now); a URL not downloaded yet has no item (its chain starts with a
    ``download`` job)."""
    cat = store.catalog
    if src.media_id is not None:
        return src.media_id, None, None, False
    if src.kind not in ("file", "folder"):
        return None, None, None, False
    path = Path(src.uri)
    try:
        check_readable_file(path)
        digest = sha256_file(path)
        size = path.stat().st_size
    except (VidpipeError, OSError) as exc:
        reason = exc.one_line() if isinstance(exc, VidpipeError) else str(exc)
        reason = f"ingest: {' '.join(reason.split())}"
        cat.record_failure("ingest", type(exc).__name__, reason[8:], source_id=src.id)
        cat.set_source_state(src.id, "failed", reason)
        return None, "failed", reason, False
    media, duplicate = record_by_content(cat, src, path, digest, size)
    if duplicate is not None:
        return media.id, "skipped", duplicate, False
    return media.id, None, None, True


def _is_short(path: Path, cache: dict[Path, bool]) -> bool:
    """Whether the local file ``path`` may be packed: probed (once per planning), at
    most :data:`~vidpipe.speech.transcribe.HOLD_SECONDS` long. Always by probe, not by
    the catalog's duration, so the answer is the same in every run."""
    # imported here for start-up time: PyAV, NumPy
    from vidpipe.media.probe import probe
    from vidpipe.speech.transcribe import HOLD_SECONDS

    if path not in cache:
        try:
            seconds = probe(path).duration
        except VidpipeError:
            seconds = None
        cache[path] = seconds is not None and 0 < seconds <= HOLD_SECONDS
    return cache[path]


def pack_groups(paths: Sequence[Path]) -> dict[Path, list[str]]:
    """The packing groups of a run's local files (in input order, whatever their
    state): the short ones (:func:`_is_short`) cut into consecutive groups of
    :data:`~vidpipe.speech.transcribe.PACK_GROUP`; groups of one file are left out.

    Returns:
        ``{resolved path: the group's resolved paths}`` for every packed file.
    """
    # imported here for start-up time: NumPy, ASR engines
    asr = importlib.import_module(
        "vidpipe.speech.transcribe"
    )  # the module, not vidpipe.speech.transcribe()

    size = asr.PACK_GROUP
    cache: dict[Path, bool] = {}
    short = [p for p in dict.fromkeys(Path(x).resolve() for x in paths) if _is_short(p, cache)]
    groups: dict[Path, list[str]] = {}
    for i in range(0, len(short), size):
        group = short[i : i + size]
        if len(group) > 1:
            for p in group:
                groups[p] = [str(x) for x in group]
    return groups


def _latest(store: JobStore, source_id: int, kind: str, params_hash: str) -> Job | None:
    """The newest job of ``kind`` with ``params_hash`` in source ``source_id``'s chains
    that is not failed or canceled (a succeeded one, or one still to finish)."""
    with store.catalog.session(write=False) as s:
        job_id = s.scalar(
            select(JobRow.id)
            .where(JobRow.source_id == source_id, JobRow.kind == kind)
            .where(JobRow.params_hash == params_hash)
            .where(JobRow.status.notin_(("failed", "canceled")))
            .order_by(JobRow.created_at.desc(), JobRow.id.desc())
            .limit(1)
        )
    return store.get(job_id) if job_id is not None else None


def _unfinished_before(store: JobStore, job: Job, have: Sequence[Job]) -> list[Job]:
    """The unfinished jobs ``job`` waits on (transitively), dependencies first, except
    those in ``have``. A rerun adopting an earlier run's unfinished job must run these
    too: a ``download`` killed after it recorded the item (the source then has a media
    id, so the new plan starts at the next step) is still the embed job's dependency,
    and a set that waits on a job outside it never ends."""
    known = {j.id for j in have}
    out: list[Job] = []

    def visit(j: Job) -> None:
        for dep in store.get_many(j.depends_on):
            if dep.id in known or dep.status in JOB_FINAL:
                continue
            known.add(dep.id)
            visit(dep)
            out.append(dep)

    visit(job)
    return out


def _work(store: JobStore, inputs: Sequence[str], options: RunOptions) -> list[Source]:
    """The sources ``vidpipe run`` works on: the input lines (or, with none, the
    catalog's sources, maybe a selection of them) that are pending or done; failed ones
    too with ``retry_failed`` (back to pending; a malformed URL stays failed)."""
    cat = store.catalog
    sources = register(cat, list(inputs), options.records).sources if inputs else cat.sources()
    if not inputs and options.selection is not None and options.selection.active:
        sources, _chosen = select_sources(cat, sources, options.selection)
    return sources


def plan_chains(
    store: JobStore,
    inputs: Sequence[str],
    options: RunOptions,
    *,
    reuse: bool = False,
    max_attempts: int | None = None,
) -> Submission:
    """Turn ``inputs`` into one chain of jobs per input line (see the module doc);
    nothing is enqueued (``submit`` sends the messages, ``run`` runs them itself).

    Args:
        store: the jobs' store (its catalog holds the sources and media items).
        inputs: URLs, link lists, media files or folders; with none (``reuse`` only),
            every source of the catalog (``options.selection`` chooses among them).
        options: the steps, stage options, download folder and limits.
        reuse: ``vidpipe run``'s planning: share or skip steps already made (module
            doc), retry failed sources only with ``options.retry_failed``. Without it
            (``submit``), every line gets a new chain.
        max_attempts: runs allowed per job (default
            :data:`~vidpipe.pipeline.jobs.DEFAULT_MAX_ATTEMPTS`).

    Returns:
        The :class:`Submission`, chains in input order.

    Raises:
        UsageError: no sources, no job step, bad stage options.
        InputError: a missing path (nothing is recorded).
    """
    if not inputs and not reuse:
        raise UsageError("no sources given", "pass media files, folders or a links .txt file")
    steps = job_steps(options)
    download = options.download_params()
    get_stage("download").parse_options(download)  # refuse bad options before recording
    hashes = {k: get_stage(k).options_hash(get_stage(k).parse_options(p)) for k, p in steps.items()}
    download_hash = get_stage("download").options_hash(
        get_stage("download").parse_options(download)
    )
    cat = store.catalog
    sources = (
        _work(store, inputs, options)
        if reuse
        else register(cat, list(inputs), options.records).sources
    )
    local = [Path(s.uri) for s in sources if s.kind in ("file", "folder")]
    packs = pack_groups(local) if "transcribe" in steps and len(local) > 1 else {}
    attempts = max_attempts or DEFAULT_MAX_ATTEMPTS
    sub = Submission([])
    seen: set[int] = set()
    for src in sources:
        chain = Chain(source=src, name=describe(src))
        if src.id in seen:
            continue
        seen.add(src.id)
        sub.chains.append(chain)
        if reuse and src.state == "failed" and options.retry_failed:
            if src.kind in ("url", "list-entry") and src.media_id is None:
                try:
                    validate_url(src.uri)  # a malformed URL fails again at once
                except UsageError:
                    chain.state, chain.reason = src.state, src.reason
                    continue
            cat.set_source_state(src.id, "pending", None, media_id=src.media_id)
            src.state, src.reason = "pending", None
        if src.state in ("failed", "skipped") and (reuse or src.media_id is None):
            chain.state, chain.reason = src.state, src.reason
            continue
        if reuse and "ingest" not in options.steps and src.media_id is None:
            chain.state = "pending"  # nothing to do without ingesting it first
            continue
        mid, state, reason, new = _ingest(store, src)
        sub.ingested += int(new)
        chain.media_id = mid
        if state is not None:
            chain.state, chain.reason = state, reason
            continue
        plan: list[tuple[str, dict[str, Any], dict[str, Any], str]] = []
        if mid is None:  # a URL: downloaded by a job, which records the item
            plan.append(
                ("download", download, {"url": src.uri, "source_id": src.id}, download_hash)
            )
        for kind, params in steps.items():
            given: dict[str, Any] = {"source_id": src.id}
            if mid is not None:
                given["media_id"] = mid
            if kind == "transcribe" and src.kind in ("file", "folder"):
                group = packs.get(Path(src.uri).resolve())
                if group:
                    given["pack"] = group
            plan.append((kind, params, given, hashes[kind]))
        with cat.lock("chains"):
            prev: Job | None = None
            fresh = not reuse
            for kind, params, given, digest in plan:
                if not fresh:
                    found = _latest(store, src.id, kind, digest)
                    if found is not None and (
                        prev is None or found.status == "succeeded" or prev.id in found.depends_on
                    ):
                        if found.status != "succeeded":
                            chain.jobs += _unfinished_before(store, found, chain.jobs)
                            chain.jobs.append(found)
                        prev = found
                        continue
                    fresh = True
                job = store.create(
                    kind,
                    params,
                    input=given,
                    depends_on=[prev.id] if prev is not None else [],
                    max_attempts=attempts,
                )
                chain.jobs.append(job)
                chain.created += 1
                prev = job
        if not chain.jobs:
            # nothing to do: every step was done before (or `--steps ingest`)
            if src.state != "done" and src.state != "skipped":
                _settle_done(store, src, prev, mid)
            chain.state = "done" if src.state != "skipped" else src.state
            continue
        if src.state != "pending" and chain.created:
            cat.set_source_state(src.id, "pending", None, media_id=mid)
    return sub


def _settle_done(store: JobStore, src: Source, last: Job | None, mid: int | None) -> None:
    """A source whose every step was done before (or that only needed ingesting):
    its state as its chain left it."""
    if last is not None and settle_source(store, last.id) is not None:
        return
    store.catalog.set_source_state(src.id, "done", None, media_id=mid)
    src.state = "done"
