"""LLM response cache: one row per (backend, model, prompt, parameters) request.

``key`` is the sha256 (hex) of the canonical JSON of backend, model, messages and
parameters (see :func:`vidpipe.text.llm.cache_key`), so a rerun of the same request
costs nothing; ``prompt_hash`` is the sha256 of the messages alone (for inspection).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "llm_cache",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("backend", sa.String(64), nullable=False),
        sa.Column("model", sa.String(256)),
        sa.Column("prompt_hash", sa.String(64)),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("llm_cache")
