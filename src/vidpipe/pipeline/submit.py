"""``vidpipe submit``: the inputs and steps of ``vidpipe run`` turned into queued jobs.

Each input line (a URL, a line of a link list, a media file, every media file of a
folder) is registered as a source exactly as ``vidpipe run`` does
(:func:`vidpipe.library.ingest.register`) and becomes one chain of dependent jobs in
pipeline order, each carrying the source's id:

- a URL not downloaded yet: ``download -> probe -> audio -> transcribe -> ...``; the
  ``download`` job (an I/O stage, with run's download limits and URL policy) records
  the file by content, and a file whose content an earlier line holds makes the
  source ``skipped: duplicate content of ...`` (the rest of its chain is skipped);
- a local file, or a URL downloaded before: recorded by content here (the ``ingest``
  step) and ``probe -> audio -> ...`` on its media item.

The steps' params are run's (:meth:`~vidpipe.pipeline.runner.RunOptions.stage_params`),
so a job and ``vidpipe run`` have the same options and cache hashes. The first job of
each chain is queued and a message sent (:func:`vidpipe.pipeline.queue.enqueue`); the
workers queue the rest as their dependencies succeed. When a chain ends its source
row becomes ``done``, ``failed`` (``<stage>: <reason>``) or ``skipped`` as run would
leave it (:mod:`vidpipe.pipeline.chains`), so ``vidpipe report`` shows the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from vidpipe.errors import UsageError, VidpipeError
from vidpipe.files import check_readable_file, sha256_file
from vidpipe.library.ingest import describe, looks_like_url, record_by_content, register
from vidpipe.library.models import JOB_FINAL, JobRow, Source
from vidpipe.library.urls import validate_url
from vidpipe.pipeline.jobs import DEFAULT_MAX_ATTEMPTS, JobStore
from vidpipe.pipeline.queue import check_queue, enqueue
from vidpipe.pipeline.registry import get_stage
from vidpipe.pipeline.runner import CPU_STAGES, RunOptions
from vidpipe.types import Job

__all__ = ["Chain", "Submission", "job_steps", "submit", "submit_embed", "wait_for"]

#: the ``vidpipe run`` steps that become jobs on a media item, in pipeline order (the
#: ``ingest`` step is a ``download`` job for a URL, done at submit for a local file)
JOB_STEPS = CPU_STAGES


@dataclass
class Chain:
    """One input line's jobs, in pipeline order (empty when it was skipped or failed:
    ``state`` and ``reason`` say why, or when ``ingest`` was its only step)."""

    source: Source
    name: str
    media_id: int | None = None
    jobs: list[Job] = field(default_factory=list)
    state: str = "submitted"  # submitted | done | skipped | failed
    reason: str | None = None


@dataclass
class Submission:
    """What :func:`submit` did, chains in input order."""

    chains: list[Chain]

    @property
    def job_ids(self) -> list[str]:
        return [j.id for c in self.chains for j in c.jobs]

    @property
    def failed(self) -> int:
        return sum(1 for c in self.chains if c.state == "failed")


def job_steps(options: RunOptions) -> dict[str, dict[str, Any]]:
    """The stage params of each media step in ``options.steps``, in pipeline order (the
    same options as ``run``: :meth:`RunOptions.stage_params`).

    Raises:
        UsageError: no step at all that runs as a job (neither ``ingest`` nor a media
            step).
    """
    params = options.stage_params()
    steps = {s: params[s] for s in JOB_STEPS if s in options.steps}
    if not steps and "ingest" not in options.steps:
        raise UsageError("no job step in --steps", f"add one of ingest,{','.join(JOB_STEPS)}")
    return steps


def _ingest(store: JobStore, src: Source) -> tuple[int | None, str | None, str | None]:
    """``(media_id, state, reason)`` for ``src`` at submit: a local file is recorded by
    content (``media_id``, or ``skipped``/``failed`` with the reason); a URL not
    downloaded yet has no item (``(None, None, None)``: its chain starts with a
    ``download`` job)."""
    cat = store.catalog
    if src.media_id is not None:
        return src.media_id, None, None
    if src.kind not in ("file", "folder"):
        return None, None, None
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
        return None, "failed", reason
    media, duplicate = record_by_content(cat, src, path, digest, size)
    if duplicate is not None:
        return media.id, "skipped", duplicate
    return media.id, None, None


def submit(
    store: JobStore,
    inputs: Sequence[str],
    options: RunOptions,
    *,
    url: str | None = None,
    max_attempts: int | None = None,
) -> Submission:
    """Turn ``inputs`` into one chain of jobs per input line and enqueue the first ones.

    Args:
        store: the jobs' store (its catalog holds the sources and media items).
        inputs: URLs, link lists, media files or folders (as ``vidpipe run`` takes them).
        options: the steps, stage options, download folder and limits
            (:class:`~vidpipe.pipeline.runner.RunOptions`).
        url: the queue (default :func:`vidpipe.pipeline.queue.queue_url`).
        max_attempts: runs allowed per job (default
            :data:`~vidpipe.pipeline.jobs.DEFAULT_MAX_ATTEMPTS`).

    Returns:
        The :class:`Submission`, chains in input order.

    Raises:
        UsageError: no sources, no job step, bad stage options, a bad queue URL.
        InputError: a missing path (nothing is recorded).
        RemoteError: the queue server does not answer (checked before any job is made).
    """
    if not inputs:
        raise UsageError("no sources given", "pass media files, folders or a links .txt file")
    steps = job_steps(options)
    download = options.download_params()
    get_stage("download").parse_options(download)  # refuse bad options before recording
    for kind, params in steps.items():
        get_stage(kind).parse_options(params)
    check_queue(url)
    sources = register(store.catalog, list(inputs), options.records).sources
    chains: list[Chain] = []
    first: list[Job] = []
    attempts = max_attempts or DEFAULT_MAX_ATTEMPTS
    done: set[int] = set()
    for src in sources:
        chain = Chain(source=src, name=describe(src))
        chains.append(chain)
        if src.id in done or (src.state in ("failed", "skipped") and src.media_id is None):
            chain.state, chain.reason = src.state, src.reason
            continue
        done.add(src.id)
        mid, state, reason = _ingest(store, src)
        chain.media_id = mid
        if state is not None:
            chain.state, chain.reason = state, reason
            continue
        plan: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        if mid is None:  # a URL: downloaded by a job, which records the item
            plan.append(("download", download, {"url": src.uri, "source_id": src.id}))
        for kind, params in steps.items():
            given = {"source_id": src.id} | ({"media_id": mid} if mid is not None else {})
            plan.append((kind, params, given))
        if not plan:  # `--steps ingest` on a local file: recorded, nothing else to do
            store.catalog.set_source_state(src.id, "done", None, media_id=mid)
            chain.state = "done"
            continue
        if src.state != "pending":  # submitted again: its chain decides its state anew
            store.catalog.set_source_state(src.id, "pending", None, media_id=mid)
        prev: Job | None = None
        for kind, params, given in plan:
            job = store.create(
                kind,
                params,
                input=given,
                depends_on=[prev.id] if prev is not None else [],
                max_attempts=attempts,
            )
            chain.jobs.append(job)
            prev = job
        first.append(chain.jobs[0])
    enqueue(first, url=url)
    return Submission(chains)


def submit_embed(
    store: JobStore,
    item: str,
    embed: dict[str, Any],
    download: dict[str, Any] | None = None,
    *,
    max_attempts: int | None = None,
) -> tuple[Job | None, Job]:
    """The jobs that embed one URL or file (``/encode_audio``): for a URL, a ``download``
    job (``download`` params) then an ``embed`` job on the item it records; for a file,
    an ``embed`` job on it (the item recorded by content). Nothing is enqueued here.

    A URL is one catalog source (found again when the same URL comes back), so the
    download's end is recorded as ``vidpipe submit`` records it: the source ``done``
    with its item, or ``failed`` with ``download: <reason>`` and a row in the catalog's
    failures (:func:`~vidpipe.pipeline.chains.settle_source`). A URL whose item is
    already in the catalog (file present) is not downloaded again; a download of it
    still running is shared, not started twice. The ``embed`` job is outside the
    source's chain: content that another source holds (``duplicate content of ...``)
    is embedded all the same, on that item.

    Args:
        store: the jobs' store.
        item: an http(s) URL, or a server file path.
        embed: the ``embed`` stage's params (:class:`~vidpipe.pipeline.embed.EmbedOptions`).
        download: the ``download`` stage's params (limits, URL policy).
        max_attempts: runs allowed per job.

    Returns:
        ``(download job or None, embed job)``.

    Raises:
        UsageError: bad params, a malformed URL.
    """
    attempts = max_attempts or DEFAULT_MAX_ATTEMPTS
    if not looks_like_url(item):
        return None, store.create("embed", embed, input={"path": item}, max_attempts=attempts)
    uri = validate_url(item)
    cat = store.catalog
    with cat.lock("register"):
        src = cat.find_source(uri) or cat.add_source(uri, "url")
        media = cat.get_media(src.media_id) if src.media_id is not None else None
        if media is not None and Path(media.path).is_file():
            job = store.create("embed", embed, input={"media_id": media.id}, max_attempts=attempts)
            return None, job
        with cat.session(write=False) as s:
            running = s.scalars(
                select(JobRow.id)
                .where(JobRow.source_id == src.id, JobRow.kind == "download")
                .where(JobRow.status.in_(("waiting", "queued", "running")))
                .order_by(JobRow.created_at)
                .limit(1)
            ).first()
        if running is not None:
            down = store.get(running)
        else:
            if src.state != "pending":  # asked again after a failure: its chain decides anew
                cat.set_source_state(src.id, "pending", None)
            down = store.create(
                "download",
                download or {},
                input={"url": uri, "source_id": src.id},
                max_attempts=attempts,
            )
    job = store.create("embed", embed, depends_on=[down.id], max_attempts=attempts)
    return down, job


def wait_for(
    store: JobStore,
    job_ids: Sequence[str],
    *,
    poll: float = 0.5,
    on_update: Callable[[list[Job]], None] | None = None,
    timeout: float | None = None,
) -> list[Job]:
    """Poll the jobs table until every job of ``job_ids`` is finished (succeeded, failed
    or canceled).

    Args:
        store: the jobs' store.
        job_ids: the jobs to wait for.
        poll: seconds between two looks.
        on_update: called with the jobs (in ``job_ids`` order) after each look.
        timeout: give up after this many seconds (``None``: wait as long as it takes).

    Returns:
        The jobs as they are at the end, in ``job_ids`` order (some unfinished when the
        timeout ran out).
    """
    start = time.monotonic()
    while True:
        jobs = store.get_many(list(job_ids))
        if on_update is not None:
            on_update(jobs)
        if all(j.status in JOB_FINAL for j in jobs):
            return jobs
        if timeout is not None and time.monotonic() - start >= timeout:
            return jobs
        time.sleep(poll)
