"""Session-level reads and writes of the ``item_speakers`` rows, shared by
:mod:`vidpipe.library.catalog` (transcripts keep their speakers' rows in step) and
:mod:`vidpipe.library.speakers`. Functions take an open SQLAlchemy session."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidpipe.library.models import ItemSpeakerRow, utcnow

__all__ = ["item_labels", "speaker_names", "sync_item_speakers"]


def sync_item_speakers(s: Session, media_id: int, labels: Sequence[str]) -> None:
    """Make ``item_speakers`` of ``media_id`` hold exactly ``labels`` (in this order of
    first speech), inside the caller's write session ``s``. A label already there keeps
    its name and vector; rows of labels no longer present go."""
    labels = list(dict.fromkeys(labels))
    rows = {r.label: r for r in s.scalars(select(ItemSpeakerRow).where(
        ItemSpeakerRow.media_id == media_id))}  # fmt: skip
    for label, row in rows.items():
        if label not in labels:
            s.delete(row)
    for i, label in enumerate(labels):
        row = rows.get(label)
        if row is None:
            s.add(ItemSpeakerRow(media_id=media_id, label=label, position=i, updated_at=utcnow()))
        elif row.position != i:
            row.position = i
    s.flush()


def item_labels(s: Session, media_id: int) -> list[str]:
    """The speaker labels of ``media_id`` in order of first speech."""
    q = (
        select(ItemSpeakerRow.label)
        .where(ItemSpeakerRow.media_id == media_id)
        .order_by(ItemSpeakerRow.position, ItemSpeakerRow.id)
    )
    return list(s.scalars(q))


def speaker_names(s: Session, media_id: int) -> dict[str, str]:
    """``label -> name`` of the speakers of ``media_id`` that were given a name."""
    q = select(ItemSpeakerRow.label, ItemSpeakerRow.name).where(
        ItemSpeakerRow.media_id == media_id, ItemSpeakerRow.name.is_not(None)
    )
    return {label: name for label, name in s.execute(q)}
