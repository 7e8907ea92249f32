"""Background jobs of the imaging domain: completeness, previews, retention. Each body is idempotent."""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import SCHEDULER, Actor
from tumorboard.bootstrap import Runtime
from tumorboard.cases.models import Case, CaseStatus
from tumorboard.conferences.models import ConferenceSession
from tumorboard.i18n import N_
from tumorboard.imaging.config import ImagingSettings
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy, StudyState
from tumorboard.imaging.services import complete_quiet_studies

log = logging.getLogger(__name__)

PREVIEW_SIZE = 256


def _spool(runtime: Runtime) -> Spool:
    spool = Spool(ImagingSettings.from_env(runtime.settings).storage_path)
    spool.create_folders()
    return spool


# --- completeness ---------------------------------------------------------------------------------------------
def complete_studies(runtime: Runtime) -> int:
    """Turn studies "vollständig (vorläufig)" once their partner's quiet period passed."""
    with runtime.session_factory() as session:
        done = complete_quiet_studies(session, at=runtime.clock.now(), actor=SCHEDULER)
        session.commit()
    if done:
        log.info("%d studies complete (provisional)", len(done))
    return len(done)


# --- previews -------------------------------------------------------------------------------------------------
def render_previews(runtime: Runtime, *, limit: int = 50) -> int:
    """Render one preview per series (a middle slice, windowed) for series that got new instances since."""
    spool = _spool(runtime)
    rendered = 0
    with runtime.session_factory() as session:
        pending = session.scalars(
            select(ImagingSeries)
            .join(ImagingStudy)
            .where(
                ImagingStudy.state != StudyState.PURGED,
                ImagingSeries.instance_count != ImagingSeries.preview_instance_count,
            )
            .order_by(ImagingSeries.id)
            .limit(limit)
        ).all()
        for series in pending:
            render_series_preview(session, series, spool)
            rendered += 1
        session.commit()
    return rendered


def render_series_preview(session: Session, series: ImagingSeries, spool: Spool) -> None:
    instances = session.scalars(
        select(ImagingInstance)
        .where(ImagingInstance.series_id == series.id, ImagingInstance.deleted_at.is_(None))
        .order_by(ImagingInstance.instance_number, ImagingInstance.id)
    ).all()
    series.preview_instance_count = series.instance_count
    if not instances:
        return
    middle = instances[len(instances) // 2]
    path = spool.path(f"objects/{middle.sha256[:2]}/{middle.sha256}.dcm")
    try:
        png = preview_png(path)
    except PreviewError as err:
        series.preview_name, series.preview_error = None, err.reason
        return
    name = f"{series.id}.png"
    fd, temp = tempfile.mkstemp(dir=spool.incoming, suffix=".png")
    with os.fdopen(fd, "wb") as fh:
        fh.write(png)
    os.replace(temp, spool.previews / name)
    series.preview_name, series.preview_error = name, None


class PreviewError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def preview_png(path: Path) -> bytes:
    """A PNG (≤ 256 px) of the object's middle frame: modality LUT, then the first window it declares, else
    the 1st–99th percentile; MONOCHROME1 inverted. Raises PreviewError with a German reason."""
    import io

    import numpy as np
    from PIL import Image
    from pydicom import dcmread
    from pydicom.pixels.processing import apply_modality_lut

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(path, force=True)
            if "PixelData" not in ds:
                raise PreviewError(N_("keine Bilddaten"))
            try:
                pixels: Any = ds.pixel_array
            except Exception as err:
                name = ds.file_meta.TransferSyntaxUID.name if "TransferSyntaxUID" in ds.file_meta else "?"
                raise PreviewError(f"Transfersyntax nicht dekodierbar: {name}") from err
            frames = int(ds.get("NumberOfFrames") or 1)
            if frames > 1:
                pixels = pixels[frames // 2]
            if ds.get("SamplesPerPixel", 1) == 1:
                data = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
                center, width = _window(ds)
                if center is None or width is None or width <= 1:
                    low, high = np.percentile(data, (1, 99))
                else:
                    low, high = center - width / 2, center + width / 2
                scaled = np.clip((data - low) / max(high - low, 1e-6), 0, 1) * 255
                if ds.get("PhotometricInterpretation") == "MONOCHROME1":
                    scaled = 255 - scaled
                image = Image.fromarray(scaled.astype(np.uint8), mode="L")
            else:
                image = Image.fromarray(np.asarray(pixels, dtype=np.uint8)).convert("RGB")
    except PreviewError:
        raise
    except Exception as err:
        raise PreviewError(f"Bild nicht lesbar ({type(err).__name__})") from err
    image.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _window(ds: Any) -> tuple[float | None, float | None]:
    from pydicom.multival import MultiValue

    def first(value: Any) -> float | None:
        if isinstance(value, MultiValue):
            value = value[0] if len(value) else None
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    return first(ds.get("WindowCenter")), first(ds.get("WindowWidth"))


# --- retention ------------------------------------------------------------------------------------------------
def purge_discussed(runtime: Runtime) -> int:
    """Delete the images of studies whose case was discussed at a session more than ``retention_days`` ago.
    The index rows stay (the record that they existed); audited. Files go only after the commit."""
    settings = ImagingSettings.from_env(runtime.settings)
    spool = _spool(runtime)
    now = runtime.clock.now()
    with runtime.session_factory() as session:
        files = purge_studies(session, now=now, retention_days=settings.retention_days, actor=SCHEDULER)
        session.commit()
    for relative in files:
        spool.remove(relative)
    return len(files)


def purge_studies(session: Session, *, now: dt.datetime, retention_days: int, actor: Actor) -> list[str]:
    """Mark due studies purged and their instances deleted; returns the store paths to delete after commit."""
    cutoff = now - dt.timedelta(days=retention_days)
    due = session.scalars(
        select(ImagingStudy)
        .join(Case, ImagingStudy.case_id == Case.id)
        .join(ConferenceSession, Case.session_id == ConferenceSession.id)
        .where(
            Case.status == CaseStatus.DISCUSSED,
            ConferenceSession.starts_at <= cutoff,
            ImagingStudy.state != StudyState.PURGED,
        )
    ).all()
    files: list[str] = []
    for study in due:
        instances = session.scalars(
            select(ImagingInstance)
            .join(ImagingSeries)
            .where(ImagingSeries.study_id == study.id, ImagingInstance.deleted_at.is_(None))
        ).all()
        for inst in instances:
            inst.deleted_at = now
            files.append(f"objects/{inst.sha256[:2]}/{inst.sha256}.dcm")
        for series in study.series:
            if series.preview_name:
                files.append(f"previews/{series.id}.png")
            series.preview_name = None
        study.state = StudyState.PURGED
        study.purged_at = now
        record_event(
            session,
            actor=actor,
            tag=Tag.IMAGING_STUDY_PURGE,
            subject_type=SubjectType.IMAGING_STUDY,
            subject_id=study.id,
            at=now,
            after={"case_id": study.case_id, "files": len(instances), "retention_days": retention_days},
        )
    session.flush()
    return files
