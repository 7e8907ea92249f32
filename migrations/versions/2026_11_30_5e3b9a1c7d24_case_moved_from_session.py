"""issue 13: the session a case was on before its last move; a participant may leave and return (two rows);
a study can be rejected in the triage

Revision ID: 5e3b9a1c7d24
Revises: 015add215a92
Create Date: 2026-11-30 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e3b9a1c7d24"
down_revision: str | None = "015add215a92"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_registration", schema=None) as batch_op:
        batch_op.add_column(sa.Column("moved_from_session_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_case_registration_moved_from_session_id_conference_session"),
            "conference_session",
            ["moved_from_session_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.drop_index("uq_attendance_session_user")
    with op.batch_alter_table("imaging_study", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reject_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("imaging_study", schema=None) as batch_op:
        batch_op.drop_column("reject_reason")
        batch_op.drop_column("rejected_at")
    # fails if someone left and returned in a session (two rows for one account): the old schema cannot hold that
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.create_index("uq_attendance_session_user", ["session_id", "user_id"], unique=True)
    with op.batch_alter_table("case_registration", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_case_registration_moved_from_session_id_conference_session"), type_="foreignkey"
        )
        batch_op.drop_column("moved_from_session_id")
