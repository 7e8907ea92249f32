"""imaging received uids: a study, series or instance whose UID cannot be a key is stored under a server-generated
key; the value received is kept next to it (issue 12, point 1)

Revision ID: 94b026c538f4
Revises: c4a81e5d9f02
Create Date: 2026-11-30 00:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "94b026c538f4"
down_revision: str | None = "c4a81e5d9f02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("imaging_study", "received_study_uid"),
    ("imaging_series", "received_series_uid"),
    ("imaging_instance", "received_sop_instance_uid"),
)


def upgrade() -> None:
    for table, column in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(column, sa.Text(), nullable=True))


def downgrade() -> None:
    for table, column in reversed(COLUMNS):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
