"""The stage cache: a stage's output kept by (stage, version, options hash, input hash).

- ``stage_cache``: one row per stage output and folder (:mod:`vidpipe.pipeline.cache`):
  ``stage`` (a stage name of :mod:`vidpipe.pipeline.registry`), ``version`` (the
  stage's), ``options_hash`` (:func:`vidpipe.hashing.options_hash` of its validated
  options) and ``options`` (that JSON), ``input_hash`` (the same hash over what it
  worked on, files by content), ``work_dir`` (the absolute folder its files are in),
  ``result`` (JSON), ``artifacts`` (JSON list of ``[path relative to work_dir, size in
  bytes, mtime in ns]``), ``created_at`` (UTC). One row per key and folder.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stage_cache",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("options_hash", sa.String(64), nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("work_dir", sa.Text, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("artifacts", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_stage_cache_key", "stage_cache", ["stage", "version", "options_hash", "input_hash"]
    )


def downgrade() -> None:
    op.drop_index("ix_stage_cache_key", table_name="stage_cache")
    op.drop_table("stage_cache")
