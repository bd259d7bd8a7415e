"""The HTTP service: workers seen, uploaded files, job callbacks.

- ``workers``: one row per running queue worker (``id`` its owner ``host:pid:token``),
  ``host``, ``pid``, ``concurrency``, ``running`` (jobs now), ``started_at``, ``seen_at``
  (UTC, renewed every few seconds): ``GET /ready`` counts the workers seen lately.
- ``uploads``: files received by ``POST /v1/files``: ``id`` (``file-`` + 24 hex),
  ``name`` (the client's file name, sanitised), ``path`` (absolute), ``size`` (bytes),
  ``sha256``, ``content_type`` (sniffed from the bytes), ``created_at``.
- ``job_callbacks``: the ``callback_url`` of a job and its delivery: ``attempts``,
  ``next_at`` (no POST before then: the back-off), ``delivered_at``, ``last_error``.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("running", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("seen_at", TZ, nullable=False, index=True),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "job_callbacks",
        sa.Column(
            "job_id", sa.String(36), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", TZ),
        sa.Column("delivered_at", TZ),
        sa.Column("last_error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("job_callbacks")
    op.drop_table("uploads")
    op.drop_table("workers")
