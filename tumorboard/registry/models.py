"""The export log of the oBDS export: which Meldungen went out in which file, by whom, when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tumorboard.db import Base


class ObdsExport(Base):
    """One written oBDS document. Rows are never changed: a later export of the same period is a new row."""

    __tablename__ = "obds_export"
    __table_args__ = (CheckConstraint("last_day >= first_day", name="period_order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The period of conference dates asked for (Berlin calendar days, inclusive) and the board (NULL: all).
    first_day: Mapped[dt.date]
    last_day: Mapped[dt.date]
    board_id: Mapped[int | None] = mapped_column(ForeignKey("board.id", ondelete="RESTRICT"))
    #: SHA-256 (hex) and size of the XML exactly as written; the file name as offered/written.
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int]
    file_name: Mapped[str] = mapped_column(String(255))
    #: The document as written (for the download and the audit trail); deferred: listing exports never loads it.
    document: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[dt.datetime]
    #: The user (NULL for the command line) and the printed name/label of who exported.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    created_by_name: Mapped[str] = mapped_column(String(200))

    items: Mapped[list[ObdsExportItem]] = relationship(back_populates="export", order_by="ObdsExportItem.id")


class ObdsExportItem(Base):
    """One Meldung of an export: the case, the revision of its recommendation, and whether it corrects an
    earlier export of the same Meldung_ID."""

    __tablename__ = "obds_export_item"
    __table_args__ = (Index("ix_obds_export_item_case", "case_id"), Index("ix_obds_export_item_export", "export_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    export_id: Mapped[int] = mapped_column(ForeignKey("obds_export.id", ondelete="RESTRICT"))
    case_id: Mapped[int] = mapped_column(ForeignKey("case_registration.id", ondelete="RESTRICT"))
    recommendation_id: Mapped[int] = mapped_column(ForeignKey("recommendation.id", ondelete="RESTRICT"))
    #: The recommendation's revision that went out (its latest signed revision at the time).
    revision: Mapped[int]
    #: Stable per case: the same case always carries the same Meldung_ID, so a correction replaces the earlier
    #: Meldung at the registry.
    meldung_id: Mapped[str] = mapped_column(String(50))
    #: True when an earlier export carried a lower revision of this Meldung.
    is_correction: Mapped[bool] = mapped_column(default=False)

    export: Mapped[ObdsExport] = relationship(back_populates="items")
