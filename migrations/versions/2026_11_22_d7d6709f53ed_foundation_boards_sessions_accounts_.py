"""foundation: boards, sessions, accounts, audit log

Revision ID: d7d6709f53ed
Revises:
Create Date: 2026-11-22 04:31:30.844331
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d7d6709f53ed"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "board",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("short_name", sa.String(length=40), nullable=False),
        sa.Column("center", sa.String(length=200), nullable=False),
        sa.Column("rrule", sa.String(length=500), nullable=False),
        sa.Column("series_start", sa.Date(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("room", sa.String(length=200), nullable=False),
        sa.Column("video_url", sa.String(length=500), nullable=False),
        sa.Column("deadline_working_days", sa.Integer(), nullable=False),
        sa.Column("deadline_time", sa.Time(), nullable=False),
        sa.Column(
            "holiday_policy",
            sa.Enum("skip", "keep_flag", name="holiday_policy", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("deadline_working_days BETWEEN 0 AND 10", name=op.f("ck_board_deadline_days_range")),
        sa.CheckConstraint("duration_minutes BETWEEN 5 AND 720", name=op.f("ck_board_duration_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board")),
        sa.UniqueConstraint("name", name=op.f("uq_board_name")),
        sa.UniqueConstraint("short_name", name=op.f("uq_board_short_name")),
    )
    op.create_table(
        "discipline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discipline")),
        sa.UniqueConstraint("name", name=op.f("uq_discipline_name")),
    )
    op.create_table(
        "patient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_number", sa.String(length=40), nullable=False),
        sa.Column("family_name", sa.String(length=120), nullable=False),
        sa.Column("given_name", sa.String(length=120), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.Enum("M", "W", "D", "U", name="patient_sex", native_enum=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient")),
        sa.UniqueConstraint("patient_number", name=op.f("uq_patient_patient_number")),
    )
    op.create_table(
        "conference_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=120), nullable=False),
        sa.Column("series_date", sa.Date(), nullable=True),
        sa.Column("is_extra", sa.Boolean(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("original_starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "status",
            sa.Enum("planned", "cancelled", "holiday", name="session_status", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("holiday_name", sa.String(length=120), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("move_reason", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("room_override", sa.String(length=200), nullable=True),
        sa.Column("video_url_override", sa.String(length=500), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status <> 'cancelled' OR cancel_reason IS NOT NULL",
            name=op.f("ck_conference_session_cancel_has_reason"),
        ),
        sa.CheckConstraint(
            "(series_date IS NULL) = is_extra", name=op.f("ck_conference_session_extra_has_no_series_date")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_conference_session_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["board_id"], ["board.id"], name=op.f("fk_conference_session_board_id_board"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conference_session")),
        sa.UniqueConstraint("board_id", "series_date", name=op.f("uq_conference_session_board_id_series_date")),
        sa.UniqueConstraint("uid", name=op.f("uq_conference_session_uid")),
    )
    with op.batch_alter_table("conference_session", schema=None) as batch_op:
        batch_op.create_index("ix_conference_session_starts_at", ["starts_at"], unique=False)

    op.create_table(
        "quorum_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("all_of", "one_of", name="quorum_kind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["board_id"], ["board.id"], name=op.f("fk_quorum_group_board_id_board"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quorum_group")),
        sa.UniqueConstraint("board_id", "position", name=op.f("uq_quorum_group_board_id_position")),
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column(
            "role",
            sa.Enum("admin", "coordinator", "physician", "qm", name="user_role", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("discipline_id", sa.Integer(), nullable=True),
        sa.Column("efn", sa.String(length=15), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("feed_token", sa.String(length=64), nullable=True),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("efn IS NULL OR length(efn) = 15", name=op.f("ck_user_account_efn_length")),
        sa.ForeignKeyConstraint(
            ["discipline_id"],
            ["discipline.id"],
            name=op.f("fk_user_account_discipline_id_discipline"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("feed_token", name=op.f("uq_user_account_feed_token")),
        sa.UniqueConstraint("username", name=op.f("uq_user_account_username")),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=120), nullable=False),
        sa.Column("tag", sa.String(length=120), nullable=False),
        sa.Column("subject_type", sa.String(length=60), nullable=False),
        sa.Column("subject_id", sa.String(length=60), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["user_account.id"],
            name=op.f("fk_audit_event_actor_user_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_occurred_at", ["occurred_at"], unique=False)
        batch_op.create_index("ix_audit_event_subject", ["subject_type", "subject_id"], unique=False)
        batch_op.create_index("ix_audit_event_tag", ["tag"], unique=False)

    op.create_table(
        "quorum_group_discipline",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("discipline_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["discipline_id"],
            ["discipline.id"],
            name=op.f("fk_quorum_group_discipline_discipline_id_discipline"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["quorum_group.id"],
            name=op.f("fk_quorum_group_discipline_group_id_quorum_group"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "discipline_id", name=op.f("pk_quorum_group_discipline")),
    )

    _audit_append_only_up()


def _audit_append_only_up() -> None:
    """The audit log is append-only in the database itself, not only in the code (ISO 9001 7.5.3)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_event is append-only'; END $$;
            """
        )
        op.execute(
            "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{action.lower()} BEFORE {action} ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
            )


def _audit_append_only_down() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_event_no_change ON audit_event")
        op.execute("DROP FUNCTION audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER audit_event_no_update")
        op.execute("DROP TRIGGER audit_event_no_delete")


def downgrade() -> None:
    _audit_append_only_down()
    op.drop_table("quorum_group_discipline")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_tag")
        batch_op.drop_index("ix_audit_event_subject")
        batch_op.drop_index("ix_audit_event_occurred_at")

    op.drop_table("audit_event")
    op.drop_table("user_account")
    op.drop_table("quorum_group")
    with op.batch_alter_table("conference_session", schema=None) as batch_op:
        batch_op.drop_index("ix_conference_session_starts_at")

    op.drop_table("conference_session")
    op.drop_table("patient")
    op.drop_table("discipline")
    op.drop_table("board")
