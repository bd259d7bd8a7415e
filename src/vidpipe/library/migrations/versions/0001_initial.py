"""Initial catalog schema: sources, media, stages, failures, transcripts, segments, words.

Full-text search: SQLite gets an FTS5 table ``segments_fts`` (external content over
``segments.search_text``) kept in sync by triggers; PostgreSQL gets a generated
``segments.search_tsv`` column (``to_tsvector('simple', search_text)``) with a GIN index.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("duration", sa.Float),
        sa.Column("probe", sa.JSON),
        sa.Column("format", sa.String(128)),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("video_codec", sa.String(64)),
        sa.Column("audio_codec", sa.String(64)),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("list_path", sa.Text),
        sa.Column("line", sa.Integer),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("media_id", sa.Integer, sa.ForeignKey("media.id", ondelete="SET NULL")),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_sources_position", "sources", ["position"])
    op.create_index("ix_sources_state", "sources", ["state"])
    op.create_index("ix_sources_media_id", "sources", ["media_id"])
    op.create_table(
        "stages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "media_id",
            sa.Integer,
            sa.ForeignKey("media.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("options_hash", sa.String(64)),
        sa.Column("started_at", TZ),
        sa.Column("finished_at", TZ),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("media_id", "stage", name="uq_stages_media_stage"),
    )
    op.create_table(
        "failures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_id", sa.Integer, sa.ForeignKey("sources.id", ondelete="CASCADE")),
        sa.Column("media_id", sa.Integer, sa.ForeignKey("media.id", ondelete="CASCADE")),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("error_class", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_at", TZ, nullable=False),
        sa.Column("last_at", TZ, nullable=False),
    )
    op.create_index("ix_failures_source_id", "failures", ["source_id"])
    op.create_index("ix_failures_media_id", "failures", ["media_id"])
    op.create_table(
        "transcripts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "media_id",
            sa.Integer,
            sa.ForeignKey("media.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("language", sa.String(16)),
        sa.Column("language_probability", sa.Float),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("model", sa.Text),
        sa.Column("options_hash", sa.String(64)),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_transcripts_media_id", "transcripts", ["media_id"])
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "transcript_id",
            sa.Integer,
            sa.ForeignKey("transcripts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("search_text", sa.Text, nullable=False),
    )
    op.create_index("ix_segments_transcript_idx", "segments", ["transcript_id", "idx"])
    op.create_table(
        "words",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "segment_id",
            sa.Integer,
            sa.ForeignKey("segments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("word", sa.Text, nullable=False),
        sa.Column("probability", sa.Float),
    )
    op.create_index("ix_words_segment_idx", "words", ["segment_id", "idx"])

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE segments_fts USING fts5("
            "search_text, content='segments', content_rowid='id', "
            "tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute(
            "CREATE TRIGGER segments_fts_ai AFTER INSERT ON segments BEGIN "
            "INSERT INTO segments_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER segments_fts_ad AFTER DELETE ON segments BEGIN "
            "INSERT INTO segments_fts(segments_fts, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER segments_fts_au AFTER UPDATE ON segments BEGIN "
            "INSERT INTO segments_fts(segments_fts, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); "
            "INSERT INTO segments_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
    elif dialect == "postgresql":
        op.execute(
            "ALTER TABLE segments ADD COLUMN search_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED"
        )
        op.execute("CREATE INDEX ix_segments_search_tsv ON segments USING GIN (search_tsv)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trig in ("segments_fts_ai", "segments_fts_ad", "segments_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trig}")
        op.execute("DROP TABLE IF EXISTS segments_fts")
    for table in ("words", "segments", "transcripts", "failures", "stages", "sources", "media"):
        op.drop_table(table)
