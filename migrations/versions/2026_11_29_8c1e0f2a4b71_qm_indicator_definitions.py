"""qm indicator definitions, shipped with the model set of shared/domain/qm.md

Indicator definitions are configuration, versioned and append-only (issue 11): version 1 of each indicator is the
model set below (board_id NULL = default for every board); admins add versions in the UI.

Revision ID: 8c1e0f2a4b71
Revises: 5b723572f480
Create Date: 2026-11-29 22:00:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8c1e0f2a4b71"
down_revision: str | None = "5b723572f480"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCE = "Modellsatz nach DKG/OnkoZert-Kennzahlenbögen (qm.md); aktuellen Erhebungsbogen prüfen"
#: (code, name, numerator, denominator, target %, direction, working days, source)
MODEL_SET = [
    ("P1", "Prätherapeutische Vorstellung",
     "Primärfälle mit prätherapeutischer Vorstellung (praeth) vor Therapiebeginn, Konferenzdatum in der Episode",
     "Primärfälle (Darm: Rektum-Ca und Kolon-Ca UICC IV, nur elektiv; Prostata: Urologie oder Strahlentherapie; "
     "sonst alle Primärfälle)", None, "at_least", None, SOURCE),
    ("P2", "Postoperative/-therapeutische Vorstellung",
     "Operierte Primärfälle mit Vorstellung postop/postth nach der Operation",
     "Operierte Primärfälle (Lunge: Stadium IB–IIIB; Prostata: > pT3a, R1 oder pN+)", None, "at_least", None, SOURCE),
    ("P3", "Vorstellung bei Rezidiv/Metastasen",
     "Patienten mit erstem Lokalrezidiv und/oder Fernmetastase im Jahr, vorgestellt",
     "Solche Patienten; frühestes Ereignis im Jahr; primär M1 ausgeschlossen", None, "at_least", None, SOURCE),
    ("R1", "Abweichung von der Empfehlung", "Vorgestellte Fälle mit dokumentierter Abweichung",
     "Vorgestellte Fälle mit bekannter Umsetzung", None, "at_most", None, SOURCE),
    ("A1", "Quorum erfüllt",
     "Durchgeführte Sitzungen, in denen jede Pflicht-Fachrichtungsgruppe anwesend war (Vertretungen zählen)",
     "Durchgeführte Sitzungen", 100.0, "at_least", None, SOURCE),
    ("A2", "Teilnahme je Fachrichtung", "Durchgeführte Sitzungen mit mindestens einer Person der Fachrichtung",
     "Durchgeführte Sitzungen", None, "at_least", None, SOURCE),
    ("H1", "Sitzungen durchgeführt", "Durchgeführte Sitzungen",
     "Geplante Sitzungen (Serie ohne Feiertagsausnahmen)", None, "at_least", None, SOURCE),
    ("Q1", "Protokoll zeitnah", "Fallprotokolle, unterschrieben höchstens N Arbeitstage nach der Sitzung",
     "Besprochene Fälle", None, "at_least", 5, SOURCE + "; N = 5 Arbeitstage ist eine Vorgabe des Hauses"),
]  # fmt: skip


def upgrade() -> None:
    table = op.create_table(
        "qm_indicator_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "code",
            sa.Enum("P1", "P2", "P3", "R1", "A1", "A2", "H1", "Q1", name="indicator_code", native_enum=False, length=4),
            nullable=False,
        ),
        sa.Column("board_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("numerator", sa.Text(), nullable=False),
        sa.Column("denominator", sa.Text(), nullable=False),
        sa.Column("target_percent", sa.Float(), nullable=True),
        sa.Column(
            "target_direction",
            sa.Enum("at_least", "at_most", name="target_direction", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("working_days", sa.Integer(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("version >= 1", name=op.f("ck_qm_indicator_definition_version_positive")),
        sa.CheckConstraint(
            "target_percent IS NULL OR (target_percent >= 0 AND target_percent <= 100)",
            name=op.f("ck_qm_indicator_definition_target_range"),
        ),
        sa.CheckConstraint(
            "working_days IS NULL OR working_days BETWEEN 0 AND 60",
            name=op.f("ck_qm_indicator_definition_working_days_range"),
        ),
        sa.ForeignKeyConstraint(
            ["board_id"], ["board.id"], name=op.f("fk_qm_indicator_definition_board_id_board"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_qm_indicator_definition_created_by_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qm_indicator_definition")),
        sa.UniqueConstraint(
            "code", "board_id", "version", name=op.f("uq_qm_indicator_definition_code_board_id_version")
        ),
    )
    op.create_index("ix_qm_indicator_definition_code", "qm_indicator_definition", ["code", "board_id"], unique=False)
    shipped = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
    op.bulk_insert(
        table,
        [
            {
                "code": code, "board_id": None, "version": 1, "name": name, "numerator": num, "denominator": den,
                "target_percent": target, "target_direction": direction, "working_days": days, "source": source,
                "reason": None, "created_at": shipped, "created_by_id": None,
            }
            for code, name, num, den, target, direction, days, source in MODEL_SET
        ],
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_qm_indicator_definition_code", table_name="qm_indicator_definition")
    op.drop_table("qm_indicator_definition")
