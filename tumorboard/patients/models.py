"""Patients. Synthetic only in this repository; their names, IDs and birth dates never leave the process in
logs, URLs, calendar feeds or mail subjects."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tumorboard.db import Base, enum_column


class Sex(enum.StrEnum):
    #: HL7 administrative gender / oBDS Geschlecht: männlich, weiblich, divers, unbekannt.
    MALE = "M"
    FEMALE = "W"
    DIVERSE = "D"
    UNKNOWN = "U"


#: DICOM Patient's Sex (0010,0040): F, M, O ("other"); empty when unknown.
DICOM_SEX = {Sex.FEMALE: "F", Sex.MALE: "M", Sex.DIVERSE: "O"}


class Patient(Base):
    __tablename__ = "patient"
    __table_args__ = (
        CheckConstraint("insurer_iknr IS NULL OR length(insurer_iknr) = 9", name="iknr_length"),
        CheckConstraint("insurance_number IS NULL OR length(insurance_number) = 10", name="insurance_number_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Our patient ID (KIS number), unique within the center.
    patient_number: Mapped[str] = mapped_column(String(40), unique=True)
    family_name: Mapped[str] = mapped_column(String(120))
    given_name: Mapped[str] = mapped_column(String(120))
    #: Family and given name folded for search (umlauts, ß, case, accents): "mueller juergen"; set by services.
    name_key: Mapped[str] = mapped_column(String(300), index=True)
    birth_date: Mapped[dt.date] = mapped_column(index=True)
    sex: Mapped[Sex] = mapped_column(enum_column(Sex, "patient_sex", length=1))
    #: The referring partner site's own patient ID, with that partner; optional (used by matching).
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="RESTRICT"))
    partner_patient_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    #: Registry identity (oBDS Versichertendaten, NRW): the IKNR of the health insurer (Institutionskennzeichen,
    #: 9 digits; "10…" for a statutory insurer) and the insurance number (statutory: a letter and 9 digits).
    #: Optional; set by ``update_registry_data``; without them the patient's conferences are not exportable.
    insurer_iknr: Mapped[str | None] = mapped_column(String(9))
    insurance_number: Mapped[str | None] = mapped_column(String(10))
    #: Date of death, when known (from the registry or the hospital record); conferences after it are never
    #: reported to the registry.
    date_of_death: Mapped[dt.date | None]

    def __repr__(self) -> str:  # never the name: reprs end up in logs and tracebacks
        return f"<Patient id={self.id}>"
