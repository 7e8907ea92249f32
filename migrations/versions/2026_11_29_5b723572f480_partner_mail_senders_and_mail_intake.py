"""partner mail senders and mail intake

DICOM E-Mail (issue 14): each partner's sender addresses with the pinned OpenPGP fingerprint, a mail quiet
period per partner (default 15 minutes), and one row per fetched mail (state, quarantine reason, receipt sent).

Revision ID: 5b723572f480
Revises: 8d2b4e6a9c13
Create Date: 2026-11-29 21:52:37.620159
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tumorboard.db

revision: str = "5b723572f480"
down_revision: str | None = "8d2b4e6a9c13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=100), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=500), nullable=True),
        sa.Column("sender", sa.String(length=254), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "received",
                "waiting",
                "processed",
                "quarantined",
                "released",
                "discarded",
                name="mail_state",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column(
            "reason",
            sa.Enum(
                "unknown_sender",
                "unsigned",
                "bad_signature",
                "wrong_key",
                "not_decryptable",
                "not_encrypted",
                "incomplete_partial",
                "archive_too_large",
                "archive_ratio",
                "archive_path",
                "archive_broken",
                "not_dicom",
                "bad_dicom",
                "malformed",
                name="mail_quarantine_reason",
                native_enum=False,
                length=30,
            ),
            nullable=True,
        ),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("object_count", sa.Integer(), nullable=False),
        sa.Column("partial_id", sa.String(length=500), nullable=True),
        sa.Column("partial_number", sa.Integer(), nullable=True),
        sa.Column("partial_total", sa.Integer(), nullable=True),
        sa.Column("received_at", tumorboard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", tumorboard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("moved_to", sa.String(length=100), nullable=True),
        sa.Column("mdn_sent_at", tumorboard.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_mail_message_partner_id_partner"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_message")),
        sa.UniqueConstraint("mailbox", "uidvalidity", "uid", name=op.f("uq_mail_message_mailbox_uidvalidity_uid")),
    )
    with op.batch_alter_table("mail_message", schema=None) as batch_op:
        batch_op.create_index("ix_mail_message_partial", ["partial_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_message_sha256"), ["sha256"], unique=False)

    op.create_table(
        "partner_mail_sender",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("pgp_fingerprint", sa.String(length=40), nullable=False),
        sa.Column("created_at", tumorboard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_partner_mail_sender_partner_id_partner"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_mail_sender")),
        sa.UniqueConstraint("address", name=op.f("uq_partner_mail_sender_address")),
    )
    with op.batch_alter_table("partner_mail_sender", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_mail_sender_partner_id"), ["partner_id"], unique=False)

    with op.batch_alter_table("partner", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mail_quiet_period_seconds", sa.Integer(), server_default="900", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("partner", schema=None) as batch_op:
        batch_op.drop_column("mail_quiet_period_seconds")

    with op.batch_alter_table("partner_mail_sender", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_mail_sender_partner_id"))

    op.drop_table("partner_mail_sender")
    with op.batch_alter_table("mail_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_message_sha256"))
        batch_op.drop_index("ix_mail_message_partial")

    op.drop_table("mail_message")
