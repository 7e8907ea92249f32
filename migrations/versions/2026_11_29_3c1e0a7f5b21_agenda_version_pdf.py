"""agenda version keeps its PDF and SHA-256 (issue 12, point 8)

Revision ID: 3c1e0a7f5b21
Revises: c7a22ca6edfa
Create Date: 2026-11-29 22:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c1e0a7f5b21"
down_revision: str | None = "c7a22ca6edfa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Versions frozen before this revision keep NULL and are rendered and stored at their first download.
    with op.batch_alter_table("agenda_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pdf", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("pdf_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agenda_version", schema=None) as batch_op:
        batch_op.drop_column("pdf_sha256")
        batch_op.drop_column("pdf")
