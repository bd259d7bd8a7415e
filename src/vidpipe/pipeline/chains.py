"""A submitted input line's chain of jobs, and the source row that follows it.

``vidpipe submit`` turns each input line (a catalog source) into one chain of
dependent jobs, ``download -> probe -> audio -> transcribe -> ...``, each carrying the
source's id in its input (``source_id``). When the chain ends, the source row ends the
way ``vidpipe run`` would have left it, so ``vidpipe report`` counts a submitted batch
as complete:

- every job succeeded: ``done``; when the stages that need an audio track were
  skipped on a file without one, the reason is run's ``audio, transcribe: skipped: no
  audio track``;
- a job failed or was canceled: ``failed``, reason ``<stage>: <message>`` naming the
  job that really failed (not a dependent failed with ``dependency <id> failed``),
  the same text as run (``download: HTTP 404 Not Found``, ``probe: ...``); the failure
  is recorded in the catalog's failures as run records it;
- the download found content an earlier line holds: ``skipped``, ``duplicate content
  of ...`` (set by the download itself, :func:`~vidpipe.library.ingest.record_by_content`).

A chain that runs again (``vidpipe jobs retry``) puts its source back to ``pending``.
:class:`~vidpipe.pipeline.jobs.JobStore` calls :func:`settle_source` whenever a job of
a chain ends, fails its dependents, or is retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from vidpipe.library.catalog import Catalog
from vidpipe.library.models import JOB_FINAL
from vidpipe.library.urls import redact_url
from vidpipe.pipeline.stages import NO_AUDIO
from vidpipe.types import Job

__all__ = ["DEPENDENCY_FAILED", "JobStore", "chain_of", "settle_source", "skip_reason"]

#: ``error_class`` of a job failed because a dependency failed or was canceled
DEPENDENCY_FAILED = "DependencyFailed"


class JobStore(Protocol):
    """What the chain functions read of a job store
    (:class:`vidpipe.pipeline.jobs.JobStore`)."""

    catalog: Catalog

    def get(self, job_id: str) -> Job: ...

    def get_many(self, job_ids: Sequence[str]) -> list[Job]: ...

    def dependents(self, job_id: str) -> list[Job]: ...


def _source_id(job: Job) -> int | None:
    sid = (job.input or {}).get("source_id")
    return sid if isinstance(sid, int) else None


def chain_of(store: JobStore, job: Job) -> list[Job]:
    """The jobs of ``job``'s chain (same ``source_id``), first to last, following
    ``depends_on`` up and the dependents down."""
    sid = _source_id(job)
    up: list[Job] = []
    cur = job
    while True:
        deps = [d for d in store.get_many(cur.depends_on) if _source_id(d) == sid]
        if not deps:
            break
        cur = deps[0]
        up.append(cur)
    chain = [*reversed(up), job]
    seen = {j.id for j in chain}
    cur = job
    while True:
        nxt = [d for d in store.dependents(cur.id) if _source_id(d) == sid and d.id not in seen]
        if not nxt:
            break
        cur = nxt[0]
        seen.add(cur.id)
        chain.append(cur)
    return chain


def _reason(job: Job) -> str:
    e = job.error
    text = (e.message if e else "") or job.status
    if e is not None and e.hint:
        text += f" ({e.hint})"
    return redact_url(" ".join(f"{job.kind}: {text}".split()))


def settle_source(store: JobStore, job_id: str) -> str | None:
    """Bring the source of job ``job_id``'s chain in line with the chain (see the module
    doc). Safe to call again: a source already in its final state is left as it is.

    Returns:
        The source's state, or ``None`` when the job belongs to no source.
    """
    job = store.get(job_id)
    sid = _source_id(job)
    if sid is None:
        return None
    cat = store.catalog
    src = cat.get_source(sid)
    if src is None:
        return None
    chain = chain_of(store, job)
    media_id = next(
        (
            j.result["media_id"]
            for j in chain
            if j.result and isinstance(j.result.get("media_id"), int)
        ),
        src.media_id,
    )
    if src.state == "skipped":
        return src.state  # a duplicate (of a URL or of content): nothing to follow
    if any(j.status not in JOB_FINAL for j in chain):
        if src.state != "pending":  # the chain runs again (a retry)
            cat.set_source_state(src.id, "pending", None, media_id=media_id)
        return "pending"
    bad = next(
        (
            j
            for j in chain
            if j.status in ("failed", "canceled")
            and (j.error is None or j.error.error_class != DEPENDENCY_FAILED)
        ),
        None,
    )
    if bad is None:
        bad = next((j for j in chain if j.status in ("failed", "canceled")), None)
    if bad is not None:
        reason = _reason(bad)
        if (src.state, src.reason) != ("failed", reason):
            error_class = bad.error.error_class if bad.error else "Canceled"
            message = reason.split(": ", 1)[1]
            cat.record_failure(bad.kind, error_class, message, source_id=src.id, media_id=media_id)
            cat.set_source_state(src.id, "failed", reason, media_id=media_id)
        return "failed"
    skips = [(j.kind, (j.result or {}).get("skipped")) for j in chain]
    duplicate = next((why for _, why in skips if why and why != NO_AUDIO), None)
    if duplicate is not None:
        cat.set_source_state(src.id, "skipped", duplicate, media_id=media_id)
        return "skipped"
    no_audio = [kind for kind, why in skips if why == NO_AUDIO]
    reason = f"{', '.join(no_audio)}: skipped: {NO_AUDIO}" if no_audio else None
    if (src.state, src.reason) != ("done", reason):
        cat.set_source_state(src.id, "done", reason, media_id=media_id)
    return "done"


def skip_reason(store: JobStore, job: Job, needs_audio: bool) -> str | None:
    """Why ``job`` has nothing to do before it runs, or ``None``: its source was found
    to duplicate an earlier line's content (``duplicate content of ...``), or a
    dependency was skipped for a reason that holds for it too: ``no audio track`` for a
    stage that needs audio (describe still runs), any other reason (a duplicate input
    line) for the jobs of the same chain only. A job outside the chain (no or another
    ``source_id``, e.g. the ``embed`` job of ``/encode_audio``) runs on the item the
    duplicate's content belongs to."""
    sid = _source_id(job)
    if sid is not None:
        src = store.catalog.get_source(sid)
        if src is not None and src.state == "skipped" and src.reason:
            return src.reason
    for dep in store.get_many(job.depends_on):
        why = (dep.result or {}).get("skipped")
        if not why:
            continue
        if why == NO_AUDIO:
            if needs_audio:
                return why
        elif _source_id(dep) == sid:
            return why
    return None
