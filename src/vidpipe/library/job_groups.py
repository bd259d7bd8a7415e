"""Jobs grouped by the input they work on, for the jobs page (``GET /v1/jobs/groups``).

A *group* is one input: the jobs of one submitted source (``jobs.source_id``: a line of
``vidpipe submit`` or the service's ``/v1/sources``), or else one chain of jobs tied by
their dependencies (an upload's probe, audio and transcribe; a URL's download and what
follows), named after the root of the chain. Each group has a file name (the upload's
name, the file's name, the URL, the item's file), its steps in order, one state, one
readable error line (no job ids, no server folders: :func:`readable_error`), and its
created and finished times.

Group states: ``running`` (a step runs), ``queued`` (a step is queued or waits),
``failed`` (a step failed or was canceled and nothing runs or waits), else
``succeeded``.

"Clear finished" (:func:`clear_finished`) hides the groups that had ended by then
(nothing is deleted: items' statuses are derived from their jobs); a group with a job
created or retried later shows again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from vidpipe.library.models import (
    JobDepRow,
    JobRow,
    Media,
    QueueFlagRow,
    Source,
    UploadRow,
    utcnow,
)
from vidpipe.library.status import DEPENDENCY_FAILED
from vidpipe.library.urls import redact_secrets

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.library.catalog import Catalog

__all__ = [
    "GROUP_STATES",
    "SCAN_LIMIT",
    "JobGroup",
    "clear_finished",
    "job_groups",
    "readable_error",
]

GROUP_STATES = ("running", "queued", "failed", "succeeded")
SCAN_LIMIT = 20_000
"""Most recent jobs read to make the groups."""
_CLEARED = "cleared"
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_DEP = re.compile(r"^(?:dependency\s+(?:job\s+)?\S*\s*failed:\s*)+", re.I)
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s\\/:'\"()]+){2,}[\\/]?")
_FINAL = ("succeeded", "failed", "canceled")


def readable_error(message: str | None, limit: int = 200) -> str | None:
    """One line a reader of the jobs page can use: no ``dependency <uuid> failed:``
    prefixes, no job ids, server paths cut to their file name, URL secrets ``***``,
    white space folded, at most ``limit`` characters."""
    if not message:
        return None
    text = " ".join(str(message).split())
    text = _DEP.sub("", text)
    text = _UUID.sub("", text)
    text = _PATH.sub(lambda m: PurePosixPath(m.group(0).replace("\\", "/").rstrip("/")).name, text)
    text = redact_secrets(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _name(value: str) -> str:
    if "://" in value:
        return redact_secrets(value)
    return PureWindowsPath(value).name if "\\" in value else PurePosixPath(value).name or value


@dataclass
class JobGroup:
    """One input and its chain of steps (see the module doc). ``jobs``: each step as
    ``{id, kind, status, progress, step, error, created_at, started_at, finished_at,
    attempts}`` in creation order (``error`` a :func:`readable_error` line; a step that
    did not run because an earlier one failed has ``blocked`` true)."""

    key: str
    name: str
    state: str
    error: str | None
    created_at: str
    finished_at: str | None
    updated_at: str
    source_id: int | None = None
    media_id: int | None = None
    jobs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "state": self.state,
            "error": self.error,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "updated_at": self.updated_at,
            "source_id": self.source_id,
            "media_id": self.media_id,
            "jobs": self.jobs,
        }


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.isoformat()


def _aware(t: datetime | None) -> datetime | None:
    if t is not None and t.tzinfo is None:
        return t.replace(tzinfo=UTC)
    return t


def _state(rows: list[JobRow]) -> str:
    statuses = {r.status for r in rows}
    if "running" in statuses:
        return "running"
    if statuses & {"queued", "waiting"}:
        return "queued"
    if statuses & {"failed", "canceled"}:
        return "failed"
    return "succeeded"


def cleared_at(catalog: Catalog) -> datetime | None:
    """When "clear finished" was last used, or None."""
    with catalog.session(write=False) as s:
        row = s.get(QueueFlagRow, _CLEARED)
    return _aware(row.updated_at) if row is not None else None


def clear_finished(catalog: Catalog) -> datetime:
    """Hide the groups that have ended by now from :func:`job_groups` (nothing is
    deleted). Returns the time (UTC)."""
    now = utcnow()
    with catalog.session() as s:
        row = s.get(QueueFlagRow, _CLEARED)
        if row is None:
            s.add(QueueFlagRow(name=_CLEARED, value={"cleared": True}, updated_at=now))
        else:
            row.updated_at = now
    return now


def job_groups(
    catalog: Catalog,
    *,
    state: str | None = None,
    limit: int = 50,
    offset: int = 0,
    include_cleared: bool = False,
) -> tuple[list[JobGroup], dict[str, int], int]:
    """The groups of the latest :data:`SCAN_LIMIT` jobs, the most recently changed first.

    Args:
        state: only groups in this state (:data:`GROUP_STATES`).
        limit, offset: the page of groups.
        include_cleared: also the groups "clear finished" hid.

    Returns:
        ``(groups of the page, groups per state (all pages, before ``state``), total
        groups matching)``.
    """
    with catalog.session(write=False) as s:
        rows = list(s.scalars(select(JobRow).order_by(JobRow.created_at.desc()).limit(SCAN_LIMIT)))
        by_id = {r.id: r for r in rows}
        first_dep: dict[str, str] = {}
        ids = list(by_id)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = (
                select(JobDepRow.job_id, JobDepRow.depends_on)
                .where(JobDepRow.job_id.in_(chunk))
                .order_by(JobDepRow.job_id, JobDepRow.position)
            )
            for job_id, dep in s.execute(q):
                first_dep.setdefault(job_id, dep)
        cleared = None if include_cleared else s.get(QueueFlagRow, _CLEARED)
        cleared_time = _aware(cleared.updated_at) if cleared is not None else None

        keys: dict[str, str] = {}

        def key_of(job_id: str) -> str:
            seen: list[str] = []
            cur = job_id
            while True:
                if cur in keys:
                    key = keys[cur]
                    break
                row = by_id.get(cur)
                if row is not None and row.source_id is not None:
                    key = f"source:{row.source_id}"
                    break
                dep = first_dep.get(cur)
                if row is None or dep is None or dep not in by_id or dep in seen:
                    key = f"job:{cur}"
                    break
                seen.append(cur)
                cur = dep
            for j in [*seen, job_id]:
                keys[j] = key
            return key

        groups: dict[str, list[JobRow]] = {}
        for r in rows:
            groups.setdefault(key_of(r.id), []).append(r)
        # names: sources, uploads, media of the groups
        source_ids = {int(k.split(":", 1)[1]) for k in groups if k.startswith("source:")}
        sources = {
            x.id: x for x in s.scalars(select(Source).where(Source.id.in_(source_ids)))
        } if source_ids else {}  # fmt: skip
        uploads: dict[str, str] = {}
        media_ids: set[int] = set()
        for r in rows:
            given = r.input or {}
            for v in given.values():
                if isinstance(v, str) and v.startswith("file-"):
                    uploads[v] = ""
            if isinstance(given.get("media_id"), int):
                media_ids.add(given["media_id"])
        if uploads:
            for u in s.scalars(select(UploadRow).where(UploadRow.id.in_(list(uploads)))):
                uploads[u.id] = u.name
        media = (
            {m.id: m.path for m in s.scalars(select(Media).where(Media.id.in_(media_ids)))}
            if media_ids
            else {}
        )

    def name_of(key: str, jobs: list[JobRow]) -> tuple[str, int | None]:
        mid = next(
            (
                r.input.get("media_id")
                for r in jobs
                if isinstance((r.input or {}).get("media_id"), int)
            ),
            None,
        )
        if key.startswith("source:"):
            src = sources.get(int(key.split(":", 1)[1]))
            if src is not None:
                return _name(src.uri), mid
        for r in sorted(jobs, key=lambda r: r.created_at):
            given = r.input or {}
            for k in ("path", "url", "audio", "text_path"):
                v = given.get(k)
                if isinstance(v, str) and v and not v.startswith("job:"):
                    if v.startswith("file-"):
                        return uploads.get(v) or "an uploaded file", mid
                    return _name(v), mid
            if isinstance(given.get("media_id"), int) and given["media_id"] in media:
                return _name(media[given["media_id"]]), mid
            if isinstance(given.get("text"), str) and given["text"].strip():
                return "text: " + " ".join(given["text"].split())[:60], mid
        return f"{jobs[0].kind} job", mid

    out: list[JobGroup] = []
    counts = dict.fromkeys(GROUP_STATES, 0)
    for key, jobs in groups.items():
        jobs.sort(key=lambda r: (r.created_at, r.id))
        st = _state(jobs)
        ended = st in ("failed", "succeeded")
        finished = max((_aware(r.finished_at) for r in jobs if r.finished_at), default=None)
        latest = max(
            _aware(t) for r in jobs for t in (r.created_at, r.updated_at, r.finished_at) if t
        )
        if cleared_time is not None and ended and latest <= cleared_time:
            continue
        counts[st] += 1
        if state is not None and st != state:
            continue
        own = next(
            (r for r in jobs if r.status == "failed" and r.error_class != DEPENDENCY_FAILED),
            None,
        )
        name, mid = name_of(key, jobs)
        out.append(
            JobGroup(
                key=key,
                name=name,
                state=st,
                error=(f"{own.kind}: {readable_error(own.error_message)}" if own else None),
                created_at=_iso(jobs[0].created_at) or "",
                finished_at=_iso(finished) if ended else None,
                updated_at=_iso(latest) or "",
                source_id=int(key.split(":", 1)[1]) if key.startswith("source:") else None,
                media_id=mid,
                jobs=[
                    {
                        "id": r.id,
                        "kind": r.kind,
                        "status": r.status,
                        "blocked": r.error_class == DEPENDENCY_FAILED,
                        "progress": r.progress,
                        "step": readable_error(r.step, 120),
                        "error": None
                        if r.error_class == DEPENDENCY_FAILED
                        else readable_error(r.error_message),
                        "created_at": _iso(r.created_at),
                        "started_at": _iso(r.started_at),
                        "finished_at": _iso(r.finished_at),
                        "attempts": r.attempts,
                    }
                    for r in jobs
                ],
            )
        )
    out.sort(key=lambda g: g.updated_at, reverse=True)
    return out[offset : offset + limit], counts, len(out)


def failed_roots(catalog: Catalog) -> list[str]:
    """Ids of the failed jobs that failed on their own (not because a dependency did):
    retrying them (:meth:`vidpipe.pipeline.jobs.JobStore.retry`) makes the steps after
    them wait again, so each chain goes on from its failed step."""
    with catalog.session(write=False) as s:
        q = select(JobRow.id).where(
            JobRow.status == "failed",
            (JobRow.error_class.is_(None)) | (JobRow.error_class != DEPENDENCY_FAILED),
        )
        return list(s.scalars(q))
