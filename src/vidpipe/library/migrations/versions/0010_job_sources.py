"""The source a job's chain belongs to, as an indexed column.

- ``jobs.source_id``: the catalog source (``vidpipe submit`` input line) whose chain
  the job belongs to, copied from ``input.source_id`` (``NULL`` for a job submitted on
  its own). The reaper finds with it the sources still ``pending`` whose jobs have all
  ended (the worker that ended the last one died before it updated the source) and
  settles them. Existing rows are filled from their ``input``.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("source_id", sa.Integer, nullable=True))
    op.create_index("ix_jobs_source_id", "jobs", ["source_id"])
    jobs = sa.table(
        "jobs", sa.column("id", sa.String), sa.column("input", sa.JSON), sa.column("source_id")
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(jobs.c.id, jobs.c.input)).all()
    for job_id, given in rows:
        sid = (given or {}).get("source_id") if isinstance(given, dict) else None
        if isinstance(sid, int):
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(source_id=sid))


def downgrade() -> None:
    op.drop_index("ix_jobs_source_id", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("source_id")
