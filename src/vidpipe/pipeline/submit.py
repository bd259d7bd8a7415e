"""``vidpipe submit``: the inputs and steps of ``vidpipe run`` turned into queued jobs.

Each input line becomes one chain of dependent jobs in pipeline order, made exactly as
``vidpipe run`` makes them (:func:`vidpipe.pipeline.plan.plan_chains`: the same
sources, options, hashes and packing groups); ``run`` executes its chains with an
in-process worker, ``submit`` queues them for the workers. The first job of each chain
is queued and a message sent (:func:`vidpipe.pipeline.queue.enqueue`); the workers
queue the rest as their dependencies succeed. When a chain ends its source row becomes
``done``, ``failed`` (``<stage>: <reason>``) or ``skipped``
(:mod:`vidpipe.pipeline.chains`), so ``vidpipe report`` shows the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from vidpipe.errors import UsageError
from vidpipe.library.ingest import looks_like_url
from vidpipe.library.models import JOB_FINAL, JobRow
from vidpipe.library.urls import validate_url
from vidpipe.pipeline.jobs import DEFAULT_MAX_ATTEMPTS, JobStore
from vidpipe.pipeline.plan import Chain, RunOptions, Submission, job_steps, plan_chains
from vidpipe.pipeline.queue import check_queue, enqueue
from vidpipe.pipeline.registry import get_stage
from vidpipe.types import Job

__all__ = ["Chain", "Submission", "job_steps", "submit", "submit_embed", "wait_for"]


def submit(
    store: JobStore,
    inputs: Sequence[str],
    options: RunOptions,
    *,
    url: str | None = None,
    max_attempts: int | None = None,
) -> Submission:
    """Turn ``inputs`` into one chain of jobs per input line
    (:func:`~vidpipe.pipeline.plan.plan_chains`) and enqueue the first ones.

    Args:
        store: the jobs' store (its catalog holds the sources and media items).
        inputs: URLs, link lists, media files or folders (as ``vidpipe run`` takes them).
        options: the steps, stage options, download folder and limits
            (:class:`~vidpipe.pipeline.plan.RunOptions`).
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
    for kind, params in job_steps(options).items():
        get_stage(kind).parse_options(params)
    get_stage("download").parse_options(options.download_params())
    check_queue(url)
    sub = plan_chains(store, inputs, options, max_attempts=max_attempts)
    enqueue(sub.first_jobs(), url=url)
    return sub


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
