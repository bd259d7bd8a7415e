"""Audio embeddings, their PCA, and the records of JSON/CSV source lists.

- ``embeddings``: one vector per (media item, encoder options): ``encoder`` (the spec,
  e.g. ``whisper:base``), ``options_hash`` (encoder, pooling, layer, stage version),
  ``pool`` (``mean``/``meanstd``), ``dim``, ``vector`` (the raw pooled vector as
  little-endian float32 bytes), ``reduced`` (the same after the encoder's PCA, float32
  bytes, ``NULL`` until a PCA is fitted) with ``pca_version``; the processing facts
  the usual script records: ``duration`` (audio seconds), ``channels`` and
  ``sample_rate`` of the source stream, ``seconds`` (decode + encode wall time).
  Unique on ``(media_id, options_hash)``.
- ``pca_models``: PCAs fitted on a collection's vectors (``vidpipe embed --fit-pca N``)
  for one ``options_hash``, numbered by ``version`` (1, 2, ... the newest is used);
  ``data`` is the ``.npz`` of mean, components and variances (no pickle).
- ``sources.record_id`` (the ``--id-field`` value of a JSON/JSONL/CSV record) and
  ``sources.meta`` (every other field of the record, JSON).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "embeddings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "media_id",
            sa.Integer,
            sa.ForeignKey("media.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("encoder", sa.String(300), nullable=False),
        sa.Column("options_hash", sa.String(64), nullable=False),
        sa.Column("pool", sa.String(16), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("reduced", sa.LargeBinary),
        sa.Column("pca_version", sa.Integer),
        sa.Column("duration", sa.Float),
        sa.Column("channels", sa.Integer),
        sa.Column("sample_rate", sa.Integer),
        sa.Column("seconds", sa.Float),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("media_id", "options_hash", name="uq_embeddings_media_options"),
    )
    op.create_index("ix_embeddings_options_hash", "embeddings", ["options_hash"])
    op.create_table(
        "pca_models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("encoder", sa.String(300), nullable=False),
        sa.Column("options_hash", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("n_components", sa.Integer, nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("n_items", sa.Integer, nullable=False),
        sa.Column("whiten", sa.Boolean, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("options_hash", "version", name="uq_pca_models_options_version"),
    )
    op.add_column("sources", sa.Column("record_id", sa.Text))
    op.add_column("sources", sa.Column("meta", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("meta")
        batch.drop_column("record_id")
    op.drop_table("pca_models")
    op.drop_table("embeddings")
