"""Jobs: units of pipeline work with dependencies, leases and retries.

- ``jobs``: one row per job (:mod:`vidpipe.pipeline.jobs`): ``id`` (UUID text),
  ``kind`` (a stage name of :mod:`vidpipe.pipeline.registry`), ``params`` (the stage's
  validated options, JSON) beside ``params_hash`` (:func:`vidpipe.hashing.options_hash`)
  and ``stage_version``, ``input`` (JSON: media item id, file path, text, images,
  audio), ``status`` (``waiting``, ``queued``, ``running``, ``succeeded``, ``failed``,
  ``canceled``), ``progress`` (0..1) and ``step`` (one line), ``result`` (JSON) and
  ``artifacts`` (JSON list of paths relative to the storage root), the error
  (``error_class``, ``error_message``, ``error_hint``), ``attempts``/``max_attempts``,
  the lease (``owner`` ``host:pid:token``, ``lease_until`` UTC), ``cancel_requested``,
  ``idempotency_key`` (unique when set), created/started/finished/updated times.
- ``job_deps``: ``job_id`` depends on ``depends_on`` (``position`` keeps the order given,
  so a render job takes its images in that order).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("params_hash", sa.String(64), nullable=False),
        sa.Column("stage_version", sa.Integer, nullable=False),
        sa.Column("input", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("step", sa.Text),
        sa.Column("result", sa.JSON),
        sa.Column("artifacts", sa.JSON),
        sa.Column("error_class", sa.String(64)),
        sa.Column("error_message", sa.Text),
        sa.Column("error_hint", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("lease_until", TZ),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ),
        sa.Column("finished_at", TZ),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created_at"])
    op.create_index("ix_jobs_kind", "jobs", ["kind"])
    op.create_index("ix_jobs_created", "jobs", ["created_at", "id"])
    op.create_index("ix_jobs_idempotency_key", "jobs", ["idempotency_key"], unique=True)
    op.create_table(
        "job_deps",
        sa.Column(
            "job_id", sa.String(36), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "depends_on",
            sa.String(36),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_job_deps_depends_on", "job_deps", ["depends_on"])


def downgrade() -> None:
    op.drop_table("job_deps")
    op.drop_table("jobs")
