"""Speakers in the catalog: each item's speakers and turns, names given to them, and
known voices (voiceprints).

An item's transcript keeps the speaker *labels* diarization gave (``SPEAKER_00``..., or
a known voice's name when one matched) on its segments and words; the names a user
gives (:func:`rename_speakers`: ``vidpipe speakers rename``, ``PATCH
/v1/items/{id}/speakers``) live in one ``item_speakers`` row per label, so every reader
that goes through :meth:`~vidpipe.library.catalog.Catalog.get_transcript` (exports, the
transcript route) and :func:`vidpipe.library.search.search` shows the name, and a
second rename of the same label replaces the first. Two labels may take the same name
(diarization split one person in two).

Known voices (:func:`add_voiceprint`, :func:`voiceprints`, :func:`remove_voiceprint`)
are :class:`vidpipe.speakers.Voiceprint` vectors stored by name; diarization names a
speaker after one when their cosine similarity reaches
:data:`vidpipe.speakers.MATCH_THRESHOLD` (0.88, measured on the dev set).

Nothing here loads a model: enrolment (:func:`vidpipe.speakers.enroll`) is the
caller's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vidpipe.errors import ConflictError, InputError, NotFoundError
from vidpipe.library.models import (
    ItemSpeakerRow,
    Media,
    SegmentRow,
    SpeakerTurnRow,
    TranscriptRow,
    VoiceprintRow,
    WordRow,
    utcnow,
)
from vidpipe.library.speaker_rows import item_labels, speaker_names, sync_item_speakers
from vidpipe.types import SpeakerTurn

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.library.catalog import Catalog
    from vidpipe.speakers.voiceprints import Voiceprint

__all__ = [
    "MAX_NAME_CHARS",
    "ItemSpeaker",
    "StoredVoice",
    "add_voiceprint",
    "check_name",
    "item_labels",
    "item_speakers",
    "item_turns",
    "remove_voiceprint",
    "rename_speakers",
    "save_item_diarization",
    "speaker_names",
    "stored_voices",
    "sync_item_speakers",
    "voiceprints",
]

MAX_NAME_CHARS = 100
"""Longest speaker or voice name, in characters."""
ENCODER = "resemblyzer-ge2e"
"""The embedding model voiceprints are made with (:mod:`vidpipe.speakers.embedding`)."""


def check_name(name: object, what: str = "speaker name") -> str:
    """``name`` stripped, if it is a usable name: 1-100 characters, one line, no control
    characters.

    Raises:
        InputError: empty, too long, or with a line break or control character.
    """
    if not isinstance(name, str):
        raise InputError(f"a {what} must be text, not {type(name).__name__}")
    text = name.strip()
    if not text:
        raise InputError(f"a {what} cannot be empty")
    if len(text) > MAX_NAME_CHARS:
        raise InputError(f"a {what} has at most {MAX_NAME_CHARS} characters, not {len(text)}")
    if any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029" for ch in text):
        raise InputError(f"a {what} must be one line without control characters")
    return text


# --------------------------------------------------------------------------- items


@dataclass(frozen=True)
class ItemSpeaker:
    """One speaker of an item.

    Attributes:
        label: the diarized label (``SPEAKER_00`` or a known voice's name).
        name: the name given to it, or None.
        speaker: what readers show: ``name`` or else ``label``.
        seconds: speaking time from the stored turns (overlap counted for each
            speaker), or from its words when no turns are stored; None if neither.
        segments: transcript segments attributed to it.
    """

    label: str
    name: str | None
    speaker: str
    seconds: float | None
    segments: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def save_item_diarization(
    catalog: Catalog,
    media_id: int,
    turns: Iterable[SpeakerTurn],
    embeddings: Mapping[str, Any] | None = None,
) -> list[str]:
    """Store the diarization of ``media_id``: its turns (replacing any stored before)
    and its speakers with their centroid embeddings.

    Speakers keep names given earlier under the same label; labels no longer present
    (in the turns or the stored transcript) are dropped.

    Args:
        turns: speaker turns in seconds (:attr:`vidpipe.speakers.Diarization.turns`).
        embeddings: label -> 256-d centroid (:attr:`Diarization.embeddings`), optional.

    Returns:
        The labels stored, in order of first speech.

    Raises:
        NotFoundError: no such item.
        CatalogError: the database cannot be written.
    """
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    labels = list(dict.fromkeys(t.speaker for t in ordered))
    embeddings = dict(embeddings or {})
    with catalog.session() as s:
        if s.get(Media, media_id) is None:
            raise NotFoundError(f"no item with id {media_id} in the catalog", "see vidpipe report")
        s.execute(delete(SpeakerTurnRow).where(SpeakerTurnRow.media_id == media_id))
        for t in ordered:
            s.add(SpeakerTurnRow(media_id=media_id, start=t.start, end=t.end, label=t.speaker))
        in_transcript = _transcript_labels(s, media_id)
        sync_item_speakers(s, media_id, labels + [x for x in in_transcript if x not in labels])
        for row in s.scalars(select(ItemSpeakerRow).where(ItemSpeakerRow.media_id == media_id)):
            vec = embeddings.get(row.label)
            if vec is not None:
                row.vector = np.ascontiguousarray(vec, dtype="<f4").reshape(-1).tobytes()
                row.updated_at = utcnow()
    return labels


def _transcript_labels(s: Session, media_id: int) -> list[str]:
    """Speaker labels on the stored transcript's segments, in segment order."""
    q = (
        select(SegmentRow.speaker)
        .join(TranscriptRow, TranscriptRow.id == SegmentRow.transcript_id)
        .where(TranscriptRow.media_id == media_id, SegmentRow.speaker.is_not(None))
        .order_by(SegmentRow.idx)
    )
    return list(dict.fromkeys(s.scalars(q)))


def item_speakers(catalog: Catalog, media_id: int) -> list[ItemSpeaker]:
    """The speakers of ``media_id`` in order of first speech (empty when it was never
    diarized).

    Raises:
        NotFoundError: no such item.
    """
    with catalog.session(write=False) as s:
        if s.get(Media, media_id) is None:
            raise NotFoundError(f"no item with id {media_id} in the catalog", "see vidpipe report")
        return _item_speakers(s, media_id)


def _item_speakers(s: Session, media_id: int) -> list[ItemSpeaker]:
    rows = list(
        s.scalars(
            select(ItemSpeakerRow)
            .where(ItemSpeakerRow.media_id == media_id)
            .order_by(ItemSpeakerRow.position, ItemSpeakerRow.id)
        )
    )
    if not rows:
        return []
    t = SpeakerTurnRow
    turn_secs = dict(
        s.execute(
            select(t.label, func.sum(t.end - t.start))
            .where(t.media_id == media_id)
            .group_by(t.label)
        ).all()
    )
    seg_q = (
        select(SegmentRow.speaker, func.count(SegmentRow.id))
        .join(TranscriptRow, TranscriptRow.id == SegmentRow.transcript_id)
        .where(TranscriptRow.media_id == media_id)
        .group_by(SegmentRow.speaker)
    )
    seg_counts = dict(s.execute(seg_q).all())
    word_secs: dict[str, float] = {}
    if not turn_secs:
        word_q = (
            select(WordRow.speaker, func.sum(WordRow.end - WordRow.start))
            .join(SegmentRow, SegmentRow.id == WordRow.segment_id)
            .join(TranscriptRow, TranscriptRow.id == SegmentRow.transcript_id)
            .where(TranscriptRow.media_id == media_id)
            .group_by(WordRow.speaker)
        )
        word_secs = {k: v for k, v in s.execute(word_q).all() if k is not None}
    out = []
    for r in rows:
        secs = turn_secs.get(r.label, word_secs.get(r.label))
        out.append(
            ItemSpeaker(
                label=r.label,
                name=r.name,
                speaker=r.name or r.label,
                seconds=None if secs is None else round(float(secs), 3),
                segments=int(seg_counts.get(r.label, 0)),
            )
        )
    return out


def item_turns(catalog: Catalog, media_id: int) -> list[SpeakerTurn]:
    """The stored turns of ``media_id`` by start, each speaker shown by its name when it
    was given one (empty when it was never diarized)."""
    with catalog.session(write=False) as s:
        names = speaker_names(s, media_id)
        rows = s.execute(
            select(SpeakerTurnRow.start, SpeakerTurnRow.end, SpeakerTurnRow.label)
            .where(SpeakerTurnRow.media_id == media_id)
            .order_by(SpeakerTurnRow.start, SpeakerTurnRow.id)
        ).all()
    return [SpeakerTurn(start=a, end=b, speaker=names.get(lab, lab)) for a, b, lab in rows]


def rename_speakers(
    catalog: Catalog, media_id: int, names: Mapping[str, str | None]
) -> list[ItemSpeaker]:
    """Give speakers of ``media_id`` names (all or nothing).

    Each key is a speaker's label (``SPEAKER_00``) or the name it shows now; each value
    the new name, or ``None``/``""`` to go back to the label. The transcript's segments
    and words, exports, the stored turns and search hits show the new names from then on.

    Args:
        names: ``{"SPEAKER_00": "Alice", ...}`` (at most 100 entries).

    Returns:
        The item's speakers after the change (:func:`item_speakers`).

    Raises:
        NotFoundError: no such item.
        InputError: nothing to rename, a key that is no speaker of the item (the item's
            speakers are named in the message), a bad name (:func:`check_name`), or the
            item was never diarized.
    """
    if not isinstance(names, Mapping) or not names:
        raise InputError("nothing to rename", 'give {"SPEAKER_00": "Alice"}')
    if len(names) > 100:
        raise InputError(f"at most 100 speakers at once, not {len(names)}")
    wanted: dict[str, str | None] = {}
    for key, value in names.items():
        if not isinstance(key, str) or not key.strip():
            raise InputError("a speaker to rename must be a non-empty label")
        wanted[key.strip()] = None if value is None or (
            isinstance(value, str) and not value.strip()
        ) else check_name(value)  # fmt: skip
    with catalog.session() as s:
        if s.get(Media, media_id) is None:
            raise NotFoundError(f"no item with id {media_id} in the catalog", "see vidpipe report")
        rows = list(
            s.scalars(
                select(ItemSpeakerRow)
                .where(ItemSpeakerRow.media_id == media_id)
                .order_by(ItemSpeakerRow.position)
            )
        )
        if not rows:
            raise InputError(
                f"item {media_id} has no speakers", "diarize it first (transcribe --diarize)"
            )
        by_label = {r.label: r for r in rows}
        updates: list[tuple[ItemSpeakerRow, str | None]] = []
        for key, new in wanted.items():
            hits = [by_label[key]] if key in by_label else [r for r in rows if r.name == key]
            if not hits:
                known = ", ".join(r.label + (f" ({r.name})" if r.name else "") for r in rows)
                raise InputError(
                    f"item {media_id} has no speaker '{key}'", f"its speakers: {known}"
                )
            updates.extend((r, new) for r in hits)
        for row, new in updates:
            row.name = None if new == row.label else new
            row.updated_at = utcnow()
        s.flush()
        return _item_speakers(s, media_id)


# --------------------------------------------------------------------------- voices


@dataclass(frozen=True)
class StoredVoice:
    """A known voice as stored: ``name``, ``clips`` and ``seconds`` (total length of the
    clips it was made from), ``dim``, ``encoder``, ``created_at``/``updated_at`` (UTC)."""

    name: str
    clips: int
    seconds: float | None
    dim: int
    encoder: str
    created_at: datetime | None
    updated_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("created_at", "updated_at"):
            d[k] = d[k].isoformat() if d[k] is not None else None
        return d


def add_voiceprint(
    catalog: Catalog, voice: Voiceprint, *, seconds: float | None = None, replace: bool = False
) -> StoredVoice:
    """Store a known voice under its name.

    Args:
        voice: from :func:`vidpipe.speakers.enroll`.
        seconds: total length of the clips it was made from.
        replace: replace a voice of the same name (else that is an error).

    Raises:
        InputError: a bad name (:func:`check_name`).
        ConflictError: a voice of that name exists and ``replace`` is false.
        CatalogError: the database cannot be written.
    """
    name = check_name(voice.name, "voice name")
    vec = np.ascontiguousarray(voice.vector, dtype="<f4").reshape(-1)
    with catalog.session() as s:
        catalog.serialize(s, "voiceprints")
        row = s.scalars(select(VoiceprintRow).where(VoiceprintRow.name == name)).first()
        if row is not None and not replace:
            raise ConflictError(
                f"a voice named '{name}' is already known",
                f"use --replace, or vidpipe speakers remove '{name}' first",
            )
        if row is None:
            row = VoiceprintRow(name=name, created_at=utcnow())
            s.add(row)
        row.dim = int(vec.size)
        row.vector = vec.tobytes()
        row.clips = int(voice.clips)
        row.seconds = None if seconds is None else round(float(seconds), 3)
        row.encoder = ENCODER
        row.updated_at = utcnow()
        s.flush()
        return _stored(row)


def _stored(row: VoiceprintRow) -> StoredVoice:
    return StoredVoice(
        name=row.name,
        clips=row.clips,
        seconds=row.seconds,
        dim=row.dim,
        encoder=row.encoder,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def stored_voices(catalog: Catalog) -> list[StoredVoice]:
    """The known voices, by name (vectors not read)."""
    with catalog.session(write=False) as s:
        rows = s.scalars(select(VoiceprintRow).order_by(VoiceprintRow.name))
        return [_stored(r) for r in rows]


def voiceprints(catalog: Catalog) -> list[Voiceprint]:
    """The known voices as :class:`vidpipe.speakers.Voiceprint` (for
    :func:`vidpipe.speakers.name_speakers`), by name."""
    from vidpipe.speakers.voiceprints import Voiceprint

    with catalog.session(write=False) as s:
        rows = list(s.scalars(select(VoiceprintRow).order_by(VoiceprintRow.name)))
    return [
        Voiceprint(name=r.name, vector=np.frombuffer(r.vector, dtype="<f4").copy(), clips=r.clips)
        for r in rows
    ]


def remove_voiceprint(catalog: Catalog, name: str) -> None:
    """Forget the known voice ``name``.

    Raises:
        NotFoundError: no voice of that name (the known names are listed).
    """
    name = name.strip()
    with catalog.session() as s:
        n = s.execute(delete(VoiceprintRow).where(VoiceprintRow.name == name)).rowcount
        if not n:
            known = list(s.scalars(select(VoiceprintRow.name).order_by(VoiceprintRow.name)))
            raise NotFoundError(
                f"no known voice named '{name}'",
                f"known: {', '.join(known)}" if known else "none are known (vidpipe speakers add)",
            )
