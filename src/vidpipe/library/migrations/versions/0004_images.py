"""Pictures made for narrated videos: one row per chunk image.

- ``images``: the picture shown while one narration chunk is spoken
  (:mod:`vidpipe.vision.images`): the work folder it was made in (``work_dir``,
  absolute path) and/or the catalog item it belongs to (``media_id``, nullable), the
  chunk id, the image ``path``, the ``prompt`` it was made from (``NULL`` for
  folder images and video frames), the ``generator`` (``cards``, ``folder``,
  ``frames``, ``sdwebui``, ``openai``) and its size in pixels.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("media_id", sa.Integer, sa.ForeignKey("media.id", ondelete="CASCADE")),
        sa.Column("work_dir", sa.Text),
        sa.Column("chunk_id", sa.Integer, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("prompt", sa.Text),
        sa.Column("generator", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_images_media_id", "images", ["media_id"])
    op.create_index("ix_images_work_dir", "images", ["work_dir"])


def downgrade() -> None:
    op.drop_table("images")
