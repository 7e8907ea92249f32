"""Demo imaging: three synthetic CT studies from the demo partners, so that `make run` shows every state.

- one study received an hour ago, two series, complete (provisional), matched by our patient number and birth
  date to the first demo case that expects imaging, with previews;
- one study still receiving (its partner's quiet period runs from the moment of loading), matched the same way;
- one study whose patient name comes in ASCII spelling ("Mueller^Juergen") with the partner's own patient ID:
  no deterministic rule applies, so it waits in the triage inbox with the registered patient suggested first.

Everything goes through the same path as a received object: bytes into the store by their SHA-256, header read
with the listener's parser, ``ingest_instance``, completeness and matching. The images are a simple phantom
(body, lungs, spine), generated here; no real patient data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.uid import generate_uid
from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.auth.actors import Actor
from tumorboard.cases.models import Case
from tumorboard.conferences.models import ConferenceSession
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.jobs import render_series_preview
from tumorboard.imaging.matching import OPEN_STATUSES
from tumorboard.imaging.models import ImagingSeries, ImagingStudy
from tumorboard.imaging.services import complete_quiet_studies
from tumorboard.imaging.synthetic import ct_dataset, store_as_received
from tumorboard.partners.models import Partner, PartnerEndpoint
from tumorboard.patients.models import DICOM_SEX, Patient
from tumorboard.patients.names import spell_out

SIZE = 128


@dataclass(frozen=True)
class _Series:
    description: str
    body_part: str
    count: int


def ascii_spelling(text: str) -> str:
    """How a sender without Unicode writes a name: Müller → Mueller, Weißenfels → Weissenfels, Paweł → Pawel (ł has
    no decomposition, so :func:`spell_out` keeps it)."""
    return spell_out(text).replace("ł", "l").replace("Ł", "L")


def _pn(patient: Patient) -> str:
    """The patient's name as a DICOM PN (family^given)."""
    return f"{patient.family_name}^{patient.given_name}"


def _spelled_differently(patient: Patient) -> bool:
    return ascii_spelling(_pn(patient)) != _pn(patient)


def phantom(index: int, count: int, body_part: str = "CHEST") -> np.ndarray:
    """A CT-like slice in stored values (HU + 1024): air, an elliptic body and the spine; in the chest two lungs
    that shrink towards the ends of the series, in the abdomen liver and kidneys."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE - 0.5
    depth = 1.0 - abs(2.0 * index / max(count - 1, 1) - 1.0)  # 0 at the ends, 1 in the middle
    hu = np.full((SIZE, SIZE), -1000.0, dtype=np.float32)
    hu[(x / 0.45) ** 2 + (y / 0.32) ** 2 <= 1] = 40.0
    if body_part == "CHEST":
        lung = 0.08 + 0.1 * depth
        for cx in (-0.18, 0.18):
            hu[((x - cx) / lung) ** 2 + ((y + 0.02) / (lung * 1.4)) ** 2 <= 1] = -850.0
    else:
        hu[((x + 0.15) / (0.12 + 0.06 * depth)) ** 2 + ((y + 0.05) / 0.15) ** 2 <= 1] = 60.0  # liver
        for cx in (-0.12, 0.12):
            hu[((x - cx) / 0.05) ** 2 + ((y - 0.12) / 0.07) ** 2 <= 1] = 150.0  # kidneys (contrast)
    hu[(x**2 + (y - 0.2) ** 2) <= 0.05**2] = 700.0
    stored: np.ndarray = np.clip(hu + 1024.0, 0, 4095).astype(np.uint16)
    return stored


def _receive(
    session: Session,
    spool: Spool,
    partner: Partner,
    ae_title: str,
    patient: Patient,
    *,
    name: str,
    patient_id: str,
    series: Sequence[_Series],
    at: dt.datetime,
    actor: Actor,
) -> None:
    study_uid = generate_uid()
    for series_number, one in enumerate(series, start=1):
        series_uid = generate_uid()
        for number in range(1, one.count + 1):
            ds = ct_dataset(
                study_uid=study_uid,
                series_uid=series_uid,
                number=number,
                pixels=phantom(number - 1, one.count, one.body_part),
                patient_name=name,
                patient_id=patient_id,
                birth_date=patient.birth_date.strftime("%Y%m%d"),
                sex=DICOM_SEX.get(patient.sex, ""),
                series_number=series_number,
                series_description=one.description,
                body_part=one.body_part,
                study_date=(at - dt.timedelta(days=3)).strftime("%Y%m%d"),
                study_description="CT Thorax/Abdomen mit KM",
            )
            store_as_received(session, spool, ds, partner_id=partner.id, calling_ae_title=ae_title, at=at, actor=actor)


def load_demo_imaging(session: Session, spool: Spool, *, at: dt.datetime, actor: Actor) -> int:
    """Receive the three demo studies (needs the demo partners and cases); returns how many were loaded."""
    spool.create_folders()  # not prepare(): a running listener's temp files are not leftovers
    endpoints = session.execute(
        select(Partner, PartnerEndpoint.ae_title)
        .join(PartnerEndpoint, PartnerEndpoint.partner_id == Partner.id)
        .order_by(Partner.id, PartnerEndpoint.id)
    ).all()
    open_cases = session.scalars(
        select(Case)
        .join(ConferenceSession, Case.session_id == ConferenceSession.id)
        .where(Case.status.in_(OPEN_STATUSES))
        .order_by(ConferenceSession.starts_at, Case.id)
    ).all()
    expecting = [c for c in open_cases if c.imaging_expected]
    if len(endpoints) < 2 or not expecting:
        return 0
    (north, north_ae), (south, south_ae) = endpoints[0], endpoints[1]
    first = expecting[0].patient
    second = next((c.patient for c in expecting if c.patient_id != first.id), None)
    if second is None:
        return 0
    # for the triage inbox: a patient whose name a sender without Unicode spells differently, preferably one
    # whose case expects imaging
    spelled = [
        c.patient
        for c in sorted(open_cases, key=lambda c: not c.imaging_expected)
        if c.patient_id not in (first.id, second.id) and _spelled_differently(c.patient)
    ]
    if not spelled:
        return 0
    third = spelled[0]
    thorax, abdomen = _Series("Thorax 5 mm", "CHEST", 15), _Series("Abdomen 5 mm", "ABDOMEN", 15)
    hour_ago, minutes_ago = at - dt.timedelta(hours=1), at - dt.timedelta(minutes=50)
    studies = (
        # complete and matched: our patient number and the birth date
        (north, north_ae, first, _pn(first), first.patient_number, (thorax, abdomen), hour_ago),
        # ASCII spelling and the partner's own patient ID: to the triage inbox, with a suggestion
        (north, north_ae, third, ascii_spelling(_pn(third)), f"NS-{4711 + third.id}", (thorax,), minutes_ago),
        # still receiving: its partner's quiet period starts now
        (south, south_ae, second, _pn(second), second.patient_number, (_Series("Thorax 1 mm", "CHEST", 8),), at),
    )  # fmt: skip
    for partner, ae_title, patient, name, patient_id, parts, received_at in studies:
        _receive(session, spool, partner, ae_title, patient, name=name, patient_id=patient_id, series=parts,
                 at=received_at, actor=actor)  # fmt: skip
    complete_quiet_studies(session, at=at, actor=actor)
    for series in session.scalars(select(ImagingSeries).join(ImagingStudy).order_by(ImagingSeries.id)):
        render_series_preview(session, series, spool)
    session.flush()
    return 3
