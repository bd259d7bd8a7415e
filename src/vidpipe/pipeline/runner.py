"""``vidpipe run`` (and ``vidpipe ingest``): plan the input lines' chains of jobs and
run them in this process.

One engine: ``run`` makes the same chains ``vidpipe submit`` makes
(:func:`vidpipe.pipeline.plan.plan_chains`, with reuse: a step done before with the
same options is not made again, one another process runs is shared) and runs them
with an in-process worker (:class:`vidpipe.pipeline.engine.LocalWorker`) through the
same :func:`~vidpipe.pipeline.execute.run_job` queue workers call: same stages,
options, hashes, leases, retries, progress and cancel, and the same packing of short
files. Downloads run in threads beside the CPU stages. Its jobs write no job files:
the results are the catalog rows (describe's scenes go to
``<storage root>/understanding/<item>/``).

Each result is committed when its job ends, so a killed run loses at most the jobs in
progress; a rerun continues (its jobs are found again: those of a killed run are
taken back at once on the same host, or when their lease expires elsewhere) and skips
every step already done with the same options ("nothing to do"). Several runs may work
on one catalog at once (two terminals, or several machines on PostgreSQL): each step
of each item is done once. ``retry_failed`` retries failed sources.

Source states (:mod:`vidpipe.pipeline.chains`): ``done`` (every requested step
succeeded, or was skipped because the file has no audio track: ``reason`` then says
``audio, transcribe: skipped: no audio track``), ``failed`` (``reason`` says which
step and why), ``skipped`` (duplicate URL, duplicate content, already present).
Duplicate content never deletes a file: both stay on disk and the later input line is
the one skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidpipe.config import get_settings
from vidpipe.files import ensure_dir
from vidpipe.library.catalog import Catalog
from vidpipe.library.ingest import describe
from vidpipe.library.models import Source
from vidpipe.pipeline.chains import settle_source
from vidpipe.pipeline.engine import LocalWorker, WorkerEvents
from vidpipe.pipeline.jobs import JobStore
from vidpipe.pipeline.plan import (
    AUDIO_STAGES,
    CPU_STAGES,
    DEFAULT_ALL,
    STEPS,
    RunOptions,
    Submission,
    parse_steps,
    plan_chains,
)
from vidpipe.pipeline.stages import NO_AUDIO
from vidpipe.types import Job

__all__ = [
    "AUDIO_STAGES",
    "CPU_STAGES",
    "DEFAULT_ALL",
    "STEPS",
    "Display",
    "RichDisplay",
    "RunOptions",
    "RunSummary",
    "parse_steps",
    "run",
]


@dataclass
class RunSummary:
    """Counts of one run. ``ran`` counts stages this run executed (0 on a no-op
    rerun; ``ingest``: files hashed and recorded, downloads made)."""

    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0
    no_audio: int = 0  # done items whose audio steps were skipped (no audio track)
    ran: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))
    failures: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    #: the jobs of the run's chains (made by it, or shared with another run)
    job_ids: list[str] = field(default_factory=list)


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
        self.names[key] = name or ""
        if key in self.tasks:
            label = f"{key}: {name}" if name else key
            self.progress.update(self.tasks[key], description=label[:28])

    def stage_progress(self, stage: str, done: float, total: float) -> None:
        """The running job's share done, shown after its name (``transcribe: a.wav 42%``)."""
        key = self._key(stage)
        if key in self.tasks and total:
            name = self.names.get(key, "")
            pct = f" {min(100, int(100 * done / total))}%"
            label = (f"{key}: {name}" if name else key)[: 28 - len(pct)] + pct
            self.progress.update(self.tasks[key], description=label)

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


class _Progress:
    """Feeds a :class:`Display` from the worker's job events."""

    def __init__(self, store: JobStore, sub: Submission, display: Display, summary: RunSummary):
        self.store, self.display, self.summary = store, display, summary
        self.chain_of: dict[str, int] = {}
        self.left: dict[int, int] = {}
        self.chains = {}
        for n, chain in enumerate(sub.chains):
            self.chains[n] = chain
            self.left[n] = len(chain.jobs)
            for job in chain.jobs:
                self.chain_of[job.id] = n
        self.kinds: dict[str, str] = {}

    def start_items(self) -> None:
        for n, chain in self.chains.items():
            if not chain.jobs and chain.state != "pending":
                self._item_done(n)

    def started(self, job: Job) -> None:
        n = self.chain_of.get(job.id)
        name = self.chains[n].name if n is not None else None
        self.display.stage(job.kind, Path(name).name if name else None)
        self.kinds[job.id] = job.kind

    def progress(self, job_id: str, fraction: float, _step: str | None) -> None:
        kind = self.kinds.get(job_id)
        if kind is not None:
            self.display.stage_progress(kind, fraction, 1.0)

    def finished(self, job: Job, ran: bool) -> None:
        step = "ingest" if job.kind == "download" else job.kind
        if ran and step in self.summary.ran:
            self.summary.ran[step] += 1
        self.display.advance(step)
        n = self.chain_of.get(job.id)
        if n is None:
            return
        self.left[n] -= 1
        if self.left[n] == 0:
            self._item_done(n)

    def _item_done(self, n: int) -> None:
        chain = self.chains[n]
        if chain.jobs:
            # the job that ended settles its source right after its own row is written
            # (in the worker's thread): settle it here too, so the state shown is final
            settle_source(self.store, chain.jobs[-1].id)
        src = self.store.catalog.get_source(chain.source.id) or chain.source
        if src.state == "failed":
            self.summary.failures.append((describe(src), src.reason or "failed"))
        self.display.item_done(src, src.state, src.reason)


def run(
    inputs: Sequence[str],
    catalog: Catalog | None = None,
    options: RunOptions | None = None,
    display: Display | None = None,
) -> RunSummary:
    """Run the pipeline over ``inputs`` (or, with none, the catalog's sources): plan
    their chains of jobs and run them in this process (see the module doc).

    Args:
        inputs: URLs, link or record lists, media files, folders.
        catalog: an open catalog (default: the configured one, closed at the end).
        options: steps, stage options, retry, download folder and limits.
        display: progress hooks (:class:`RichDisplay` on the command line).

    Returns:
        The run's :class:`RunSummary` (states as recorded in the catalog at the end).

    Raises:
        UsageError: bad options (an unknown step, a text backend without endpoint).
        InputError: a missing input path.
        OutputError: the download folder cannot be made.
    """
    options = options or RunOptions()
    display = display or Display()
    own = catalog is None
    cat = catalog or Catalog()
    try:
        if options.text_backend != "extractive" and {"summarize", "chapters"} & set(options.steps):
            options.text_options().get_backend()  # no endpoint: UsageError now, not per item
        store = JobStore(cat)
        sub = plan_chains(store, inputs, options, reuse=True)
        summary = RunSummary()
        summary.ran["ingest"] += sub.ingested
        summary.job_ids = sub.job_ids
        downloads = sum(1 for c in sub.chains for j in c.jobs if j.kind == "download")
        if downloads:
            dest = Path(options.dest or Path(get_settings().home) / "media").expanduser()
            ensure_dir(dest)  # OutputError (exit 7) naming --dest, before any download
        items = [c for c in sub.chains if c.state != "pending" or c.jobs]
        display.start(len(items), downloads)
        progress = _Progress(store, sub, display, summary)
        progress.start_items()
        limits = options.limits
        worker = LocalWorker(
            store,
            threads=options.threads,
            io_concurrency=getattr(limits, "concurrency", 4) or 4,
            per_host=getattr(limits, "per_host", 2) or 2,
            lease=options.lease,
            poll=options.wait_poll,
            events=WorkerEvents(
                started=progress.started, finished=progress.finished, progress=progress.progress
            ),
        )
        try:
            worker.run(sub.job_ids)
        finally:
            display.stop()
        ids = {c.source.id for c in sub.chains}
        final = {s.id: (s.state, s.reason) for s in cat.sources() if s.id in ids}
        summary.total = len(final)
        for state in ("done", "failed", "skipped", "pending"):
            setattr(summary, state, sum(1 for v in final.values() if v[0] == state))
        summary.no_audio = sum(
            1 for st, why in final.values() if st == "done" and (why or "").endswith(NO_AUDIO)
        )
        return summary
    finally:
        if own:
            cat.close()
