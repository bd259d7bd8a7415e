"""Transcript revisions: edits made by people, the machine's transcript kept.

- ``transcript_revisions``: one row per revision of an item's transcript. ``number`` 1
  is the machine's transcript (``kind`` ``machine``), written when the item is first
  edited; each edit (``PATCH /v1/items/{id}/transcript``, :mod:`vidpipe.library.
  revisions`) adds the next number (``kind`` ``edit``) with the segment ids it changed
  (``changed``, JSON list). ``data`` is the whole transcript of that revision (the
  :class:`vidpipe.types.Transcript` as JSON, speakers as their diarized labels).
  Unique on ``(media_id, number)``. The ``segments``/``words`` rows always hold the
  latest revision (search, exports, subtitles and summaries read them); a new machine
  transcript (transcribing the item again) deletes the item's revisions.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transcript_revisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "media_id", sa.Integer, sa.ForeignKey("media.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("changed", sa.JSON, nullable=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("media_id", "number", name="uq_transcript_revisions_media_number"),
    )


def downgrade() -> None:
    op.drop_table("transcript_revisions")
