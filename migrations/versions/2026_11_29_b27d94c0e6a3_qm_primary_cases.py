"""qm primary cases: the imported denominator of the presentation quotas P1-P3

Revision ID: b27d94c0e6a3
Revises: 8c1e0f2a4b71
Create Date: 2026-11-29 22:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b27d94c0e6a3"
down_revision: str | None = "8c1e0f2a4b71"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qm_primary_case_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name=op.f("ck_qm_primary_case_import_year_range")),
        sa.ForeignKeyConstraint(
            ["board_id"], ["board.id"], name=op.f("fk_qm_primary_case_import_board_id_board"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["imported_by_id"],
            ["user_account.id"],
            name=op.f("fk_qm_primary_case_import_imported_by_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qm_primary_case_import")),
    )
    op.create_index(
        "ix_qm_primary_case_import_board_year", "qm_primary_case_import", ["board_id", "year"], unique=False
    )
    op.create_table(
        "qm_primary_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("patient_number", sa.String(length=40), nullable=False),
        sa.Column("icd10_code", sa.String(length=10), nullable=False),
        sa.Column("diagnosis_date", sa.Date(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("is_operated", sa.Boolean(), nullable=False),
        sa.Column("operation_date", sa.Date(), nullable=True),
        sa.Column("therapy_start", sa.Date(), nullable=True),
        sa.Column("uicc_stage", sa.String(length=20), nullable=False),
        sa.Column("recurrence_date", sa.Date(), nullable=True),
        sa.Column("is_emergency", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["qm_primary_case_import.id"],
            name=op.f("fk_qm_primary_case_import_id_qm_primary_case_import"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qm_primary_case")),
    )
    op.create_index("ix_qm_primary_case_import", "qm_primary_case", ["import_id"], unique=False)
    op.create_index(op.f("ix_qm_primary_case_patient_number"), "qm_primary_case", ["patient_number"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_qm_primary_case_patient_number"), table_name="qm_primary_case")
    op.drop_index("ix_qm_primary_case_import", table_name="qm_primary_case")
    op.drop_table("qm_primary_case")
    op.drop_index("ix_qm_primary_case_import_board_year", table_name="qm_primary_case_import")
    op.drop_table("qm_primary_case_import")
