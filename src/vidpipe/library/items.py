"""The catalog's items for readers (the HTTP service's library API, the web page).

An *item* is a media row of the catalog. :func:`list_items` pages through them with
filters (status, language, duration range) and a sort order in one SQL query (SQLite
and PostgreSQL alike); :func:`item_detail` gathers what is known about one item:
probe facts, stages, sources, transcript facts, summary, chapters and scenes.

An item's ``status`` is derived from its jobs (:mod:`vidpipe.library.status`:
``failed`` with the failing step's ``reason``, ``running``, ``pending``, ``skipped``,
``done``); without jobs it is the state of the source line that first produced it, and
with neither ``ingested`` (recorded, nothing known to have run on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from vidpipe.errors import NotFoundError, UsageError
from vidpipe.library.catalog import Catalog
from vidpipe.library.models import EmbeddingRow, Media, Source, TranscriptRow
from vidpipe.library.status import (
    ITEM_STATUSES,
    ItemStatus,
    JobStatuses,
    job_statuses,
    with_source,
)
from vidpipe.library.urls import redact_url

__all__ = ["ITEM_SORTS", "ItemPage", "item_detail", "item_row", "list_items"]

#: Sort keys of :func:`list_items` (``-`` first: descending).
ITEM_SORTS = (
    "id",
    "-id",
    "duration",
    "-duration",
    "created",
    "-created",
    "position",
    "-position",
    "name",
    "-name",
    "language",
    "-language",
    "status",
    "-status",
)
MAX_LIMIT = 500


@dataclass
class ItemPage:
    """One page of :func:`list_items`: ``items`` (dicts, see :func:`item_row`), the
    ``total`` matching the filters and the ``cursor`` of the next page (None at the end)."""

    items: list[dict[str, Any]]
    total: int
    cursor: str | None


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def item_row(media: Media, language: str | None, status: ItemStatus) -> dict[str, Any]:
    """The summary fields of one item: ``id``, ``name`` (file name), ``path``, ``size``
    (bytes), ``sha256``, ``duration`` (seconds or None), ``format``, ``width``,
    ``height`` (pixels), ``video_codec``, ``audio_codec``, ``language`` (of its
    transcript, None without one), ``status`` (one of
    :data:`~vidpipe.library.status.ITEM_STATUSES`), ``reason`` (``"<step>: <message>"``
    of a failed item, what was skipped, or the source's reason; None), ``step`` (the step
    that failed or was skipped), ``status_basis`` (``jobs``, ``source`` or ``none``) and
    ``created_at`` (ISO 8601, UTC)."""
    return {
        "id": media.id,
        "name": Path(media.path).name,
        "path": media.path,
        "size": media.size,
        "sha256": media.sha256,
        "duration": media.duration,
        "format": media.format,
        "width": media.width,
        "height": media.height,
        "video_codec": media.video_codec,
        "audio_codec": media.audio_codec,
        "language": language,
        "status": status.status,
        "reason": status.reason,
        "step": status.step,
        "status_basis": status.basis,
        "created_at": _iso(media.created_at),
    }


#: characters a text filter treats as spaces (``radio address`` finds ``radio_address.wav``)
WORD_JOINERS = "_-."


def _spaced(expr):
    """SQL ``lower(expr)`` with :data:`WORD_JOINERS` replaced by spaces."""
    out = func.lower(expr)
    for ch in WORD_JOINERS:
        out = func.replace(out, ch, " ")
    return out


def _file_name(path):
    """SQL: the last part of a ``/`` path, lower-cased (SQLite and PostgreSQL alike:
    ``rtrim`` with every character but ``/`` strips the name, leaving its folder)."""
    folder = func.rtrim(path, func.replace(path, "/", ""))
    return func.lower(func.substr(path, func.length(folder) + 1))


def _cursor_offset(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    # an offset: ASCII digits, at most 18 of them (fits a 64-bit SQL integer)
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
        shown = cursor if len(cursor) <= 40 else cursor[:37] + "..."
        raise UsageError(f"bad cursor '{shown}'", "pass the cursor of the previous page")
    return int(cursor)


def list_items(
    catalog: Catalog,
    *,
    status: str | None = None,
    language: str | None = None,
    min_duration: float | None = None,
    max_duration: float | None = None,
    sort: str = "id",
    limit: int = 50,
    cursor: str | None = None,
    text: str | None = None,
) -> ItemPage:
    """A page of catalog items matching the filters.

    Args:
        catalog: an open catalog.
        status: one of :data:`~vidpipe.library.status.ITEM_STATUSES` (``pending``,
            ``running``, ``done``, ``failed``, ``skipped``, ``ingested``; see the module
            doc). Filtering or sorting by status reads every match's id (the status
            is derived from the jobs, not stored).
        language: transcript language, ISO 639-1 (``en`` also matches ``en-US``).
        min_duration, max_duration: probed duration range in seconds (inclusive);
            items without a duration are left out when either is given.
        sort: one of :data:`ITEM_SORTS` (``position``: input order of the sources;
            ``name``: by file name, case-insensitive, then path).
        limit: items per page, 1..500.
        cursor: the previous page's ``cursor``.
        text: only items whose file path or a source URI contains it (case-insensitive;
            ``_``, ``-`` and ``.`` match spaces and each other).

    Returns:
        An :class:`ItemPage`.

    Raises:
        UsageError: an unknown status or sort, a bad limit, duration range or cursor.
    """
    if status is not None and status not in ITEM_STATUSES:
        raise UsageError(f"unknown item status '{status}'", f"use {', '.join(ITEM_STATUSES)}")
    if sort not in ITEM_SORTS:
        raise UsageError(f"unknown sort '{sort}'", f"use {', '.join(ITEM_SORTS)}")
    if not 1 <= int(limit) <= MAX_LIMIT:
        raise UsageError(f"bad limit {limit}", f"use 1 to {MAX_LIMIT} items per page")
    for v in (min_duration, max_duration):
        if v is not None and v < 0:
            raise UsageError("durations must be 0 or more seconds")
    if min_duration is not None and max_duration is not None and min_duration > max_duration:
        raise UsageError(
            f"min_duration {min_duration:g} is above max_duration {max_duration:g}", "swap them"
        )
    offset = _cursor_offset(cursor)

    first = (
        select(Source.media_id.label("mid"), func.min(Source.position).label("pos"))
        .where(Source.media_id.is_not(None))
        .group_by(Source.media_id)
        .subquery()
    )
    first_src = (
        select(
            Source.media_id.label("mid"),
            func.min(Source.state).label("state"),
            func.min(Source.reason).label("reason"),
        )
        .join(first, (first.c.mid == Source.media_id) & (first.c.pos == Source.position))
        .group_by(Source.media_id)
        .subquery()
    )
    q = (
        select(Media, TranscriptRow.language, first_src.c.state, first_src.c.reason)
        .outerjoin(TranscriptRow, TranscriptRow.media_id == Media.id)
        .outerjoin(first_src, first_src.c.mid == Media.id)
        .outerjoin(first, first.c.mid == Media.id)
    )
    if language is not None:
        code = language.strip().lower()
        q = q.where(
            (func.lower(TranscriptRow.language) == code)
            | func.lower(TranscriptRow.language).like(code + "-%")
        )
    if text is not None and text.strip():
        words = text.strip().lower()
        for ch in WORD_JOINERS:
            words = words.replace(ch, " ")
        like = "%" + words.replace("\\", "\\\\").replace("%", "\\%") + "%"
        in_uri = select(Source.id).where(
            Source.media_id == Media.id, _spaced(Source.uri).like(like, escape="\\")
        )
        q = q.where(_spaced(Media.path).like(like, escape="\\") | in_uri.exists())
    if min_duration is not None:
        q = q.where(Media.duration >= float(min_duration))
    if max_duration is not None:
        q = q.where(Media.duration <= float(max_duration))
    by_status = sort.lstrip("-") == "status"
    key = {
        "id": Media.id,
        "duration": Media.duration,
        "created": Media.created_at,
        "position": func.coalesce(first.c.pos, 2**31 - 1),
        "name": _file_name(Media.path),
        "language": func.coalesce(TranscriptRow.language, ""),
        "status": Media.id,  # sorted below, by the derived status
    }[sort.lstrip("-")]
    order = [key.desc() if sort.startswith("-") and not by_status else key.asc()]
    if sort.lstrip("-") == "name":  # the same file name in two folders: by path
        order.append(Media.path.desc() if sort.startswith("-") else Media.path.asc())
    order.append(Media.id.asc())

    derived = JobStatuses()

    def status_of(mid: int, state: str | None, reason: str | None) -> ItemStatus:
        return with_source(derived.of_media(mid), state, reason)

    if status is None and not by_status:  # one page straight from SQL
        with catalog.session(write=False) as s:
            total = s.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
            rows = s.execute(q.order_by(*order).offset(offset).limit(int(limit) + 1)).all()
        more = len(rows) > limit
        # the jobs of this page's items only: a few queries, not one per item
        derived = job_statuses(catalog, [m.id for m, *_ in rows[:limit]])
        items = [item_row(m, lang, status_of(m.id, st, why)) for m, lang, st, why in rows[:limit]]
        return ItemPage(items, int(total), str(offset + limit) if more else None)

    # the status is derived in Python: filter and sort every match's id, then load a page
    derived = job_statuses(catalog)  # every item's jobs: a few queries, not one per item
    with catalog.session(write=False) as s:
        keyed = s.execute(
            q.with_only_columns(Media.id, first_src.c.state, first_src.c.reason).order_by(*order)
        ).all()
    found = [(mid, status_of(mid, st, why).status) for mid, st, why in keyed]
    if status is not None:
        found = [(mid, st) for mid, st in found if st == status]
    if by_status:  # stable (also reversed): ties stay by id, ascending
        found.sort(key=lambda f: f[1], reverse=sort.startswith("-"))
    page_ids = [mid for mid, _ in found[offset : offset + int(limit)]]
    loaded: dict[int, Any] = {}
    if page_ids:
        with catalog.session(write=False) as s:
            for m, lang, st, why in s.execute(q.where(Media.id.in_(page_ids))).all():
                loaded[m.id] = (m, lang, st, why)
    items = [
        item_row(m, lang, status_of(m.id, st, why))
        for m, lang, st, why in (loaded[i] for i in page_ids if i in loaded)
    ]
    more = len(found) > offset + int(limit)
    return ItemPage(items, len(found), str(offset + limit) if more else None)


def item_detail(catalog: Catalog, media_id: int) -> dict[str, Any]:
    """Everything the catalog knows about item ``media_id``.

    Returns:
        :func:`item_row`'s fields and ``probe`` (the stored
        :class:`~vidpipe.types.MediaInfo` JSON), ``stages`` (``stage``, ``status``,
        ``options_hash``, ``error``, ``started_at``, ``finished_at``), ``sources``
        (``id``, ``uri`` with passwords redacted, ``kind``, ``state``, ``reason``),
        ``transcript`` (``language``, ``duration`` s, ``segments``, ``model``; None
        without one), ``summary`` (:class:`~vidpipe.types.Summary` JSON or None),
        ``chapters`` and ``scenes`` (lists or None), ``summary_state`` and
        ``chapters_state`` (:func:`~vidpipe.library.understanding.result_state`: the
        transcript revision each was computed from, the latest one, ``stale``; None
        without a result), ``transcript`` also has ``revision`` (the latest),
        ``embedded`` (whether an audio embedding is stored for it: ``/similar`` can
        answer), ``jobs`` (the latest job of each step its status comes from:
        ``kind``, ``job_id``, ``status``, ``reason``, ``skipped``; empty when the
        status comes from its source).

    Raises:
        NotFoundError: no such item.
    """
    from vidpipe.library.revisions import latest_revision
    from vidpipe.library.understanding import get_chapters, get_scenes, get_summary, result_state

    media = catalog.get_media(media_id)
    if media is None:
        raise NotFoundError(f"no item with id {media_id} in the catalog", "see GET /v1/items")
    sources = catalog.sources_of_media(media_id)
    tr = catalog.transcript_row(media_id)
    first = min(sources, key=lambda x: x.position) if sources else None
    status = with_source(
        job_statuses(catalog, [media_id]).of_media(media_id),
        first.state if first else None,
        first.reason if first else None,
    )
    out = item_row(media, tr.language if tr else None, status)
    out["jobs"] = [f.to_dict() for f in status.jobs]
    out["probe"] = media.probe
    out["stages"] = [
        {
            "stage": st.stage,
            "status": st.status,
            "options_hash": st.options_hash,
            "error": st.error,
            "started_at": _iso(st.started_at),
            "finished_at": _iso(st.finished_at),
        }
        for st in catalog.stages(media_id)
    ]
    out["sources"] = [
        {
            "id": src.id,
            "uri": redact_url(src.uri),
            "kind": src.kind,
            "state": src.state,
            "reason": redact_url(src.reason) if src.reason else None,
        }
        for src in sources
    ]
    transcript = None
    if tr is not None:
        full = catalog.get_transcript(media_id)
        transcript = {
            "language": tr.language,
            "duration": tr.duration,
            "model": tr.model,
            "segments": len(full.segments) if full else 0,
            "revision": rev.number if (rev := latest_revision(catalog, media_id)) else None,
        }
    out["transcript"] = transcript
    with catalog.session(write=False) as s:
        hit = s.scalar(select(EmbeddingRow.id).where(EmbeddingRow.media_id == media_id).limit(1))
    out["embedded"] = hit is not None
    summary = get_summary(catalog, media_id)
    out["summary"] = summary.model_dump(mode="json") if summary else None
    chapters = get_chapters(catalog, media_id)
    out["chapters"] = [c.model_dump(mode="json") for c in chapters] if chapters else None
    out["summary_state"] = result_state(catalog, "summarize", media_id) if summary else None
    out["chapters_state"] = result_state(catalog, "chapters", media_id) if chapters else None
    scenes = get_scenes(catalog, media_id)
    out["scenes"] = [sc.model_dump(mode="json") for sc in scenes] if scenes else None
    return out
