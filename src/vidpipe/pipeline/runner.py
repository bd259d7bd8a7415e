"""The local batch runner (``vidpipe run``): ingest, then the media steps of the stage
registry over the catalog (probe, audio check, transcription, summary, chapters,
scenes, audio embeddings), in one process.

Every step is the registry's stage (:func:`vidpipe.pipeline.registry.get_stage`), run
through :func:`~vidpipe.pipeline.registry.run_stage` as a queue worker runs it, with
the same parsed options and so the same cache hash (:meth:`Stage.options_hash
<vidpipe.pipeline.stages.Stage.options_hash>`, stored on the catalog's stage rows and
transcripts) and the same per-process models (:func:`~vidpipe.pipeline.models.
asr_engine`). Here the results are the catalog rows: no job files are written
(:attr:`StageContext.write_artifacts <vidpipe.pipeline.stages.StageContext>` False;
describe's scenes go to ``VIDPIPE_HOME/understanding/<item>/``). Which steps exist,
their order, which need an audio track: the stage classes say
(:attr:`~vidpipe.pipeline.stages.Stage.media_step`, ``in_all``, ``needs_audio``).

Stages overlap: downloads run in an asyncio loop in a background thread (a sliding
window, :func:`vidpipe.library.download.download_all`) and hand finished files to the
main thread through a queue; the main thread hashes, probes and transcribes one item at
a time (transcription already uses every core). Each result is committed as soon as
the item's stage finishes, so a killed run loses at most the stage in progress. A
rerun skips every stage already done with the same options (``options_hash``);
``retry_failed`` retries failed sources.

Several runs may work on one catalog at once (two ``vidpipe run`` in two terminals,
on one machine or, with PostgreSQL, on several): each stage of each item is claimed
atomically (:meth:`Catalog.claim_stage`) by one run, which renews its lease while the
stage runs (a heartbeat thread, every quarter of :attr:`RunOptions.lease`). A run that
finds a stage held by another live run puts the item aside, goes on with other items
and comes back to it (waiting at the end if need be), so every stage is done once and
every run ends with the same states. A claim left by a killed run is taken over at
once on the same host (its process is gone) or when its lease expires.

Source states: ``done`` (every requested step succeeded, or was skipped because the
file has no audio track: ``reason`` then says ``audio, transcribe: skipped: no audio
track``), ``failed`` (``reason`` says which step and why), ``skipped`` (duplicate URL,
duplicate content, already present). Duplicate content never deletes a file: both stay
on disk and the later input line is the one skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidpipe.config import get_settings
from vidpipe.errors import InputError, UsageError, VidpipeError
from vidpipe.files import check_readable_file, ensure_dir, sha256_file
from vidpipe.library.catalog import LEASE_SECONDS, Catalog, StageLost, owner_id
from vidpipe.library.ingest import describe, record_by_content, register
from vidpipe.library.models import Source, utcnow
from vidpipe.library.select import select_sources
from vidpipe.library.understanding import TextOptions
from vidpipe.library.urls import is_direct_media_url, redact_url, safe_filename, validate_url
from vidpipe.pipeline.embed import (
    EXPORT_SUFFIXES,
    EmbedOptions,
    EmbedSummary,
    PcaOutcome,
    ProgressCallback,
    embed_items,
    export_embeddings,
    fit_collection_pca,
)
from vidpipe.pipeline.registry import STAGES, get_stage, has_no_audio, media_steps, run_stage
from vidpipe.pipeline.stages import NO_AUDIO, StageContext, StageInput, StageInputs, StageSkipped
from vidpipe.pipeline.transcribe import PACK_GROUP

#: the stages run on each item after ``ingest``, in pipeline order (from the registry)
CPU_STAGES = media_steps()
STEPS = ("ingest", *CPU_STAGES)
#: steps that ``all`` selects (the understanding steps are named explicitly)
DEFAULT_ALL = ("ingest", *(s for s in CPU_STAGES if STAGES[s].in_all))
#: steps that need an audio track: ``skipped: no audio track`` on a silent file
AUDIO_STAGES = tuple(s for s in CPU_STAGES if STAGES[s].needs_audio)


def parse_steps(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"ingest,probe"`` → ``("ingest", "probe")`` in pipeline order.

    Raises:
        UsageError: an unknown step name.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
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
    """What to run and how. ``model``/``language`` default to the settings."""

    steps: tuple[str, ...] = STEPS
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
    #: seconds a stage claim lasts without renewal (renewed every quarter of it)
    lease: float = LEASE_SECONDS
    #: seconds between looks at an item another run is working on
    wait_poll: float = 0.5
    #: how JSON/JSONL/CSV source lists are read (vidpipe.library.ingest.RecordOptions)
    records: Any = None
    #: the embed step's encoder and pooling (vidpipe.pipeline.embed.EmbedOptions fields)
    embed_model: str = "whisper"
    embed_pool: str = "mean"

    def text_options(self):
        return TextOptions(
            backend=self.text_backend,
            llm_base=self.llm_base,
            llm_model=self.llm_model,
            max_chunk=self.max_chunk,
            language=self.language,
            zh_script=self.zh_script,
        )

    def transcribe_options(self) -> dict[str, Any]:
        return {
            "model": self.model or get_settings().model,
            "language": (self.language or "auto").lower(),
            "task": "transcribe",
            "word_timestamps": self.word_timestamps,
            "beam_size": self.beam_size,
            "zh_script": self.zh_script or get_settings().zh_script,
        }

    def stage_params(self) -> dict[str, dict[str, Any]]:
        """The params of every media step (:data:`CPU_STAGES`) for these options: what
        ``vidpipe run`` parses with each stage's ``Options`` and ``vidpipe submit``
        stores on its jobs, so both have the same options and hashes."""
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
        }
        return {s: params.get(s, {}) for s in CPU_STAGES}

    def download_params(self) -> dict[str, Any]:
        """The ``download`` stage's params: ``limits`` and ``dest`` as options."""
        return STAGES["download"].Options.from_limits(self.limits, self.dest)


@dataclass
class RunSummary:
    """Counts of one run. ``ran`` counts stages actually executed (0 on a no-op rerun)."""

    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0
    no_audio: int = 0  # done items whose audio steps were skipped (no audio track)
    ran: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))
    failures: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)


class Display:
    """Progress hooks; the base class shows nothing."""

    def start(self, total: int, downloads: int) -> None: ...

    def stage(self, stage: str, name: str | None) -> None: ...

    def stage_progress(self, stage: str, done: float, total: float) -> None: ...

    def advance(self, stage: str) -> None: ...

    def item_done(self, src: Source, state: str, reason: str | None) -> None: ...

    def stop(self) -> None: ...


class RichDisplay(Display):
    """One Rich display: an overall bar and one bar per stage."""

    def __init__(self, console, steps: Sequence[str], disable: bool = False) -> None:
        # imported here for start-up time: Rich
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console
        self.steps = [("download" if s == "ingest" else s) for s in steps]
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<28}", markup=False),  # names are not markup
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=disable,
        )
        self.tasks: dict[str, Any] = {}
        self.names: dict[str, str] = {}

    def start(self, total: int, downloads: int) -> None:
        self.progress.start()
        self.tasks["overall"] = self.progress.add_task("all items", total=total)
        for s in self.steps:
            if s == "download" and not downloads:
                continue
            self.tasks[s] = self.progress.add_task(s, total=downloads if s == "download" else total)

    def _key(self, stage: str) -> str:
        return "download" if stage == "ingest" else stage

    def stage(self, stage: str, name: str | None) -> None:
        key = self._key(stage)
        if key in self.tasks:
            label = f"{key}: {name}" if name else key
            self.progress.update(self.tasks[key], description=label[:28])

    def stage_progress(self, stage: str, done: float, total: float) -> None:
        pass

    def advance(self, stage: str) -> None:
        key = self._key(stage)
        if key in self.tasks:
            self.progress.advance(self.tasks[key])

    def item_done(self, src: Source, state: str, reason: str | None) -> None:
        self.progress.advance(self.tasks["overall"])
        if state == "failed" and not self.progress.disable:
            # imported here for start-up time: Rich
            from rich.text import Text

            # Text, not markup: a source or reason holding "[/x]" is printed as it is.
            self.progress.console.print(
                Text.assemble(("failed", "red"), f" {describe(src)}: {reason}"), highlight=False
            )

    def stop(self) -> None:
        for key in self.steps:
            if key in self.tasks:
                self.progress.update(self.tasks[key], description=key)
        self.progress.stop()


class _Downloader:
    """Downloads in an asyncio loop in a daemon thread; results go to ``out`` as they finish."""

    def __init__(self, items: list[tuple[int, str, Path]], limits, out: queue.Queue) -> None:
        self.items = items
        self.limits = limits
        self.out = out
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task | None = None
        self.thread = threading.Thread(target=self._main, daemon=True, name="vidpipe-downloads")

    def start(self) -> None:
        self.thread.start()

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:
            self.out.put(("download-crash", exc))

    async def _run(self) -> None:
        # imported here for start-up time: httpx
        from vidpipe.library.download import DownloadLimits, download_all, download_page

        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        limits = self.limits or DownloadLimits()
        direct = [i for i in self.items if is_direct_media_url(i[1])]
        pages = [i for i in self.items if not is_direct_media_url(i[1])]

        def on_result(result) -> None:
            self.out.put(("download", result))

        async def page(key: int, url: str, dest: Path) -> None:
            try:
                result = await download_page(url, dest.parent, key=key, limits=limits)
            except Exception as exc:
                result = exc
                self.out.put(("download-error", (key, exc)))
                return
            self.out.put(("download", result))

        jobs = []
        if direct:
            jobs.append(download_all(direct, limits, on_result=on_result))
        sem = asyncio.Semaphore(2)

        async def limited(item):
            async with sem:
                await page(*item)

        jobs.extend(limited(i) for i in pages)
        await asyncio.gather(*jobs)

    def stop(self) -> None:
        if self.loop is not None and self.task is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(5)


class _Heartbeat:
    """Renew a stage claim every ``lease / 4`` seconds in a daemon thread while a stage runs."""

    def __init__(self, catalog: Catalog, media_id: int, stage: str, owner: str, lease: float):
        self.args = (media_id, stage, owner, lease)
        self.catalog = catalog
        self.lease = lease
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name="vidpipe-lease")

    def _beat(self) -> None:
        while not self.stopped.wait(self.lease / 4):
            with contextlib.suppress(Exception):  # a missed beat: the next one retries
                self.catalog.renew_stage(*self.args)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(5)


class Runner:
    """Run the pipeline over sources. See the module doc.

    Args:
        catalog: an open catalog.
        options: steps, model, language, retry, download folder and limits.
        display: progress hooks (:class:`RichDisplay` on the command line).
    """

    def __init__(
        self, catalog: Catalog, options: RunOptions | None = None, display: Display | None = None
    ) -> None:
        self.catalog = catalog
        self.options = options or RunOptions()
        if self.options.text_backend != "extractive" and {"summarize", "chapters"} & set(
            self.options.steps
        ):
            self.options.text_options().get_backend()  # no endpoint: UsageError now, not per item
        self.display = display or Display()
        self.dest = Path(self.options.dest or Path(get_settings().home) / "media").expanduser()
        self.summary = RunSummary()
        self._home = Path(get_settings().home).expanduser()
        # each step's parsed options and cache hash, as a job of the same step has them
        # (a stage's hash includes those of the stages it builds on: a summary of
        # another transcript is another summary)
        self._options: dict[str, Any] = {}
        self._hashes: dict[str, str] = {}
        for step, params in self.options.stage_params().items():
            stage = get_stage(step)
            self._options[step] = stage.parse_options(params)
            self._hashes[step] = stage.options_hash(self._options[step], upstream=self._hashes)
        self._current: tuple[int, str] | None = None
        self._ids: set[int] = set()
        self.owner = owner_id()
        self._since = None  # when this run started (UTC): --retry-failed retries older failures
        self._deferred: list[tuple[float, Source]] = []  # (monotonic due time, source)
        self._advanced: dict[int, set[str]] = {}  # source id -> stage bars advanced
        # the run's local files in input order (whatever their state), whether each is
        # short enough to pack, and the transcripts made ahead (see _transcribe_ahead)
        self._local: list[Path] = []
        self._short: dict[Path, bool] = {}
        self._transcripts: dict[str, Any] = {}
        self._tried: set[Path] = set()

    # ------------------------------------------------------------------ planning

    def _work(self, inputs: Sequence[str]) -> list[Source]:
        cat = self.catalog
        sources = (
            register(cat, list(inputs), self.options.records).sources if inputs else cat.sources()
        )
        if not inputs and self.options.selection is not None and self.options.selection.active:
            sources, _chosen = select_sources(cat, sources, self.options.selection)
        seen: set[int] = set()
        work: list[Source] = []
        self._ids = {s.id for s in sources}
        local = (Path(s.uri).resolve() for s in sources if s.kind in ("file", "folder"))
        self._local = list(dict.fromkeys(local))  # packing groups come from this list
        for src in sources:
            if src.id in seen:
                continue
            seen.add(src.id)
            if src.state == "failed" and self.options.retry_failed:
                if src.reason and src.kind in ("url", "list-entry") and src.media_id is None:
                    # a malformed URL fails again at once; others are retried

                    try:
                        validate_url(src.uri)
                    except UsageError:
                        continue
                cat.set_source_state(src.id, "pending", None)
                src.state, src.reason = "pending", None
            if src.state in ("pending", "done"):
                work.append(src)
        return work

    # ------------------------------------------------------------------ running

    def run(self, inputs: Sequence[str] = ()) -> RunSummary:
        """Process ``inputs`` (or, with none, every source in the catalog).

        Returns the run's :class:`RunSummary` (states as recorded in the catalog at the end).
        """
        steps = self.options.steps
        self._since = utcnow()
        work = self._work(inputs)
        events: queue.Queue = queue.Queue()
        by_id = {s.id: s for s in work}
        downloads: list[tuple[int, str, Path]] = []
        ready: list[tuple[Source, Path | None]] = []
        for src in work:
            if src.media_id is not None:
                ready.append((src, None))
            elif "ingest" not in steps:
                continue  # nothing to do without ingesting it first
            elif src.kind in ("url", "list-entry"):
                # a file already there (a killed run's, or a user's) is adopted only when
                # the download verifies it against the server's length (download_all)
                downloads.append((src.id, src.uri, self.dest / safe_filename(src.uri)))
            else:
                ready.append((src, Path(src.uri)))
        by_id = {s.id: s for s, _ in ready} | {d[0]: by_id[d[0]] for d in downloads}
        self.summary.total = len(by_id)
        self.display.start(len(by_id), len(downloads))
        for src, path in ready:
            events.put(("ready", (src, path)))
        downloader = None
        if downloads:
            ensure_dir(self.dest)  # OutputError (exit 7) naming --dest, before any download
            downloader = _Downloader(downloads, self.options.limits, events)
            downloader.start()
        outstanding = len(by_id)
        try:
            while outstanding > 0:
                if self._deferred and self._deferred[0][0] <= time.monotonic() and events.empty():
                    _, src = self._deferred.pop(0)
                    if self._process(src, None):
                        outstanding -= 1
                    continue
                wait = 0.25
                if self._deferred:
                    wait = min(wait, max(0.01, self._deferred[0][0] - time.monotonic()))
                try:
                    kind, payload = events.get(timeout=wait)
                except queue.Empty:
                    continue
                if kind == "ready":
                    src, path = payload
                    if self._process(src, path):
                        outstanding -= 1
                elif kind == "download":
                    result = payload
                    src = by_id[int(result.key)]
                    self.summary.ran["ingest"] += 1
                    self.display.advance("ingest")
                    if result.status == "done":
                        if self._process(src, Path(result.path), sha256=result.sha256):
                            outstanding -= 1
                    else:
                        reason = result.reason or result.error or "download failed"
                        self._fail_source(src, "download", result.error or "DownloadError", reason)
                        outstanding -= 1
                elif kind == "download-error":
                    key, exc = payload
                    self.display.advance("ingest")
                    self._fail_source(by_id[key], "download", type(exc).__name__, _one_line(exc))
                    outstanding -= 1
                elif kind == "download-crash":
                    raise payload
        except BaseException:
            if self._current is not None:  # an interrupted stage is neither done nor failed
                with contextlib.suppress(Exception):  # (only our own claim is dropped)
                    self.catalog.forget_stage(*self._current, owner=self.owner)
            raise
        finally:
            if downloader is not None:
                downloader.stop()
            self.display.stop()
        final = {s.id: (s.state, s.reason) for s in self.catalog.sources() if s.id in self._ids}
        self.summary.total = len(final)
        for state in ("done", "failed", "skipped", "pending"):
            setattr(self.summary, state, sum(1 for v in final.values() if v[0] == state))
        self.summary.no_audio = sum(
            1 for st, why in final.values() if st == "done" and (why or "").endswith(NO_AUDIO)
        )
        return self.summary

    def _count(self, state: str) -> None:
        setattr(self.summary, state, getattr(self.summary, state) + 1)

    def _fail_source(self, src: Source, stage: str, error_class: str, message: str) -> None:
        message = " ".join(str(message).split())
        self._advance_rest(src)
        reason = f"{stage}: {message}"
        self.catalog.record_failure(
            stage, error_class, message, source_id=src.id, media_id=src.media_id
        )
        self.catalog.set_source_state(src.id, "failed", reason)
        self._count("failed")
        self.summary.failures.append((describe(src), reason))
        self.display.item_done(src, "failed", reason)

    def _advance(self, src: Source, stage: str) -> None:
        done = self._advanced.setdefault(src.id, set())
        if stage not in done:
            done.add(stage)
            self.display.advance(stage)

    def _advance_rest(self, src: Source) -> None:
        for st in CPU_STAGES:
            if st in self.options.steps:
                self._advance(src, st)

    def _defer(self, src: Source) -> bool:
        """Come back to ``src`` later: another run holds one of its stages."""
        self._deferred.append((time.monotonic() + self.options.wait_poll, src))
        return False

    def _process(self, src: Source, path: Path | None, sha256: str | None = None) -> bool:
        """Ingest ``src`` (if not yet) and run its stages; False if put aside for later."""
        cat = self.catalog
        steps = self.options.steps
        media = cat.get_media(src.media_id) if src.media_id is not None else None
        if media is None:
            # ingest: hash the file (local or downloaded) and record it by content
            self.display.stage("ingest", Path(path).name)
            try:
                check_readable_file(path)  # missing, a folder, unreadable: one clear line
                digest = sha256 or sha256_file(path)
                size = path.stat().st_size
            except InputError as exc:
                self._fail_source(src, "ingest", "InputError", exc.one_line())
                return True
            except OSError as exc:
                self._fail_source(src, "ingest", "InputError", _one_line(exc))
                return True
            # downloads finish in any order: the first line of the input keeps the
            # content and later lines become its duplicates, whatever the timing; both
            # files stay on disk (vidpipe never deletes a file it may not have created)
            media, duplicate = record_by_content(cat, src, path, digest, size)
            if duplicate is not None:
                self._advance_rest(src)
                self._count("skipped")
                self.display.item_done(src, "skipped", duplicate)
                return True
            if src.kind not in ("url", "list-entry"):
                self.summary.ran["ingest"] += 1
        no_audio = False  # the file has no audio track (probe found none, or a step said so)
        skipped: list[str] = []  # audio steps skipped for that
        for stage in CPU_STAGES:
            if stage not in steps:
                continue
            if stage in AUDIO_STAGES and not no_audio:
                no_audio = has_no_audio(cat.get_media(media.id))
            claim = cat.claim_stage(
                media.id,
                stage,
                self._hashes[stage],
                self.owner,
                lease=self.options.lease,
                retry_failed_before=self._since if self.options.retry_failed else None,
            )
            if claim.status in ("done", "skipped"):
                if claim.status == "skipped" and stage in AUDIO_STAGES:
                    no_audio = True
                    skipped.append(stage)
                self._advance(src, stage)
                continue
            if claim.status == "busy":  # another run is on it: come back later
                return self._defer(src)
            if claim.status == "failed":  # failed in another run: the same outcome, once
                reason = f"{stage}: {claim.error}"
                cat.set_source_state(src.id, "failed", reason, media_id=media.id)
                self._advance_rest(src)
                self._count("failed")
                self.summary.failures.append((describe(src), reason))
                self.display.item_done(src, "failed", reason)
                return True
            if stage in AUDIO_STAGES and no_audio:
                cat.finish_stage(media.id, stage, NO_AUDIO, owner=self.owner, status="skipped")
                skipped.append(stage)
                self._advance(src, stage)
                continue
            self.display.stage(stage, Path(media.path).name)
            self._current = (media.id, stage)
            self.summary.ran[stage] += 1
            try:
                with _Heartbeat(cat, media.id, stage, self.owner, self.options.lease):
                    self._run_stage(stage, media.id)
            except StageLost:  # our lease expired and another run took the stage over
                self._current = None
                return self._defer(src)
            except StageSkipped as exc:  # a stage that needs audio, on a file without
                self._current = None
                cat.finish_stage(media.id, stage, exc.reason, owner=self.owner, status="skipped")
                no_audio = no_audio or exc.reason == NO_AUDIO
                skipped.append(stage)
                self._advance(src, stage)
                continue
            except VidpipeError as exc:
                self._current = None
                cat.finish_stage(media.id, stage, exc.one_line(), owner=self.owner)
                self._fail_source(src, stage, type(exc).__name__, exc.one_line())
                return True
            except Exception as exc:
                self._current = None
                msg = f"{type(exc).__name__}: {_one_line(exc)}"
                cat.finish_stage(media.id, stage, msg, owner=self.owner)
                self._fail_source(src, stage, type(exc).__name__, msg)
                return True
            self._current = None
            cat.finish_stage(media.id, stage, owner=self.owner)
            self._advance(src, stage)
        reason = f"{', '.join(skipped)}: skipped: {NO_AUDIO}" if skipped else None
        if src.state != "done" or src.reason != reason:
            cat.set_source_state(src.id, "done", reason, media_id=media.id)
            src.state, src.reason = "done", reason
        self._count("done")
        self.display.item_done(src, "done", reason)
        return True

    def _run_stage(self, stage: str, media_id: int) -> None:
        """Run the registry's ``stage`` on item ``media_id``, as a job would (same
        options, same cache hash); results go to the catalog, progress to the display."""

        def progress(fraction: float, _step: str | None) -> None:
            self.display.stage_progress(stage, fraction, 1.0)

        if stage == "transcribe":
            self._transcribe_ahead(media_id)
        ctx = StageContext(
            work_dir=self._home / "understanding" / str(media_id),
            catalog=self.catalog,
            threads=self.options.threads,
            on_progress=progress,
            write_artifacts=False,
            stage_owner=self.owner,
            transcripts=self._transcripts,
        )
        inputs = StageInputs(StageInput(media_id=media_id))
        run_stage(get_stage(stage), ctx, inputs, self._options[stage])

    def _transcribe_ahead(self, media_id: int) -> None:
        """Before item ``media_id``'s transcribe stage: when its file is a short local
        file, transcribe its whole packing group at once, so their clips share Whisper
        windows. The transcripts wait in memory for each item's own stage, which records
        it under its own claim; a group is transcribed once per run, and a file that
        fails in it is left to its own stage.

        The groups depend only on the run's input list: its local files (``file`` and
        ``folder`` sources, whatever their state) in input order, those of at most
        :data:`~vidpipe.speech.transcribe.HOLD_SECONDS` (by :func:`~vidpipe.media.probe.
        probe`) cut into consecutive groups of :data:`~vidpipe.pipeline.transcribe.
        PACK_GROUP`. A resumed run re-forms the same groups, a group's items already
        transcribed included, so every file gets the transcript an uninterrupted run
        gives it. Downloads are transcribed alone (they arrive in any order).
        """
        media = self.catalog.get_media(media_id)
        if media is None or not media.path:
            return
        key = Path(media.path).resolve()
        if str(key) in self._transcripts or key in self._tried or key not in self._local:
            return
        if not self._is_short(key):
            return
        group: list[Path] = []
        for path in self._local:
            if self._is_short(path):
                group.append(path)
            if len(group) == PACK_GROUP or path == self._local[-1]:
                if key in group:
                    break
                group = []
        self._tried.update(group)
        if len(group) < 2:
            return
        try:
            made = get_stage("transcribe").ahead(
                group, self._options["transcribe"], self.options.threads
            )
        except VidpipeError:  # the stage itself will say what is wrong
            return
        self._transcripts.update(made)

    def _is_short(self, path: Path) -> bool:
        """Whether the local file ``path`` may be packed: probed (once per run), and at
        most :data:`~vidpipe.speech.transcribe.HOLD_SECONDS` long. Always by probe, not
        by the catalog's duration (the ``audio`` step records the decoded audio's), so
        the answer is the same in every run."""
        # imported here for start-up time: PyAV, NumPy, ASR/TTS engines
        from vidpipe.media.probe import probe
        from vidpipe.speech.transcribe import HOLD_SECONDS

        if path not in self._short:
            try:
                seconds = probe(path).duration
            except VidpipeError:
                seconds = None
            self._short[path] = seconds is not None and 0 < seconds <= HOLD_SECONDS
        return self._short[path]


def _one_line(exc: BaseException) -> str:
    """One line for a stage's error, with any password in a URL shown as ``***``."""
    if isinstance(exc, VidpipeError):
        return redact_url(exc.one_line())
    text = " ".join(str(exc).split())
    return redact_url(text) if text else type(exc).__name__


def run(
    inputs: Sequence[str],
    catalog: Catalog | None = None,
    options: RunOptions | None = None,
    display: Display | None = None,
) -> RunSummary:
    """Convenience wrapper: open the default catalog if none is given and run."""
    own = catalog is None
    cat = catalog or Catalog()
    try:
        return Runner(cat, options, display).run(inputs)
    finally:
        if own:
            cat.close()


__all__ = [
    "STEPS",
    "Display",
    "EmbedRun",
    "RichDisplay",
    "RunOptions",
    "RunSummary",
    "Runner",
    "embed_sources",
    "parse_steps",
    "run",
]


# --------------------------------------------------------------------------- vidpipe embed


@dataclass
class EmbedRun:
    """What :func:`embed_sources` did: the embedding summary, the PCA outcome (when
    asked), the files written, and the inputs that have no media item (with why)."""

    summary: EmbedSummary
    pca: PcaOutcome | None = None
    written: list[Path] = field(default_factory=list)
    not_embedded: list[tuple[str, str]] = field(default_factory=list)


def embed_sources(
    catalog,
    sources: Sequence[str] = (),
    *,
    all_items: bool = False,
    options: EmbedOptions | None = None,
    fit_pca: int | None = None,
    output: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> EmbedRun:
    """``vidpipe embed``: embed items, then optionally fit the PCA and export.

    Args:
        catalog: an open catalog.
        sources: item ids (digits), media files, folders, link or record lists, URLs
            (files and URLs are ingested first, as ``vidpipe ingest`` does).
        all_items: every media item of the catalog instead.
        options: encoder and pooling.
        fit_pca: fit a PCA to this many dimensions on every stored vector of the
            options afterwards (fewer items: a note, raw vectors kept).
        output: export every vector of the options to this file afterwards
            (:func:`export_embeddings`).
        threads: encoder CPU threads.
        progress: ``progress(items_done, items_total)``.

    Raises:
        UsageError: no sources and no ``all_items``, or both; bad options.
        InputError: an item id not in the catalog, a missing path.
        ModelError: the encoder cannot be loaded.
    """
    options = options or EmbedOptions()
    if bool(sources) == bool(all_items):
        raise UsageError(
            "give SOURCES or --all" if not sources else "give SOURCES or --all, not both",
            "e.g. vidpipe embed --all, or vidpipe embed 3 7 talk.mp4",
        )
    if output is not None and Path(output).suffix.lower() not in EXPORT_SUFFIXES:
        export_embeddings(catalog, output, options)  # raises the UsageError up front
    run = EmbedRun(summary=EmbedSummary(key=options.key(), encoder=options.model))
    if all_items:
        ids = [m.id for m in catalog.all_media()]
    else:
        ids = []
        for s in sources:
            if str(s).isdigit():
                if catalog.get_media(int(s)) is None:
                    raise InputError(f"no item with id {s} in the catalog", "see vidpipe report")
                ids.append(int(s))
        paths = [str(s) for s in sources if not str(s).isdigit()]
        if paths:
            Runner(catalog, RunOptions(steps=("ingest",))).run(paths)
            for src in register(catalog, paths).sources:
                if src.media_id is not None and src.state != "failed":
                    ids.append(src.media_id)
                else:
                    run.not_embedded.append((describe(src), src.reason or src.state))
    run.summary = embed_items(catalog, ids, options, threads=threads, progress=progress)
    if fit_pca is not None:
        run.pca = fit_collection_pca(catalog, options, fit_pca)
    if output is not None:
        run.written = export_embeddings(catalog, output, options)
    return run
