"""Concurrent runs: stage claims with leases, one transcript per media item.

- ``stages.owner`` (``host:pid:token`` of the process running the stage) and
  ``stages.lease_until`` (UTC; renewed while the stage runs): a ``running`` row is a
  claim that other processes respect until it expires or its process is gone.
- ``transcripts.media_id`` becomes unique. Two runs at once could store two transcripts
  for one item (search then returned each hit twice); the newest one (highest id) of
  each item is kept, the others are deleted with their segments and words first.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)

_STALE = (
    "SELECT id FROM transcripts WHERE id NOT IN (SELECT max(id) FROM transcripts GROUP BY media_id)"
)


def upgrade() -> None:
    op.add_column("stages", sa.Column("owner", sa.String(200)))
    op.add_column("stages", sa.Column("lease_until", TZ))
    # segments first so the SQLite FTS triggers remove their index entries
    op.execute(
        "DELETE FROM words WHERE segment_id IN "
        f"(SELECT id FROM segments WHERE transcript_id IN ({_STALE}))"
    )
    op.execute(f"DELETE FROM segments WHERE transcript_id IN ({_STALE})")
    op.execute(f"DELETE FROM transcripts WHERE id IN ({_STALE})")
    op.drop_index("ix_transcripts_media_id", table_name="transcripts")
    op.create_index("ix_transcripts_media_id", "transcripts", ["media_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_transcripts_media_id", table_name="transcripts")
    op.create_index("ix_transcripts_media_id", "transcripts", ["media_id"])
    with op.batch_alter_table("stages") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
