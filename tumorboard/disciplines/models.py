"""Medical disciplines (Fachrichtungen): what a physician is, and what a board's quorum requires."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tumorboard.db import Base


class Discipline(Base):
    __tablename__ = "discipline"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: German name as used on the DKG Erhebungsbogen, e.g. "Strahlentherapie"; unique, set by admins.
    name: Mapped[str] = mapped_column(String(120), unique=True)
