"""cases, partners, agenda versions

Revision ID: 1a3135776141
Revises: d7d6709f53ed
Create Date: 2026-11-22 04:47:45.250498
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1a3135776141"
down_revision: str | None = "d7d6709f53ed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("quiet_period_seconds", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quiet_period_seconds BETWEEN 5 AND 86400", name=op.f("ck_partner_quiet_period_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner")),
        sa.UniqueConstraint("name", name=op.f("uq_partner_name")),
    )
    op.create_table(
        "checklist_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=30), nullable=True),
        sa.ForeignKeyConstraint(
            ["board_id"], ["board.id"], name=op.f("fk_checklist_item_board_id_board"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_item")),
        sa.UniqueConstraint("board_id", "position", name=op.f("uq_checklist_item_board_id_position")),
    )
    op.create_table(
        "agenda_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["conference_session.id"],
            name=op.f("fk_agenda_version_session_id_conference_session"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_version")),
        sa.UniqueConstraint("session_id", "version", name=op.f("uq_agenda_version_session_id_version")),
    )
    op.create_table(
        "case_registration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("icd10_code", sa.String(length=10), nullable=False),
        sa.Column("icd10_text", sa.String(length=300), nullable=False),
        sa.Column("icdo_morphology", sa.String(length=10), nullable=True),
        sa.Column("tnm", sa.String(length=100), nullable=True),
        sa.Column("ecog", sa.Integer(), nullable=True),
        sa.Column(
            "conference_type",
            sa.Enum("praeth", "postop", "postth", "ther", name="conference_type", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("registered_by_id", sa.Integer(), nullable=False),
        sa.Column("presenter_id", sa.Integer(), nullable=True),
        sa.Column("referring_partner_id", sa.Integer(), nullable=True),
        sa.Column("accession_number", sa.String(length=64), nullable=True),
        sa.Column("imaging_expected", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "registered", "complete", "discussed", "withdrawn", name="case_status", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("is_late", sa.Boolean(), nullable=False),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status <> 'withdrawn' OR withdraw_reason IS NOT NULL",
            name=op.f("ck_case_registration_withdraw_has_reason"),
        ),
        sa.CheckConstraint("ecog IS NULL OR ecog BETWEEN 0 AND 5", name=op.f("ck_case_registration_ecog_range")),
        sa.ForeignKeyConstraint(
            ["board_id"], ["board.id"], name=op.f("fk_case_registration_board_id_board"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_case_registration_patient_id_patient"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["presenter_id"],
            ["user_account.id"],
            name=op.f("fk_case_registration_presenter_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["referring_partner_id"],
            ["partner.id"],
            name=op.f("fk_case_registration_referring_partner_id_partner"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["registered_by_id"],
            ["user_account.id"],
            name=op.f("fk_case_registration_registered_by_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["conference_session.id"],
            name=op.f("fk_case_registration_session_id_conference_session"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_registration")),
    )
    with op.batch_alter_table("case_registration", schema=None) as batch_op:
        batch_op.create_index("ix_case_registration_patient", ["patient_id"], unique=False)
        batch_op.create_index("ix_case_registration_session_position", ["session_id", "position"], unique=False)

    op.create_table(
        "case_checklist_mark",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("marked_by_id", sa.Integer(), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_registration.id"],
            name=op.f("fk_case_checklist_mark_case_id_case_registration"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["checklist_item.id"],
            name=op.f("fk_case_checklist_mark_item_id_checklist_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["marked_by_id"],
            ["user_account.id"],
            name=op.f("fk_case_checklist_mark_marked_by_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("case_id", "item_id", name=op.f("pk_case_checklist_mark")),
    )
    op.create_table(
        "case_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("finding", "pathology", "letter", "other", name="document_kind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("stored_name", sa.String(length=80), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_registration.id"],
            name=op.f("fk_case_document_case_id_case_registration"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["user_account.id"],
            name=op.f("fk_case_document_uploaded_by_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_document")),
        sa.UniqueConstraint("stored_name", name=op.f("uq_case_document_stored_name")),
    )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sa.String(length=300), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("partner_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("partner_patient_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_patient_birth_date"), ["birth_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_patient_name_key"), ["name_key"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_patient_partner_id_partner"), "partner", ["partner_id"], ["id"], ondelete="RESTRICT"
        )
    _backfill_name_key()
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.alter_column("name_key", server_default=None)


def _fold(text: str) -> str:
    # frozen copy of tumorboard.patients.names.fold as of this revision
    german = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae", "Ö": "oe", "Ü": "ue", "ẞ": "ss"})
    spelled = unicodedata.normalize("NFKD", text.translate(german))
    stripped = "".join(c for c in spelled if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", stripped.lower().replace("ı", "i")).split())


def _backfill_name_key() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, family_name, given_name FROM patient")).all()
    for pid, family, given in rows:
        key = f"{_fold(family)} {_fold(given)}".strip()
        conn.execute(sa.text("UPDATE patient SET name_key = :k WHERE id = :i"), {"k": key, "i": pid})


def downgrade() -> None:
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_patient_partner_id_partner"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_patient_name_key"))
        batch_op.drop_index(batch_op.f("ix_patient_birth_date"))
        batch_op.drop_column("partner_patient_id")
        batch_op.drop_column("partner_id")
        batch_op.drop_column("name_key")

    op.drop_table("case_document")
    op.drop_table("case_checklist_mark")
    with op.batch_alter_table("case_registration", schema=None) as batch_op:
        batch_op.drop_index("ix_case_registration_session_position")
        batch_op.drop_index("ix_case_registration_patient")

    op.drop_table("case_registration")
    op.drop_table("agenda_version")
    op.drop_table("checklist_item")
    op.drop_table("partner")
