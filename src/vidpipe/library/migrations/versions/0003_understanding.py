"""Understanding results: summaries, chapters, scenes and topic runs (JSON payloads).

- ``summaries``: latest summary per (media, backend, model, options_hash) as
  :class:`~vidpipe.types.Summary` JSON.
- ``chapters``: latest chapter list per (media, backend, model, options_hash) as JSON.
- ``scenes``: latest scene timeline per media (``describe``) as JSON.
- ``topic_runs`` / ``topics``: one row per ``vidpipe topics`` run and one per topic
  (name, keywords, member media ids).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _media_fk() -> sa.Column:
    return sa.Column(
        "media_id", sa.Integer, sa.ForeignKey("media.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    for name in ("summaries", "chapters"):
        op.create_table(
            name,
            sa.Column("id", sa.Integer, primary_key=True),
            _media_fk(),
            sa.Column("backend", sa.String(32), nullable=False),
            sa.Column("model", sa.Text),
            sa.Column("options_hash", sa.String(64), nullable=False),
            sa.Column("language", sa.String(16)),
            sa.Column("data", sa.JSON, nullable=False),
            sa.Column("created_at", TZ, nullable=False),
        )
        op.create_index(f"ix_{name}_media_id", name, ["media_id"])
    op.create_table(
        "scenes",
        sa.Column("id", sa.Integer, primary_key=True),
        _media_fk(),
        sa.Column("options_hash", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_scenes_media_id", "scenes", ["media_id"])
    op.create_table(
        "topic_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("n_items", sa.Integer, nullable=False),
        sa.Column("options", sa.JSON),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "topics",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "run_id",
            sa.Integer,
            sa.ForeignKey("topic_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("media_ids", sa.JSON, nullable=False),
    )
    op.create_index("ix_topics_run_id", "topics", ["run_id"])


def downgrade() -> None:
    for table in ("topics", "topic_runs", "scenes", "chapters", "summaries"):
        op.drop_table(table)
