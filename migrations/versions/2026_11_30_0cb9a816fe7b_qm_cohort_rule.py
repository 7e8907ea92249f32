"""qm indicator definitions: entity-specific denominators of P1–P3 as a versioned rule (cohort_rule)

Revision ID: 0cb9a816fe7b
Revises: a257be258064
Create Date: 2026-11-30 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0cb9a816fe7b"
down_revision: str | None = "a257be258064"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("qm_indicator_definition") as batch:
        batch.add_column(sa.Column("cohort_rule", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("qm_indicator_definition") as batch:
        batch.drop_column("cohort_rule")
