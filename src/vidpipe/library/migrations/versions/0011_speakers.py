"""Speakers: who speaks in each item, their names, the turns, and known voices.

- ``segments.speaker``, ``words.speaker``: the speaker label a segment or word was given
  by diarization (``SPEAKER_00``..., or a known voice's name when it matched), as
  diarized; ``NULL`` for transcripts without speakers. Names given later live in
  ``item_speakers`` (so a rename touches one row, not every word).
- ``item_speakers``: one row per (item, label): ``name`` (set by ``vidpipe speakers
  rename`` / ``PATCH /v1/items/{id}/speakers``, ``NULL`` until then), ``position`` (order
  of first speech), ``vector`` (the speaker's 256-d centroid embedding as little-endian
  float32 bytes, when diarization gave one). Unique on ``(media_id, label)``.
- ``speaker_turns``: the item's diarization turns (``start``/``end`` seconds, ``label``);
  turns of different speakers may overlap.
- ``voiceprints``: known voices (``vidpipe speakers add``): ``name`` (unique), ``vector``
  (256-d L2-normalised GE2E embedding, float32 bytes), ``dim``, ``clips`` (how many
  clips made it), ``seconds`` (their total length), ``encoder``.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # plain ALTER TABLE ADD COLUMN (no batch copy): the FTS5 triggers on segments stay
    op.add_column("segments", sa.Column("speaker", sa.String(200), nullable=True))
    op.add_column("words", sa.Column("speaker", sa.String(200), nullable=True))
    op.create_table(
        "item_speakers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "media_id", sa.Integer, sa.ForeignKey("media.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("media_id", "label", name="uq_item_speakers_media_label"),
    )
    op.create_table(
        "speaker_turns",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "media_id", sa.Integer, sa.ForeignKey("media.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
    )
    op.create_index("ix_speaker_turns_media_start", "speaker_turns", ["media_id", "start"])
    op.create_table(
        "voiceprints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("clips", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float),
        sa.Column("encoder", sa.String(100), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("voiceprints")
    op.drop_index("ix_speaker_turns_media_start", table_name="speaker_turns")
    op.drop_table("speaker_turns")
    op.drop_table("item_speakers")
    op.drop_column("words", "speaker")
    op.drop_column("segments", "speaker")
