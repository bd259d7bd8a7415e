"""``vidpipe submit``: the inputs and steps of ``vidpipe run`` turned into queued jobs.

Each input line (a media file, every media file of a folder, a URL already downloaded
by ``vidpipe ingest``) is registered as a source exactly as ``vidpipe run`` does
(:func:`vidpipe.library.ingest.register`), recorded by content as a media item (the
``ingest`` step, done here for local files), and becomes one chain of dependent jobs in
pipeline order, e.g. ``probe -> audio -> transcribe -> summarize``: each job depends on
the one before it and works on the media item. The first job of each chain is queued
and a message sent (:func:`vidpipe.pipeline.queue.enqueue`); the workers queue the rest
as their dependencies succeed.

Not done here yet: downloading URLs (a URL line that ``vidpipe ingest`` has not
downloaded is reported and skipped).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidpipe.errors import UsageError
from vidpipe.library.ingest import describe, register
from vidpipe.library.models import JOB_FINAL, Source
from vidpipe.library.runner import RunOptions
from vidpipe.pipeline.jobs import JobStore
from vidpipe.pipeline.queue import check_queue, enqueue
from vidpipe.types import Job

__all__ = ["Chain", "Submission", "job_steps", "submit", "wait_for"]

#: the ``vidpipe run`` steps that become jobs, in pipeline order (ingest is done at submit)
JOB_STEPS = ("probe", "audio", "transcribe", "summarize", "chapters", "describe", "embed")


@dataclass
class Chain:
    """One input line's jobs, in pipeline order (empty when it was skipped or failed:
    ``state`` and ``reason`` say why)."""

    source: Source
    name: str
    media_id: int | None = None
    jobs: list[Job] = field(default_factory=list)
    state: str = "submitted"  # submitted | skipped | failed
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
    """The stage params of each job step in ``options.steps`` (same options as ``run``).

    Raises:
        UsageError: no step that runs as a job (``--steps ingest`` alone).
    """
    steps = [s for s in JOB_STEPS if s in options.steps]
    if not steps:
        raise UsageError(
            "no job step in --steps", f"add one of {','.join(JOB_STEPS)}; ingest is done at submit"
        )
    text = {
        "backend": options.text_backend,
        "llm_base": options.llm_base,
        "llm_model": options.llm_model,
        "max_chunk": options.max_chunk,
        "language": options.language,
    }
    params: dict[str, dict[str, Any]] = {
        "probe": {},
        "audio": {},
        "transcribe": options.transcribe_options(),
        "summarize": text,
        "chapters": text,
        "describe": {"model": options.model, "language": options.language},
        "embed": options.embed_options().model_dump(mode="json"),
    }
    return {s: params[s] for s in steps}


def _ingest(store: JobStore, src: Source, seen: dict[int, str]) -> tuple[int | None, str | None]:
    """The media item of ``src`` (recording a local file by content); ``(None, reason)``
    when it has none (a URL not downloaded, a duplicate, an unreadable file)."""
    from vidpipe.errors import VidpipeError
    from vidpipe.files import check_readable_file, sha256_file

    cat = store.catalog
    mid = src.media_id
    if mid is None:
        if src.kind not in ("file", "folder"):
            return None, "not downloaded yet (run vidpipe ingest first)"
        path = Path(src.uri)
        try:
            check_readable_file(path)
            digest = sha256_file(path)
        except (VidpipeError, OSError) as exc:
            reason = exc.one_line() if isinstance(exc, VidpipeError) else str(exc)
            cat.set_source_state(src.id, "failed", f"ingest: {reason}")
            return None, reason
        media, _ = cat.add_media(path.resolve(), digest, path.stat().st_size)
        mid = media.id
        cat.set_source_state(
            src.id, src.state if src.state != "failed" else "pending", None, media_id=mid
        )
    if mid in seen:
        return None, f"duplicate content of {seen[mid]}"
    seen[mid] = describe(src)
    return mid, None


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
        inputs: media files, folders, link lists or URLs (as ``vidpipe run`` takes them).
        options: the steps and stage options (:class:`~vidpipe.library.runner.RunOptions`).
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
    from vidpipe.pipeline.jobs import DEFAULT_MAX_ATTEMPTS

    if not inputs:
        raise UsageError("no sources given", "pass media files, folders or a links .txt file")
    steps = job_steps(options)
    for kind, params in steps.items():  # refuse bad options before anything is recorded
        from vidpipe.pipeline.registry import get_stage

        get_stage(kind).parse_options(params)
    check_queue(url)
    sources = register(store.catalog, list(inputs), options.records).sources
    chains: list[Chain] = []
    seen: dict[int, str] = {}
    first: list[Job] = []
    for src in sources:
        chain = Chain(source=src, name=describe(src))
        chains.append(chain)
        if src.state in ("failed", "skipped") and src.media_id is None:
            chain.state, chain.reason = src.state, src.reason
            continue
        mid, reason = _ingest(store, src, seen)
        if mid is None:
            chain.state = "skipped" if reason and reason.startswith("duplicate") else "failed"
            chain.reason = reason
            continue
        chain.media_id = mid
        prev: Job | None = None
        for kind, params in steps.items():
            job = store.create(
                kind,
                params,
                input={"media_id": mid},
                depends_on=[prev.id] if prev is not None else [],
                max_attempts=max_attempts or DEFAULT_MAX_ATTEMPTS,
            )
            chain.jobs.append(job)
            prev = job
        first.append(chain.jobs[0])
    enqueue(first, url=url)
    return Submission(chains)


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
