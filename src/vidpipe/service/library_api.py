"""The library read API: catalog items, their transcripts and media, search, neighbours.

=====================================  =================================================
route                                  answers
=====================================  =================================================
``GET /v1/items``                      a page of items (:func:`vidpipe.library.items.list_items`:
                                       ``status``, ``language``, ``min_duration``,
                                       ``max_duration``, ``sort``, ``limit``, ``cursor``)
``GET /v1/items/{id}``                 probe facts, stages, sources, transcript facts,
                                       summary, chapters, scenes
                                       (:func:`~vidpipe.library.items.item_detail`), speakers
                                       (:func:`~vidpipe.library.speakers.item_speakers`)
``GET /v1/items/{id}/transcript``      ``?format=json|srt|vtt|txt`` (:mod:`vidpipe.writers`),
                                       the latest revision; ``?revision=original`` the
                                       machine's, ``?revision=N`` any
``PATCH /v1/items/{id}/transcript``    ``{"segments": [{"id", "text", "speaker"?}]}``: an
                                       edit stored as a new revision
                                       (:func:`vidpipe.library.revisions.edit_transcript`)
``GET /v1/items/{id}/transcript/``     the transcript's revisions (number, kind,
``revisions``                          changed segment ids, time)
``GET /v1/items/{id}/media``           the media file, with HTTP ``Range`` (seeking)
``GET /v1/search?q=``                  full-text search (:func:`vidpipe.library.search.search`;
                                       hits carry the speaker, ``&speaker=`` filters)
``GET /v1/items/{id}/similar``         nearest items by audio embedding (``?k=``)
``GET /v1/topics``                     the latest topics run: each topic's items and the
                                       first moment each says a keyword
                                       (:func:`vidpipe.library.topic_view.topics_view`)
=====================================  =================================================

Catalog reads run in worker threads (the database driver blocks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Body, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from vidpipe.errors import InputError, NotFoundError, UnavailableError
from vidpipe.library.items import ITEM_SORTS
from vidpipe.library.status import ITEM_STATUSES
from vidpipe.service.errors import error_responses

__all__ = ["router"]

router = APIRouter(tags=["library"])

ItemId = PathParam(..., ge=1, le=2**31 - 1, description="catalog item (media) id")


class Item(BaseModel):
    """One catalog item (see :func:`vidpipe.library.items.item_row`)."""

    id: int
    name: str
    path: str
    size: int
    sha256: str
    duration: float | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    language: str | None = None
    status: str = Field(
        description="derived from the item's jobs: pending, running, done, failed, skipped; "
        "without jobs its source's state; with neither, ingested"
    )
    reason: str | None = Field(
        None, description="'<step>: <message>' of a failed item, or what was skipped"
    )
    step: str | None = Field(None, description="the step that failed (or was skipped)")
    status_basis: str = Field(
        "none", description="what the status comes from: jobs, source or none"
    )
    created_at: str | None = None


class ItemPageOut(BaseModel):
    items: list[Item]
    total: int
    next_cursor: str | None = None


class ItemDetail(Item):
    probe: dict[str, Any] | None = None
    stages: list[dict[str, Any]] = []
    sources: list[dict[str, Any]] = []
    transcript: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    chapters: list[dict[str, Any]] | None = None
    summary_state: dict[str, Any] | None = Field(
        None,
        description="{revision, latest_revision, stale}: the transcript revision the "
        "summary was computed from; stale once the transcript was edited after it",
    )
    chapters_state: dict[str, Any] | None = Field(None, description="the same for the chapters")
    scenes: list[dict[str, Any]] | None = None
    embedded: bool = False
    speakers: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []


class Hit(BaseModel):
    media_id: int
    name: str
    start: float
    end: float
    text: str
    snippet: str
    score: float
    speaker: str | None = None
    word_start: float | None = Field(
        None, description="where the query is said in the segment (s), else its start"
    )


class SearchOut(BaseModel):
    query: str
    hits: list[Hit]


class Neighbour(BaseModel):
    media_id: int
    name: str | None = None
    score: float


class SimilarOut(BaseModel):
    media_id: int
    neighbours: list[Neighbour]


def _catalog(request: Request):
    return request.app.state.catalog


@router.get(
    "/v1/items",
    response_model=ItemPageOut,
    summary="List catalog items",
    responses=error_responses(400, 422),
)
async def list_items(
    request: Request,
    status: Literal[ITEM_STATUSES] | None = Query(None),  # type: ignore[valid-type]
    language: str | None = Query(None, max_length=16, description="ISO 639-1, e.g. en"),
    min_duration: float | None = Query(None, ge=0, description="seconds"),
    max_duration: float | None = Query(None, ge=0, description="seconds"),
    sort: Literal[ITEM_SORTS] = "id",  # type: ignore[valid-type]
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=20, pattern=r"^[0-9]*$"),
    text: str | None = Query(
        None, max_length=200, description="only items whose path or source contains it"
    ),
) -> ItemPageOut:
    """Items matching the filters, ``limit`` per page; pass ``next_cursor`` back as
    ``cursor`` for the next page."""
    from vidpipe.library.items import list_items as page_of

    page = await anyio.to_thread.run_sync(
        lambda: page_of(
            _catalog(request),
            status=status,
            language=language,
            min_duration=min_duration,
            max_duration=max_duration,
            sort=sort,
            limit=limit,
            cursor=cursor,
            text=text,
        )
    )
    return ItemPageOut(items=page.items, total=page.total, next_cursor=page.cursor)


@router.get(
    "/v1/items/{item_id}",
    response_model=ItemDetail,
    summary="One catalog item",
    responses=error_responses(404, 422),
)
async def get_item(request: Request, item_id: int = ItemId) -> ItemDetail:
    """Probe facts, stages, sources, transcript facts (``revision``: the latest),
    summary and chapters (``summary_state``/``chapters_state``: the transcript revision
    each was computed from, ``stale`` once a newer revision exists), scenes and
    speakers (``label``, ``name``, ``speaker`` as shown, ``seconds``, ``segments``; empty
    if never diarized).

    Raises:
        NotFoundError: no such item (404).
    """
    from vidpipe.library.items import item_detail
    from vidpipe.library.speakers import item_speakers

    def load() -> dict[str, Any]:
        detail = item_detail(_catalog(request), item_id)
        detail["speakers"] = [s.to_dict() for s in item_speakers(_catalog(request), item_id)]
        return detail

    return ItemDetail(**await anyio.to_thread.run_sync(load))


def _media(request: Request, item_id: int):
    media = _catalog(request).get_media(item_id)
    if media is None:
        raise NotFoundError(f"no item with id {item_id} in the catalog", "see GET /v1/items")
    return media


@router.get(
    "/v1/items/{item_id}/transcript",
    summary="An item's transcript",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {}, "text/plain": {}, "text/vtt": {}}},
        **error_responses(400, 404, 422),
    },
)
async def get_transcript(
    request: Request,
    item_id: int = ItemId,
    format: Literal["json", "srt", "vtt", "txt"] = Query("json"),
    revision: str = Query(
        "latest",
        max_length=12,
        pattern=r"^(latest|original|[0-9]+)$",
        description="latest (people's edits), original (the machine's) or a number",
    ),
) -> Response:
    """The stored transcript as JSON (the Transcript model), SRT, WebVTT or plain text:
    the latest revision (with people's edits), the machine's (``revision=original``) or
    revision ``N``. The revision's number is in the ``X-Transcript-Revision`` header.

    Raises:
        NotFoundError: no such item or revision, or it has no transcript yet (404).
    """
    from vidpipe.library.revisions import transcript_revision, transcript_revisions
    from vidpipe.writers import WRITERS

    def load():
        _media(request, item_id)
        tr = transcript_revision(_catalog(request), item_id, revision)
        revs = transcript_revisions(_catalog(request), item_id)
        latest = revs[-1].number if revs else 1
        number = 1 if revision == "original" else latest if revision == "latest" else revision
        return tr, str(number)

    tr, number = await anyio.to_thread.run_sync(load)
    if tr is None:
        raise NotFoundError(f"item {item_id} has no transcript", "transcribe it first")
    headers = {"X-Transcript-Revision": number}
    if format == "json":
        return JSONResponse(tr.model_dump(mode="json"), headers=headers)
    text = WRITERS[format]().render(tr)
    media_type = "text/vtt" if format == "vtt" else "text/plain"
    return PlainTextResponse(text, media_type=media_type, headers=headers)


class SegmentEdit(BaseModel):
    """New text (and/or speaker) for one segment of the latest revision."""

    id: int = Field(..., ge=0, le=10**6, description="the segment's id (Segment.id)")
    text: str | None = Field(
        None, max_length=5000, description="its new text; empty removes the segment"
    )
    speaker: str | None = Field(
        None, max_length=200, description="a speaker's name or label; null: no speaker"
    )


class TranscriptEdit(BaseModel):
    segments: list[SegmentEdit] = Field(..., min_length=1, max_length=10_000)


class EditOut(BaseModel):
    media_id: int
    revision: int = Field(description="the revision now latest")
    changed: list[int] = Field(description="ids (as given) of the segments changed")
    removed: list[int] = Field(description="ids of the segments removed (emptied)")
    transcript: dict[str, Any] = Field(description="the latest revision (Transcript)")


class RevisionOut(BaseModel):
    number: int
    kind: Literal["machine", "edit"]
    changed: list[int]
    created_at: str


class RevisionsOut(BaseModel):
    media_id: int
    revisions: list[RevisionOut]


@router.patch(
    "/v1/items/{item_id}/transcript",
    response_model=EditOut,
    summary="Correct an item's transcript (a new revision)",
    responses=error_responses(400, 404, 422),
)
async def edit_transcript(
    request: Request,
    item_id: int = ItemId,
    body: TranscriptEdit = Body(
        ...,
        examples=[{"segments": [{"id": 0, "text": "And so, my fellow Americans"}]}],
    ),
) -> EditOut:
    """Store new text (and speakers) for some segments as the transcript's next
    revision; the machine's stays (``?revision=original``). Unchanged words keep their
    times; new or changed words share the time between the kept words around them.
    Search, exports, subtitles and summaries use the latest revision. A ``speaker``
    names a speaker of the item (name or label; a new name adds one); give it only to
    change it.

    Raises:
        NotFoundError: no such item, or it has no transcript (404).
        InputError: a segment id the latest revision does not have, a segment edited
            twice, a bad speaker name (400).
    """
    from vidpipe.library.revisions import edit_transcript as edit
    from vidpipe.library.revisions import transcript_revision

    edits = [e.model_dump(exclude_unset=True) for e in body.segments]

    def run():
        _media(request, item_id)
        done = edit(_catalog(request), item_id, edits)
        return done, transcript_revision(_catalog(request), item_id)

    done, tr = await anyio.to_thread.run_sync(run)
    return EditOut(
        media_id=item_id,
        revision=done.revision,
        changed=done.changed,
        removed=done.removed,
        transcript=tr.model_dump(mode="json") if tr is not None else {},
    )


@router.get(
    "/v1/items/{item_id}/transcript/revisions",
    response_model=RevisionsOut,
    summary="The revisions of an item's transcript",
    responses=error_responses(404, 422),
)
async def list_revisions(request: Request, item_id: int = ItemId) -> RevisionsOut:
    """Oldest first: 1 the machine's transcript, then each edit with the segment ids it
    changed (empty when the item has no transcript).

    Raises:
        NotFoundError: no such item (404).
    """
    from vidpipe.library.revisions import transcript_revisions

    revs = await anyio.to_thread.run_sync(transcript_revisions, _catalog(request), item_id)
    return RevisionsOut(media_id=item_id, revisions=[RevisionOut(**r.to_dict()) for r in revs])


@router.get(
    "/v1/items/{item_id}/media",
    summary="An item's media file (HTTP Range)",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        206: {"description": "the requested range"},
        416: {"description": "range not satisfiable"},
        **error_responses(404, 422),
    },
)
async def get_media(request: Request, item_id: int = ItemId) -> FileResponse:
    """The media file as recorded in the catalog; ``Range: bytes=A-B`` answers 206 with
    that part, so a player can seek.

    Raises:
        NotFoundError: no such item, or its file is gone (404).
    """
    media = await anyio.to_thread.run_sync(_media, request, item_id)
    path = Path(media.path)
    if not await anyio.to_thread.run_sync(path.is_file):
        raise NotFoundError(f"the file of item {item_id} is gone", "ingest it again")
    import mimetypes

    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(
        path, media_type=kind, filename=path.name, content_disposition_type="inline"
    )


@router.get(
    "/v1/search",
    response_model=SearchOut,
    summary="Full-text search of transcripts",
    responses=error_responses(422),
)
async def search(
    request: Request,
    q: str = Query(..., min_length=1, max_length=500, description="words (Chinese too)"),
    limit: int = Query(20, ge=1, le=200),
    speaker: str | None = Query(
        None, max_length=200, description="only this speaker's segments (name or label)"
    ),
) -> SearchOut:
    """Transcript segments holding every word of ``q``, best first (SQLite FTS5 or
    PostgreSQL full-text search; Chinese segmented with jieba); each hit names its
    speaker when the item was diarized, and ``word_start``: the time of the word where
    the query is said (Chinese, Japanese and Thai matched across single-character words),
    else the segment's start."""
    from vidpipe.library.search import search as run

    hits = await anyio.to_thread.run_sync(lambda: run(_catalog(request), q, limit, speaker=speaker))
    return SearchOut(
        query=q,
        hits=[
            Hit(
                media_id=h.media_id,
                name=Path(h.path).name,
                start=h.start,
                end=h.end,
                text=h.text,
                snippet=h.snippet,
                score=h.score,
                speaker=h.speaker,
                word_start=h.word_start,
            )
            for h in hits
        ],
    )


@router.get(
    "/v1/items/{item_id}/similar",
    response_model=SimilarOut,
    summary="Items that sound alike",
    responses=error_responses(404, 422, 503),
)
async def similar(
    request: Request, item_id: int = ItemId, k: int = Query(10, ge=1, le=100)
) -> SimilarOut:
    """The ``k`` nearest items by stored audio embedding (cosine).

    Raises:
        NotFoundError: no such item, or no vectors stored (for it) yet (404).
        UnavailableError: this install has no audio embeddings (503).
    """
    await anyio.to_thread.run_sync(_media, request, item_id)  # 404 first
    try:
        from vidpipe.pipeline.embed import similar as nearest
    except ImportError:
        raise UnavailableError(
            "audio embeddings are not available in this version",
            "update vidpipe (vidpipe embed, issue 11)",
        ) from None

    def find():
        _media(request, item_id)
        try:
            return nearest(item_id, k, catalog=_catalog(request))
        except InputError as exc:  # no vectors stored, or none for this item
            raise NotFoundError(exc.message, exc.hint) from None

    hits = await anyio.to_thread.run_sync(find)
    return SimilarOut(
        media_id=item_id,
        neighbours=[
            Neighbour(
                media_id=h.media_id, name=Path(h.path).name if h.path else None, score=h.score
            )
            for h in hits
        ],
    )


class TopicItem(BaseModel):
    media_id: int
    name: str
    moment: dict[str, Any] | None = Field(
        None, description="{start (s), keyword}: where the item first says a keyword"
    )


class TopicOut(BaseModel):
    id: int
    name: str
    keywords: list[str]
    items: list[TopicItem]


class TopicsOut(BaseModel):
    topics: list[TopicOut]


@router.get("/v1/topics", response_model=TopicsOut, summary="Topics and their items")
async def topics(request: Request) -> TopicsOut:
    """The latest topics run (``vidpipe topics``): each topic's name, keywords and items,
    each item with the first moment its transcript says one of the keywords (empty when
    topics were never computed)."""
    from vidpipe.library.topic_view import topics_view

    found = await anyio.to_thread.run_sync(topics_view, _catalog(request))
    return TopicsOut(topics=[TopicOut(**t) for t in found])
