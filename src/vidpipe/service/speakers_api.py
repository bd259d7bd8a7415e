"""Speakers over HTTP: diarization (speaches' route), known speakers given as data URLs,
and the speakers of catalog items.

=====================================  =================================================
route                                  answers
=====================================  =================================================
``POST /v1/audio/diarization``         speaker turns of an upload, speaches' shape:
                                       ``{"duration", "segments": [{"start", "end",
                                       "speaker"}]}``, or RTTM (``response_format=rttm``,
                                       ``text/plain``)
``PATCH /v1/items/{id}/speakers``      ``{"SPEAKER_00": "Alice"}`` names speakers of an
                                       item (:func:`vidpipe.library.speakers.rename_speakers`,
                                       the function behind ``vidpipe speakers rename``);
                                       answers the item's speakers
``GET /v1/items/{id}/speakers``        the item's speakers (also in ``GET /v1/items/{id}``)
=====================================  =================================================

The multipart fields of ``/v1/audio/diarization`` are speaches': ``file``, ``model``
(accepted, any value: there is one diarization pipeline), ``known_speaker_names[]`` and
``known_speaker_references[]`` (audio clips as ``data:`` URLs, base64), ``response_format``
(``json`` or ``rttm``), and vidpipe's ``num_speakers``, ``min_speakers``, ``max_speakers``.

Known speakers: each reference clip becomes a voiceprint (its speech only); a diarized
speaker whose centroid has a cosine similarity of at least 0.88
(:data:`vidpipe.speakers.MATCH_THRESHOLD`) with one takes its name, one speaker per name.
The voices stored in the catalog (``vidpipe speakers add``) take part too; a reference
of the same name replaces the stored voice for that request. Limits are
:mod:`vidpipe.service.voices`' (at most 4 references of at most 30 s; the whole request,
upload and references, within the upload limit).

Without the ``diarize`` extra these routes (and ``diarized_json`` transcriptions)
answer 501 ``NotInstalledError`` naming ``pip install "vidpipe[diarize]"``.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Literal

import anyio
from fastapi import APIRouter, Body, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from vidpipe.service.errors import error_responses

__all__ = ["router"]

router = APIRouter(tags=["speakers"])

ItemId = PathParam(..., ge=1, le=2**31 - 1, description="catalog item (media) id")


class DiarizationSegment(BaseModel):
    """One speaker turn (speaches' ``DiarizationSegment``); turns may overlap."""

    start: float
    end: float
    speaker: str


class DiarizationResponse(BaseModel):
    """speaches' ``DiarizationResponse``: the audio's duration (s) and its turns."""

    duration: float
    segments: list[DiarizationSegment]


def _rttm_id(filename: str | None) -> str:
    stem = Path(filename or "").stem
    stem = re.sub(r"\s+", "_", stem).strip("_")
    return stem[:100] or "audio"


def _rttm_label(label: str) -> str:
    return re.sub(r"\s+", "_", label.strip())


@router.post(
    "/v1/audio/diarization",
    summary="Who speaks when (speaches-compatible)",
    response_model=DiarizationResponse,
    responses={
        200: {"content": {"application/json": {}, "text/plain": {}}},
        **error_responses(400, 413, 415, 422, 501, 503),
    },
)
async def create_diarization(
    request: Request,
    file: UploadFile = File(..., description="audio or video file"),
    model: str | None = Form(None, description="accepted, any value (one pipeline)"),
    known_speaker_names: list[str] | None = Form(None, alias="known_speaker_names[]"),
    known_speaker_references: list[str] | None = Form(
        None, alias="known_speaker_references[]", description="data:audio/...;base64,..."
    ),
    response_format: Literal["json", "rttm"] = Form("json"),
    num_speakers: int | None = Form(None, ge=1, le=100),
    min_speakers: int | None = Form(None, ge=1, le=100),
    max_speakers: int | None = Form(None, ge=1, le=100),
) -> Response:
    """Speaker turns of the upload, overlap included; speakers that match a known
    speaker (a reference clip, or a voice stored with ``vidpipe speakers add``) take its
    name, the others are ``SPEAKER_00``... in order of first speech. Silence and music
    give no turns.

    Raises:
        NotInstalledError: the ``diarize`` extra is missing (501).
    """
    from vidpipe.pipeline.stages.diarize import diarize_audio
    from vidpipe.service.openai_api import _config, _decode, _save_upload, model_limiter
    from vidpipe.service.voices import known_voices, require_diarization

    await require_diarization()
    cfg = _config(request)
    catalog = getattr(request.app.state, "catalog", None)
    path = await _save_upload(request, file)
    try:
        async with model_limiter(request):

            def work():
                known = known_voices(
                    catalog,
                    known_speaker_names,
                    known_speaker_references,
                    Path(cfg.home) / "tmp",
                    int(cfg.max_audio_bytes),
                )
                audio = _decode(path)
                result, _ = diarize_audio(
                    audio,
                    known,
                    num_speakers=num_speakers,
                    min_speakers=min_speakers,
                    max_speakers=max_speakers,
                )
                return result

            result = await anyio.to_thread.run_sync(work)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
    if response_format == "rttm":
        from vidpipe.speakers import format_rttm

        turns = [t.model_copy(update={"speaker": _rttm_label(t.speaker)}) for t in result.turns]
        return PlainTextResponse(format_rttm(turns, _rttm_id(file.filename)))
    body = DiarizationResponse(
        duration=round(result.duration, 3),
        segments=[
            DiarizationSegment(start=t.start, end=t.end, speaker=t.speaker) for t in result.turns
        ],
    )
    return JSONResponse(body.model_dump())


# --------------------------------------------------------------------------- items


class ItemSpeakerOut(BaseModel):
    """A speaker of an item: ``label`` (as diarized), ``name`` (given, or null),
    ``speaker`` (what transcripts show), ``seconds`` of speech, ``segments``."""

    label: str
    name: str | None = None
    speaker: str
    seconds: float | None = None
    segments: int = 0


class ItemSpeakersOut(BaseModel):
    media_id: int
    speakers: list[ItemSpeakerOut]


def _catalog(request: Request):
    return request.app.state.catalog


@router.get(
    "/v1/items/{item_id}/speakers",
    response_model=ItemSpeakersOut,
    summary="An item's speakers",
    responses=error_responses(404, 422),
)
async def get_item_speakers(request: Request, item_id: int = ItemId) -> ItemSpeakersOut:
    """The item's speakers in order of first speech (empty if never diarized).

    Raises:
        NotFoundError: no such item (404).
    """
    from vidpipe.library.speakers import item_speakers

    found = await anyio.to_thread.run_sync(item_speakers, _catalog(request), item_id)
    return ItemSpeakersOut(
        media_id=item_id, speakers=[ItemSpeakerOut(**s.to_dict()) for s in found]
    )


@router.patch(
    "/v1/items/{item_id}/speakers",
    response_model=ItemSpeakersOut,
    summary="Name an item's speakers",
    responses=error_responses(400, 404, 422),
)
async def rename_item_speakers(
    request: Request,
    item_id: int = ItemId,
    names: dict[str, str | None] = Body(
        ...,
        examples=[{"SPEAKER_00": "Alice", "SPEAKER_01": "Bob"}],
        description="label (or current name) -> new name; null or '' goes back to the label",
    ),
) -> ItemSpeakersOut:
    """Name speakers of one item (all or nothing); its transcript, exports, turns and
    search hits show the names from then on.

    Raises:
        NotFoundError: no such item (404).
        InputError: no such speaker in the item (its speakers are named), a bad name,
            or the item was never diarized (400).
    """
    from vidpipe.library.speakers import rename_speakers

    found = await anyio.to_thread.run_sync(rename_speakers, _catalog(request), item_id, names)
    return ItemSpeakersOut(
        media_id=item_id, speakers=[ItemSpeakerOut(**s.to_dict()) for s in found]
    )
