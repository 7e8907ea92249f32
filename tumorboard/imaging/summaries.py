"""What the case list, the case page and the agenda show of a case's imaging: one summary per case."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tumorboard.cases.models import Case
from tumorboard.imaging.models import ImagingStudy, StudyState


class ImagingState(StrEnum):
    """A case's imaging as the case list, the case page, the checklist and the agenda show it."""

    #: Nothing expected, nothing received.
    NONE = "none"
    #: The registration expects imaging; nothing received yet.
    EXPECTED = "expected"
    #: At least one study is still receiving.
    RECEIVING = "receiving"
    #: Every study is complete (provisionally, after its partner's quiet period).
    COMPLETE = "complete"
    #: The images were deleted after the retention period.
    PURGED = "purged"


@dataclass(frozen=True)
class SeriesPreview:
    series_id: int
    label: str
    instance_count: int
    #: File name of the rendered PNG in the preview folder, or None.
    preview_name: str | None
    #: Why there is no preview ("keine Vorschau: …"), or None (rendered, or still pending).
    preview_error: str | None


@dataclass(frozen=True)
class ImagingSummary:
    """What the case list and the agenda show per case."""

    case_id: int
    imaging_expected: bool
    state: ImagingState
    instance_count: int = 0
    partner: str | None = None
    study_date: dt.date | None = None
    study_description: str = ""
    modalities: tuple[str, ...] = ()
    previews: tuple[SeriesPreview, ...] = field(default=())

    @property
    def complete(self) -> bool:
        """Whether every received study is complete (what the checklist's imaging rule asks)."""
        return self.state is ImagingState.COMPLETE


_STATE_ORDER = {StudyState.RECEIVING: 0, StudyState.COMPLETE: 1, StudyState.PURGED: 2}


def imaging_summaries(session: Session, case_ids: Iterable[int]) -> dict[int, ImagingSummary]:
    """Per case: expected / receiving (n images) / complete, with partner, study and previews. A fixed number of
    queries however many cases (two: cases + studies with series)."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    expected = dict(session.execute(select(Case.id, Case.imaging_expected).where(Case.id.in_(ids))).all())
    studies = session.scalars(
        select(ImagingStudy)
        .where(ImagingStudy.case_id.in_(ids))
        .options(selectinload(ImagingStudy.series))
        .order_by(ImagingStudy.first_received_at)
        .execution_options(populate_existing=True)  # counts and previews change in other processes
    ).all()
    by_case: dict[int, list[ImagingStudy]] = {}
    for study in studies:
        assert study.case_id is not None
        by_case.setdefault(study.case_id, []).append(study)
    out: dict[int, ImagingSummary] = {}
    for case_id in ids:
        if case_id not in expected:
            continue
        rows = by_case.get(case_id, [])
        if not rows:
            nothing = ImagingState.EXPECTED if expected[case_id] else ImagingState.NONE
            out[case_id] = ImagingSummary(case_id, expected[case_id], nothing, 0)
            continue
        state = min((s.state for s in rows), key=lambda s: _STATE_ORDER[s])
        latest = rows[-1]
        out[case_id] = ImagingSummary(
            case_id=case_id,
            imaging_expected=expected[case_id],
            state=ImagingState(state.value),
            instance_count=sum(s.instance_count for s in rows),
            partner=latest.partner.name,
            study_date=latest.study_date,
            study_description=latest.study_description,
            modalities=tuple(sorted({se.modality for s in rows for se in s.series if se.modality})),
            previews=tuple(
                SeriesPreview(
                    series_id=se.id,
                    label=" ".join(x for x in (se.modality, se.series_description) if x) or f"#{se.id}",
                    instance_count=se.instance_count,
                    preview_name=se.preview_name if s.state is not StudyState.PURGED else None,
                    preview_error=se.preview_error,
                )
                for s in rows
                for se in s.series
            ),
        )
    return out


def imaging_complete(summary: ImagingSummary | None) -> bool | None:
    """What the checklist's imaging rule is given: None when no imaging is expected or received for the case."""
    return None if summary is None else summary.complete
