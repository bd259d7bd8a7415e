"""Queue flags: the queue paused by a user.

- ``queue_flags``: one row per flag, ``name`` (primary key), ``value`` (JSON),
  ``updated_at``. ``paused`` (``{"paused": true, "since": ISO time}``) is set by
  ``POST /v1/queue/pause`` and cleared by ``/resume`` (:mod:`vidpipe.library.
  queue_flags`); queue workers look at it before taking the next message and take none
  while it is set (jobs already running go on).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_flags",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("queue_flags")
