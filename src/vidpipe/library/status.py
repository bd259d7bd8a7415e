"""An item's status, derived from its jobs (one truth for ``report``, ``/v1/items`` and the
web library).

Which jobs count for a media item: the jobs of the per-item steps (:data:`ITEM_STEPS`:
download, probe, audio, transcribe, summarize, chapters, describe, embed; ``topics``,
``speak``, ``images``, ``render`` and ``narrate`` make other things and do not count)
that name it: ``input.media_id``, ``result.media_id``, ``input.path`` (the item's file,
as an upload or a file given to a job is recorded by content), the ``source_id`` of a
source whose item it is, or, naming none of these, their first dependency that does
(the chains the web page makes: ``audio`` after ``probe``). Only the ``jobs`` and
``job_deps`` tables are read (this package never imports :mod:`vidpipe.pipeline`).

The latest job of each step counts (a skipped job does not hide an earlier job of its
step that ran: a duplicate input's skipped chain leaves its item as the first chain
made it). From those jobs:

============  ===========================================================================
status        when
============  ===========================================================================
``failed``    a job ``failed`` or ``canceled`` (not merely because a dependency failed,
              ``DependencyFailed``, unless nothing else failed); ``reason`` is
              ``"<step>: <message>"`` of the first such step, ``step`` that step
``running``   else a job is running
``pending``   else a job is ``waiting`` or ``queued``
``skipped``   else every job succeeded with nothing to do (``result.skipped``); ``reason``
              is the first step's (``duplicate content of ...``)
``done``      else; a step skipped on the way says why in ``reason``
              (``"audio, transcribe: skipped: no audio track"``)
============  ===========================================================================

Without any such job the state of the item's first input line (``sources.state``, set
by ``vidpipe run``: ``done``/``failed``/``skipped``/``pending``) is the status, with its
reason; with neither, the status is ``ingested``: the item is recorded in the catalog
(by content, e.g. ``vidpipe summarize FILE``) and nothing says what ran on it. An input
line ``vidpipe run`` left ``failed`` at a step no job ran keeps the item ``failed``
(:func:`with_source`).

Cost: four queries whatever the number of items (the per-item steps' jobs, the sources'
items, the items of the jobs' file paths, the dependencies of the jobs naming nothing).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidpipe.library.catalog import Catalog
from vidpipe.library.models import JobDepRow, JobRow, Media, Source
from vidpipe.library.urls import redact_url

__all__ = [
    "DEPENDENCY_FAILED",
    "ITEM_STATUSES",
    "ITEM_STEPS",
    "ItemStatus",
    "JobFact",
    "JobStatuses",
    "derive",
    "job_statuses",
    "step_of",
    "with_source",
]

#: the steps whose jobs make an item's status, in pipeline order (download, then the
#: stages with ``media_step`` in :mod:`vidpipe.pipeline.registry`)
ITEM_STEPS = (
    "download",
    "probe",
    "audio",
    "transcribe",
    "summarize",
    "chapters",
    "describe",
    "embed",
)
#: every status an item can have (see the module doc)
ITEM_STATUSES = ("pending", "running", "done", "failed", "skipped", "ingested")
#: ``error_class`` of a job failed because a dependency failed (as :mod:`vidpipe.pipeline.chains`)
DEPENDENCY_FAILED = "DependencyFailed"
_CHUNK = 500  # ids or paths per ``IN (...)``


@dataclass(frozen=True)
class JobFact:
    """The latest job of one step of an item: ``kind``, ``job_id``, ``status`` (the job's),
    ``reason`` (its error message, or why it was skipped; URL passwords ``***``),
    ``skipped`` (it succeeded with nothing to do)."""

    kind: str
    job_id: str
    status: str
    reason: str | None = None
    skipped: bool = False
    error_class: str | None = None
    created_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "job_id": self.job_id,
            "status": self.status,
            "reason": self.reason,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class ItemStatus:
    """An item's status (one of :data:`ITEM_STATUSES`), its ``reason`` (``"<step>:
    <message>"`` or None), the ``step`` that failed (or was skipped), what it was derived
    from (``basis``: ``jobs``, ``source`` or ``none``) and the latest job of each step."""

    status: str
    reason: str | None = None
    step: str | None = None
    basis: str = "none"
    jobs: tuple[JobFact, ...] = ()


def _order(kind: str) -> int:
    return ITEM_STEPS.index(kind) if kind in ITEM_STEPS else len(ITEM_STEPS)


def derive(facts: Iterable[JobFact]) -> ItemStatus:
    """The status the jobs ``facts`` give (every job of one item; the latest of each
    step counts, see the module doc). ``basis`` is ``jobs``; with no facts the status
    is ``ingested``."""
    latest: dict[str, JobFact] = {}
    for f in facts:
        have = latest.get(f.kind)
        if have is None:
            latest[f.kind] = f
            continue
        newer = (f.created_at or datetime.min) >= (have.created_at or datetime.min)
        if f.skipped and not have.skipped:
            continue  # a skip does not undo work done
        if newer or (have.skipped and not f.skipped):
            latest[f.kind] = f
    if not latest:
        return ItemStatus("ingested")
    jobs = tuple(sorted(latest.values(), key=lambda f: _order(f.kind)))
    bad = [f for f in jobs if f.status in ("failed", "canceled")]
    own = [f for f in bad if f.error_class != DEPENDENCY_FAILED]
    if bad:
        f = (own or bad)[0]
        return ItemStatus("failed", f"{f.kind}: {f.reason or f.status}", f.kind, "jobs", jobs)
    if any(f.status == "running" for f in jobs):
        return ItemStatus("running", None, None, "jobs", jobs)
    if any(f.status in ("waiting", "queued") for f in jobs):
        return ItemStatus("pending", None, None, "jobs", jobs)
    skipped = [f for f in jobs if f.skipped]
    if not skipped:
        return ItemStatus("done", None, None, "jobs", jobs)
    if len(skipped) == len(jobs):  # nothing ran: the first step's reason says why
        return ItemStatus("skipped", skipped[0].reason, skipped[0].kind, "jobs", jobs)
    by_reason: dict[str, list[str]] = {}
    for f in skipped:
        by_reason.setdefault(f.reason or "nothing to do", []).append(f.kind)
    reason = "; ".join(f"{', '.join(k)}: skipped: {r}" for r, k in by_reason.items())
    return ItemStatus("done", reason, skipped[0].kind, "jobs", jobs)


@dataclass
class JobStatuses:
    """The jobs of the per-item steps grouped by what they name: ``by_media`` (media id
    → facts) and ``by_source`` (source id → facts); ``sourceless`` are the facts of
    jobs naming an item but no source."""

    by_media: dict[int, list[JobFact]] = field(default_factory=dict)
    by_source: dict[int, list[JobFact]] = field(default_factory=dict)
    sourceless: dict[int, list[JobFact]] = field(default_factory=dict)

    def of_media(self, media_id: int) -> ItemStatus | None:
        """The status item ``media_id``'s jobs give, None without any."""
        facts = self.by_media.get(media_id)
        return derive(facts) if facts else None

    def of_source(self, source_id: int, media_id: int | None) -> ItemStatus | None:
        """The status of an input line: its own jobs and those of its item that name no
        source; None without any."""
        facts = list(self.by_source.get(source_id, []))
        if media_id is not None:
            facts += self.sourceless.get(media_id, [])
        return derive(facts) if facts else None


def step_of(reason: str | None) -> str | None:
    """The step a ``"<step>: <message>"`` reason names (one of :data:`ITEM_STEPS`), else
    None."""
    head = (reason or "").split(":", 1)[0].strip()
    return head if head in ITEM_STEPS else None


def with_source(jobs: ItemStatus | None, state: str | None, reason: str | None) -> ItemStatus:
    """An item's status from its jobs' (``jobs``, None without any) and its first input
    line's ``state`` and ``reason`` (None without one).

    The jobs decide, except that an input line ``vidpipe run`` left ``failed`` at a step
    no job ran stays ``failed`` (a job run later on another step does not make the item
    ``done``). Without jobs the line's state is the status; with neither ``ingested``.
    """
    if jobs is None:
        if state is None:
            return ItemStatus("ingested")
        why = redact_url(reason) if reason else None
        return ItemStatus(state, why, step_of(reason) if state == "failed" else None, "source")
    if state == "failed" and jobs.status in ("done", "skipped"):
        step = step_of(reason)
        if step is not None and step not in {f.kind for f in jobs.jobs}:
            why = redact_url(reason) if reason else None
            return ItemStatus("failed", why, step, "source", jobs.jobs)
    return jobs


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _fact(row: Any) -> JobFact:
    result = row.result if isinstance(row.result, dict) else {}
    skipped = row.status == "succeeded" and isinstance(result.get("skipped"), str)
    if skipped:
        reason: str | None = result["skipped"]
    elif row.status in ("failed", "canceled"):
        reason = row.error_message or row.status
    else:
        reason = None
    return JobFact(
        kind=row.kind,
        job_id=row.id,
        status=row.status,
        reason=redact_url(" ".join(reason.split())) if reason else None,
        skipped=skipped,
        error_class=row.error_class,
        created_at=row.created_at.replace(tzinfo=None) if row.created_at else None,
    )


def _load(s: Session) -> JobStatuses:
    rows = s.execute(
        select(
            JobRow.id,
            JobRow.kind,
            JobRow.status,
            JobRow.input,
            JobRow.result,
            JobRow.source_id,
            JobRow.error_class,
            JobRow.error_message,
            JobRow.created_at,
        ).where(JobRow.kind.in_(ITEM_STEPS))
    ).all()
    out = JobStatuses()
    if not rows:
        return out
    src_media: dict[int, int] = {
        sid: mid
        for sid, mid in s.execute(
            select(Source.id, Source.media_id).where(Source.media_id.is_not(None))
        )
    }
    # the items of the jobs' file inputs (an item's path is stored resolved)
    wanted: dict[str, str] = {}
    for r in rows:
        p = (r.input or {}).get("path") if isinstance(r.input, dict) else None
        if isinstance(p, str) and p and not p.startswith("job:"):
            wanted[p] = p
            with contextlib.suppress(OSError, ValueError):
                wanted.setdefault(os.path.realpath(p), p)
    path_media: dict[str, int] = {}
    keys = list(wanted)
    for part in _chunks(keys):
        for mid, path in s.execute(select(Media.id, Media.path).where(Media.path.in_(part))):
            path_media.setdefault(wanted[path], mid)

    media: dict[str, int | None] = {}
    source: dict[str, int | None] = {}
    for r in rows:
        given = r.input if isinstance(r.input, dict) else {}
        result = r.result if isinstance(r.result, dict) else {}
        sid = _int(r.source_id) or _int(given.get("source_id"))
        p = given.get("path")
        mid = (
            _int(given.get("media_id"))
            or _int(result.get("media_id"))
            or (path_media.get(p) if isinstance(p, str) else None)
            or (src_media.get(sid) if sid is not None else None)
        )
        media[r.id] = mid
        source[r.id] = sid
    # jobs naming nothing: their first dependency that does (one query)
    orphans = [r.id for r in rows if media[r.id] is None or source[r.id] is None]
    deps: dict[str, list[str]] = {}
    for part in _chunks(orphans):
        q = (
            select(JobDepRow.job_id, JobDepRow.depends_on)
            .where(JobDepRow.job_id.in_(part))
            .order_by(JobDepRow.job_id, JobDepRow.position)
        )
        for jid, dep in s.execute(q):
            deps.setdefault(jid, []).append(dep)

    def inherit(table: dict[str, int | None], jid: str, seen: set[str]) -> int | None:
        if table.get(jid) is not None or jid in seen:
            return table.get(jid)
        seen.add(jid)
        for dep in deps.get(jid, []):
            if dep in table:  # a per-item step's job
                found = inherit(table, dep, seen)
                if found is not None:
                    return found
        return None

    for r in rows:
        fact = _fact(r)
        sid = inherit(source, r.id, set())
        mid = inherit(media, r.id, set())
        if mid is None and sid is not None:
            mid = src_media.get(sid)
        if mid is not None:
            out.by_media.setdefault(mid, []).append(fact)
            if sid is None:
                out.sourceless.setdefault(mid, []).append(fact)
        if sid is not None:
            out.by_source.setdefault(sid, []).append(fact)
    return out


def job_statuses(catalog: Catalog) -> JobStatuses:
    """Every per-item step's job, grouped by the item and the input line it names (see
    the module doc); four queries whatever the catalog's size.

    Args:
        catalog: an open catalog.

    Returns:
        A :class:`JobStatuses`; its :meth:`~JobStatuses.of_media` and
        :meth:`~JobStatuses.of_source` give :class:`ItemStatus` values.
    """
    with catalog.session(write=False) as s:
        return _load(s)
