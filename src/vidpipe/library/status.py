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

Cost: four queries whatever the number of items (the per-item steps' jobs with the
few JSON fields needed extracted by the database, the sources' items, the items of the
file paths of jobs naming no item (in chunks of 500), the dependencies when a job names
nothing).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import or_, select
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


class JobFact(NamedTuple):
    """The latest job of one step of an item: ``kind``, ``job_id``, ``status`` (the job's),
    ``reason`` (its error message, or why it was skipped; URL passwords ``***``),
    ``skipped`` (it succeeded with nothing to do), ``error_class``, ``order`` (creation
    order among the jobs read: a later job has a larger one)."""

    kind: str
    job_id: str
    status: str
    reason: str | None = None
    skipped: bool = False
    error_class: str | None = None
    order: int = 0

    def to_dict(self) -> dict[str, Any]:
        """``kind``, ``job_id``, ``status``, ``reason`` and ``skipped`` as JSON."""
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
        newer = f.order >= have.order
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
    return value if type(value) is int and value > 0 else None


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _fact(row: Any, order: int) -> JobFact:
    jid, kind, status, _, _, _, _, _, skipped, error_class, message = row
    if status == "succeeded" and skipped:
        why = redact_url(" ".join(str(skipped).split()))
        return JobFact(kind, jid, status, why, True, error_class, order)
    reason = None
    if status in ("failed", "canceled"):
        reason = redact_url(" ".join((message or status).split()))
    return JobFact(kind, jid, status, reason, False, error_class, order)


def _scope(s: Session, media_ids: Collection[int]) -> set[str] | None:
    """The ids of the per-item steps' jobs that may name the items ``media_ids``: those
    naming them (id, input line, file) and, step by step, their dependents (a dependent
    naming nothing inherits its dependency's item). None when that is more than one
    ``IN`` list holds (then every job is read). A file input is matched as given
    (items' paths are stored resolved; a job naming its file through a symbolic link
    is found by the full read only)."""
    ids = sorted(set(media_ids))
    if not ids or len(ids) > _CHUNK:
        return None
    sources = list(s.scalars(select(Source.id).where(Source.media_id.in_(ids))))
    paths = list(s.scalars(select(Media.path).where(Media.id.in_(ids))))
    names = [
        JobRow.input["media_id"].as_integer().in_(ids),
        JobRow.result["media_id"].as_integer().in_(ids),
        JobRow.input["path"].as_string().in_(paths),
    ]
    if sources:
        names += [
            JobRow.source_id.in_(sources),
            JobRow.input["source_id"].as_integer().in_(sources),
        ]
    found = set(s.scalars(select(JobRow.id).where(JobRow.kind.in_(ITEM_STEPS), or_(*names))))
    frontier = set(found)
    while frontier and len(found) <= _CHUNK:
        q = select(JobDepRow.job_id).where(JobDepRow.depends_on.in_(sorted(frontier)))
        frontier = set(s.scalars(q)) - found
        found |= frontier
    return found if len(found) <= _CHUNK else None


def _load(s: Session, scope: set[str] | None = None) -> JobStatuses:
    if scope is not None and not scope:
        return JobStatuses()
    where = [JobRow.kind.in_(ITEM_STEPS)]
    if scope is not None:
        where.append(JobRow.id.in_(sorted(scope)))
    # the few JSON fields needed, extracted by the database (a result may be large)
    found = s.execute(
        select(
            JobRow.id,
            JobRow.kind,
            JobRow.status,
            JobRow.source_id,
            JobRow.input["source_id"].as_integer().label("given_source"),
            JobRow.input["media_id"].as_integer().label("given_media"),
            JobRow.input["path"].as_string().label("path"),
            JobRow.result["media_id"].as_integer().label("result_media"),
            JobRow.result["skipped"].as_string().label("skipped"),
            JobRow.error_class,
            JobRow.error_message,
        )
        .where(*where)
        .order_by(JobRow.created_at, JobRow.id)  # creation order: no dates to parse
    )
    rows = [tuple(r) for r in found]  # plain tuples: named access costs ~2 us a field
    out = JobStatuses()
    if not rows:
        return out
    src_media: dict[int, int] = {
        sid: mid
        for sid, mid in s.execute(
            select(Source.id, Source.media_id).where(Source.media_id.is_not(None))
        )
    }
    media: dict[str, int | None] = {}
    source: dict[str, int | None] = {}
    unnamed: dict[str, str] = {}  # job id -> its file path, for jobs naming no item
    for r in rows:
        jid, _, _, col_source, given_source, given_media, path, result_media = r[:8]
        sid = _int(col_source) or _int(given_source)
        mid = (
            _int(given_media)
            or _int(result_media)
            or (src_media.get(sid) if sid is not None else None)
        )
        media[jid] = mid
        source[jid] = sid
        if mid is None and path and not path.startswith("job:"):
            unnamed[jid] = path
    # the items of those jobs' files (an item's path is stored resolved)
    wanted: dict[str, str] = {}
    for p in set(unnamed.values()):
        wanted[p] = p
        with contextlib.suppress(OSError, ValueError):
            wanted.setdefault(os.path.realpath(p), p)
    path_media: dict[str, int] = {}
    for part in _chunks(list(wanted)):
        for mid, path in s.execute(select(Media.id, Media.path).where(Media.path.in_(part))):
            path_media.setdefault(wanted[path], mid)
    for jid, p in unnamed.items():
        media[jid] = path_media.get(p)
    # jobs still naming no item: their first dependency that does (one query)
    deps: dict[str, list[str]] = {}
    if any(m is None for m in media.values()):
        q = (
            select(JobDepRow.job_id, JobDepRow.depends_on)
            .join(JobRow, JobRow.id == JobDepRow.job_id)
            .where(*where)
            .order_by(JobDepRow.job_id, JobDepRow.position)
        )
        for jid, dep in s.execute(q):
            if media.get(jid) is None:
                deps.setdefault(jid, []).append(dep)

    def inherit(table: dict[str, int | None], jid: str, seen: set[str]) -> int | None:
        """``table[jid]``, else its first dependency's (per-item steps only); memoised."""
        if table.get(jid) is not None or jid in seen:
            return table.get(jid)
        seen.add(jid)
        found = None
        for dep in deps.get(jid, []):
            if dep in table:
                found = inherit(table, dep, seen)
                if found is not None:
                    break
        table[jid] = found
        return found

    for order, r in enumerate(rows):
        fact = _fact(r, order)
        jid = r[0]
        if jid in deps:
            mid = inherit(media, jid, set())
            sid = inherit(source, jid, set())
        else:
            mid, sid = media[jid], source[jid]
        if mid is None and sid is not None:
            mid = src_media.get(sid)
        if mid is not None:
            out.by_media.setdefault(mid, []).append(fact)
            if sid is None:
                out.sourceless.setdefault(mid, []).append(fact)
        if sid is not None:
            out.by_source.setdefault(sid, []).append(fact)
    return out


def job_statuses(catalog: Catalog, media_ids: Collection[int] | None = None) -> JobStatuses:
    """The per-item steps' jobs, grouped by the item and the input line they name (see
    the module doc); a few queries whatever the catalog's size.

    Args:
        catalog: an open catalog.
        media_ids: only these items are asked about (a page of them): the jobs read
            are those that may name them, so the answer for other items may be
            incomplete. None (or more than 500 ids): every job is read.

    Returns:
        A :class:`JobStatuses`; its :meth:`~JobStatuses.of_media` and
        :meth:`~JobStatuses.of_source` give :class:`ItemStatus` values.
    """
    if media_ids is not None and not media_ids:
        return JobStatuses()
    with catalog.session(write=False) as s:
        return _load(s, _scope(s, media_ids) if media_ids is not None else None)
