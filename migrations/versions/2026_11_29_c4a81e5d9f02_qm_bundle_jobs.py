"""qm bundle jobs: evidence bundles built by the scheduler, their progress and result

Revision ID: c4a81e5d9f02
Revises: b27d94c0e6a3
Create Date: 2026-11-29 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4a81e5d9f02"
down_revision: str | None = "b27d94c0e6a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qm_bundle_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.Integer(), nullable=True),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("queued", "running", "done", "failed", name="bundle_status", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_name", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("file_name", sa.String(length=120), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.CheckConstraint("last_day >= first_day", name=op.f("ck_qm_bundle_job_period_order")),
        sa.ForeignKeyConstraint(
            ["board_id"], ["board.id"], name=op.f("fk_qm_bundle_job_board_id_board"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["user_account.id"],
            name=op.f("fk_qm_bundle_job_requested_by_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qm_bundle_job")),
    )
    op.create_index("ix_qm_bundle_job_status", "qm_bundle_job", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_qm_bundle_job_status", table_name="qm_bundle_job")
    op.drop_table("qm_bundle_job")
