"""mail findings: PDF findings that came by DICOM E-Mail (mail_document), case documents without an uploader;
mail_message.released_at (a released partial set waits anew) and raw_purged_at (raw mail retention)

Revision ID: 015add215a92
Revises: 0cb9a816fe7b
Create Date: 2026-11-30 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "015add215a92"
down_revision: str | None = "0cb9a816fe7b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mail_message") as batch:
        batch.add_column(sa.Column("released_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("raw_purged_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("case_document") as batch:
        batch.alter_column("uploaded_by_id", existing_type=sa.Integer(), nullable=True)
    op.create_table(
        "mail_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mail_message_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("stored_name", sa.String(length=80), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_document_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_document_id"],
            ["case_document.id"],
            name=op.f("fk_mail_document_case_document_id_case_document"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mail_message_id"],
            ["mail_message.id"],
            name=op.f("fk_mail_document_mail_message_id_mail_message"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_mail_document_partner_id_partner"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_document")),
        sa.UniqueConstraint("case_document_id", name=op.f("uq_mail_document_case_document_id")),
        sa.UniqueConstraint("stored_name", name=op.f("uq_mail_document_stored_name")),
    )
    op.create_index("ix_mail_document_mail_message_id", "mail_document", ["mail_message_id"], unique=False)
    op.create_index("ix_mail_document_study_uid", "mail_document", ["study_uid"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_mail_document_study_uid", table_name="mail_document")
    op.drop_index("ix_mail_document_mail_message_id", table_name="mail_document")
    op.drop_table("mail_document")
    # Findings that came by mail have no uploader; they go with the table that explains them.
    op.execute("DELETE FROM case_document WHERE uploaded_by_id IS NULL")
    with op.batch_alter_table("case_document") as batch:
        batch.alter_column("uploaded_by_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("mail_message") as batch:
        batch.drop_column("raw_purged_at")
        batch.drop_column("released_at")
