"""Read-only figures for quality management. Nothing here changes the record."""

from __future__ import annotations

import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from tumorboard.attendance.models import Attendance
from tumorboard.cases.models import Case, CaseStatus, ConferenceType
from tumorboard.clock import BERLIN
from tumorboard.conferences.models import Board, ConferenceSession, QuorumKind, SessionStatus
from tumorboard.conferences.outcome import (
    Gap,
    HeldRate,
    Outcome,
    SessionOutcome,
    derive_outcome,
    gaps,
    held_rate,
    local_date,
)
from tumorboard.conferences.schedule import is_working_day
from tumorboard.conferences.services import day_range, find_board
from tumorboard.errors import NotFound
from tumorboard.i18n import N_
from tumorboard.imaging.models import ImagingStudy
from tumorboard.protocol.models import (
    DeviationCause,
    FollowUpStatus,
    ProtocolVersion,
    Recommendation,
    RecommendationFollowUp,
)
from tumorboard.qm.indicators import current_definitions
from tumorboard.qm.models import IndicatorCode, IndicatorDefinition, TargetDirection
from tumorboard.qm.period import Period, PeriodKind
from tumorboard.qm.quotas import QuotaResult, quota_result
from tumorboard.text import parse_id


def session_outcomes(
    session: Session, sessions: Sequence[ConferenceSession], *, now: dt.datetime
) -> dict[int, Outcome]:
    """The outcome of each session by id, from two grouped queries (attendance recorded; first signature)
    however many sessions are asked for."""
    ids = [cs.id for cs in sessions]
    attended: set[int] = set()
    signed: dict[int, dt.datetime] = {}
    for chunk_start in range(0, len(ids), 500):  # stay below SQLite's bound-parameter limit
        chunk = ids[chunk_start : chunk_start + 500]
        attended.update(
            session.scalars(select(Attendance.session_id).where(Attendance.session_id.in_(chunk)).distinct())
        )
        for session_id, first_signed in session.execute(
            select(ProtocolVersion.session_id, func.min(ProtocolVersion.signed_at))
            .where(ProtocolVersion.session_id.in_(chunk))
            .group_by(ProtocolVersion.session_id)
        ):
            signed[session_id] = first_signed
    return {
        cs.id: derive_outcome(cs, now=now, attended=cs.id in attended, signed_at=signed.get(cs.id)) for cs in sessions
    }


# --- the dashboard's figures ---------------------------------------------------------------------------------------
class ChartKind(enum.StrEnum):
    #: Bars per category, one series per column after the first.
    BARS = "bars"
    #: Stacked bars per category.
    STACKED = "stacked"
    #: Percent per category as a line, with the 100 % line (a run chart).
    RUN = "run"
    #: A matrix of 0/1 (rows × columns) as a heatmap.
    HEATMAP = "heatmap"
    #: A list to read, not a picture: shown as a table with its CSV, no chart.
    TABLE = "table"


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of the dashboard: its table (header + rows, the CSV and the chart come from it)."""

    key: str
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str | int | float | None, ...], ...]
    chart: ChartKind
    #: Shown under the title: how the figure is counted.
    note: str = ""


@dataclass(frozen=True, slots=True)
class Dashboard:
    period: Period
    boards: tuple[Board, ...]
    held: HeldRate
    gaps: tuple[tuple[Board, Gap], ...]
    figures: tuple[Figure, ...]
    indicators: tuple[IndicatorValue, ...] = ()
    quorum_misses: tuple[QuorumMiss, ...] = ()
    #: P1–P3 per board with an imported primary-case list for the period's year (calendar years only).
    quotas: tuple[tuple[Board, QuotaResult], ...] = ()

    def figure(self, key: str) -> Figure:
        for figure in self.figures:
            if figure.key == key:
                return figure
        raise NotFound(N_("Diese Kennzahl gibt es nicht."))


FIGURE_KEYS = (
    "sitzungen", "quorum", "anwesenheit", "faelle", "spaet", "umsetzung", "signatur", "wiedervorstellung", "bildgebung",
)  # fmt: skip


def resolve_boards(session: Session, board: str | None) -> tuple[Board, ...]:
    """``None``, "" or "all" → every board; otherwise one board by id, short or full name (German error if
    unknown)."""
    if not board or board == "all":
        return tuple(session.scalars(select(Board).order_by(Board.name)))
    board_id = parse_id(board)
    if board_id is not None:
        found = session.get(Board, board_id)
        if found is None:
            raise NotFound(N_("Diese Konferenz gibt es nicht."))
        return (found,)
    return (find_board(session, board),)


def sessions_in_period(session: Session, boards: Sequence[Board], period: Period) -> list[ConferenceSession]:
    """The sessions of ``boards`` starting inside ``period`` (Berlin days), by start and board."""
    start, end = day_range(period.first, period.last + dt.timedelta(days=1))
    return list(
        session.scalars(
            select(ConferenceSession)
            .where(
                ConferenceSession.starts_at >= start,
                ConferenceSession.starts_at < end,
                ConferenceSession.board_id.in_([b.id for b in boards]),
            )
            .order_by(ConferenceSession.starts_at, ConferenceSession.board_id)
        )
    )


def _month(cs: ConferenceSession) -> str:
    return f"{cs.local_start:%Y-%m}"


def _session_label(cs: ConferenceSession, many_boards: bool) -> str:
    label = f"{cs.local_start:%Y-%m-%d}"
    return f"{label} {cs.board.short_name}" if many_boards else label


def build_dashboard(session: Session, *, boards: Sequence[Board], period: Period, now: dt.datetime) -> Dashboard:
    """Every figure of the QM dashboard for ``boards`` over ``period`` (read-only; a handful of grouped queries
    whatever the number of sessions)."""
    rows = sessions_in_period(session, boards, period)
    outcomes = session_outcomes(session, rows, now=now)
    pairs = [(cs, outcomes[cs.id]) for cs in rows]
    many = len(boards) > 1
    today = local_date(now)
    found_gaps = tuple(
        (b, g) for b in boards for g in gaps(b, pairs, first=period.first, last=period.last, today=today)
    )
    held_ids = [cs.id for cs, o in pairs if o.kind.held]
    figures = (
        _held_per_month(period, pairs, now),
        _quorum_run(session, rows, held_ids, many),
        _attendance_heatmap(session, rows, held_ids, many),
        _cases_by_type(session, period, held_ids),
        _late_registrations(session, period, [cs.id for cs in rows]),
        _follow_up(session, held_ids),
        _days_to_signature(pairs, many),
        _represented_after_deviation(session, rows, held_ids),
        _without_imaging(session, rows, held_ids),
    )
    values, misses = indicator_values(session, boards=boards, pairs=pairs, now=now)
    quotas: list[tuple[Board, QuotaResult]] = []
    if period.kind is PeriodKind.YEAR:
        for board in boards:
            result = quota_result(session, board, period.first.year)
            if result is None:
                continue
            quotas.append((board, result))
            defs = current_definitions(session, board)
            values.extend(
                IndicatorValue(board, q.code, "", defs.get(q.code), q.numerator, q.denominator) for q in result.quotas
            )
    order = {code: n for n, code in enumerate(IndicatorCode)}
    values.sort(key=lambda v: (v.board.name, order[v.code], v.detail))
    return Dashboard(
        period,
        tuple(boards),
        held_rate(pairs, now=now),
        found_gaps,
        figures,
        tuple(values),
        tuple(misses),
        tuple(quotas),
    )


def _held_per_month(period: Period, pairs: list[tuple[ConferenceSession, Outcome]], now: dt.datetime) -> Figure:
    counts: dict[str, list[int]] = {f"{m:%Y-%m}": [0, 0, 0, 0] for m in period.months}
    for cs, outcome in pairs:
        if not outcome.kind.planned or (cs.ends_at > now and not outcome.kind.held):
            continue
        row = counts[_month(cs)]
        row[0] += 1
        row[1] += outcome.kind.held
        row[2] += outcome.kind is SessionOutcome.CANCELLED
        row[3] += outcome.kind is SessionOutcome.UNDOCUMENTED
    return Figure(
        "sitzungen",
        N_("Sitzungen geplant und durchgeführt je Monat"),
        ("Monat", "geplant", "durchgeführt", "abgesagt", "nicht dokumentiert"),
        tuple((month, *values) for month, values in counts.items()),
        ChartKind.BARS,
        N_("Geplant: alle vergangenen Sitzungen außer Feiertagsausnahmen; durchgeführt: Anwesenheit erfasst."),
    )


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), 500):
        yield list(ids[start : start + 500])


def _quorum_run(session: Session, rows: list[ConferenceSession], held_ids: list[int], many: bool) -> Figure:
    """Per held session: the share of its current recommendations recorded with quorum met (A1 per case)."""
    latest = (
        select(Recommendation.case_id, func.max(Recommendation.revision).label("rev"))
        .group_by(Recommendation.case_id)
        .subquery()
    )
    per: dict[int, tuple[int, int]] = {}
    for chunk in _chunks(held_ids):
        for sid, total, met in session.execute(
            select(
                Recommendation.session_id,
                func.count(),
                func.sum(case((Recommendation.quorum_met.is_(True), 1), else_=0)),
            )
            .join(latest, (latest.c.case_id == Recommendation.case_id) & (latest.c.rev == Recommendation.revision))
            .where(Recommendation.session_id.in_(chunk))
            .group_by(Recommendation.session_id)
        ):
            per[sid] = (int(total), int(met or 0))
    table = []
    for cs in rows:
        if cs.id in per:
            total, met = per[cs.id]
            table.append((_session_label(cs, many), total, met, round(100 * met / total, 1)))
    return Figure(
        "quorum",
        N_("Quorum erfüllt je Sitzung"),
        ("Sitzung", "Fälle", "mit Quorum", "Prozent"),
        tuple(table),
        ChartKind.RUN,
        N_("Anteil der Empfehlungen (aktuelle Fassung) mit erfülltem Quorum; Ziel: 100 Prozent."),
    )


def _attendance_heatmap(session: Session, rows: list[ConferenceSession], held_ids: list[int], many: bool) -> Figure:
    present = attended_disciplines(session, held_ids)
    disciplines = sorted({d for found in present.values() for d in found})
    table = tuple(
        (_session_label(cs, many), *(1 if d in present[cs.id] else 0 for d in disciplines))
        for cs in rows
        if cs.id in present
    )
    return Figure(
        "anwesenheit",
        N_("Anwesenheit Fachrichtung × Sitzung"),
        ("Sitzung", *disciplines),
        table,
        ChartKind.HEATMAP,
        N_("1 = mindestens eine Person der Fachrichtung anwesend (Vertretungen zählen für die vertretene)."),
    )


def _cases_by_type(session: Session, period: Period, held_ids: list[int]) -> Figure:
    types = [t.value for t in ConferenceType]
    counts: dict[str, dict[str, int]] = {f"{m:%Y-%m}": dict.fromkeys(types, 0) for m in period.months}
    for chunk in _chunks(held_ids):
        for starts_at, kind, n in session.execute(
            select(ConferenceSession.starts_at, Case.conference_type, func.count())
            .join(Case, Case.session_id == ConferenceSession.id)
            .where(ConferenceSession.id.in_(chunk), Case.status == CaseStatus.DISCUSSED)
            .group_by(ConferenceSession.id, ConferenceSession.starts_at, Case.conference_type)
        ):
            counts[f"{starts_at.astimezone(BERLIN):%Y-%m}"][ConferenceType(kind).value] += int(n)
    return Figure(
        "faelle",
        N_("Besprochene Fälle je Monat nach oBDS-Typ"),
        ("Monat", *types),
        tuple((month, *(row[t] for t in types)) for month, row in counts.items()),
        ChartKind.STACKED,
        N_("Fälle mit Status „besprochen“ in durchgeführten Sitzungen."),
    )


def _late_registrations(session: Session, period: Period, session_ids: list[int]) -> Figure:
    counts: dict[str, list[int]] = {f"{m:%Y-%m}": [0, 0] for m in period.months}
    for chunk in _chunks(session_ids):
        for starts_at, late, n in session.execute(
            select(ConferenceSession.starts_at, Case.is_late, func.count())
            .join(Case, Case.session_id == ConferenceSession.id)
            .where(ConferenceSession.id.in_(chunk), Case.status != CaseStatus.WITHDRAWN)
            .group_by(ConferenceSession.id, ConferenceSession.starts_at, Case.is_late)
        ):
            row = counts[f"{starts_at.astimezone(BERLIN):%Y-%m}"]
            row[0] += int(n)
            row[1] += int(n) if late else 0
    return Figure(
        "spaet",
        N_("Nachmeldungen nach Anmeldeschluss je Monat"),
        ("Monat", "Anmeldungen", "nachgemeldet"),
        tuple((month, *values) for month, values in counts.items()),
        ChartKind.BARS,
        N_("Nicht zurückgezogene Anmeldungen zu Sitzungen des Zeitraums."),
    )


FOLLOW_UP_LABELS = {
    (FollowUpStatus.IMPLEMENTED, None): "umgesetzt",
    (FollowUpStatus.DEVIATED, DeviationCause.MEDICAL): "abgewichen: medizinische Gründe",
    (FollowUpStatus.DEVIATED, DeviationCause.PATIENT_WISH): "abgewichen: Patientenwunsch",
    (FollowUpStatus.DEVIATED, DeviationCause.UNKNOWN): "abgewichen: unbekannt",
}


def _follow_up(session: Session, held_ids: list[int]) -> Figure:
    """The latest follow-up entry of each case discussed in a held session (R1 by reason)."""
    counts = dict.fromkeys(FOLLOW_UP_LABELS.values(), 0)
    latest = (
        select(RecommendationFollowUp.case_id, func.max(RecommendationFollowUp.id).label("last_id"))
        .group_by(RecommendationFollowUp.case_id)
        .subquery()
    )
    for chunk in _chunks(held_ids):
        for status, cause, n in session.execute(
            select(RecommendationFollowUp.status, RecommendationFollowUp.cause, func.count())
            .join(latest, latest.c.last_id == RecommendationFollowUp.id)
            .join(Case, Case.id == RecommendationFollowUp.case_id)
            .where(Case.session_id.in_(chunk), Case.status == CaseStatus.DISCUSSED)
            .group_by(RecommendationFollowUp.status, RecommendationFollowUp.cause)
        ):
            key = (status, cause if status is FollowUpStatus.DEVIATED else None)
            counts[FOLLOW_UP_LABELS[key]] += int(n)
    return Figure(
        "umsetzung",
        N_("Umsetzung der Empfehlungen"),
        ("Ergebnis", "Fälle"),
        tuple(counts.items()),
        ChartKind.BARS,
        N_("Letzter dokumentierter Stand je besprochenem Fall; Fälle ohne Rückmeldung fehlen."),
    )


def _days_to_signature(pairs: list[tuple[ConferenceSession, Outcome]], many: bool) -> Figure:
    table = tuple(
        (_session_label(cs, many), (local_date(o.at) - cs.local_start.date()).days)
        for cs, o in pairs
        if o.kind is SessionOutcome.SIGNED and o.at is not None
    )
    return Figure(
        "signatur",
        N_("Tage von der Sitzung bis zur Unterschrift des Protokolls"),
        ("Sitzung", "Tage"),
        table,
        ChartKind.BARS,
        N_("Kalendertage zwischen Sitzung und erster Unterschrift (Version 1)."),
    )


def _represented_after_deviation(
    session: Session, rows: Sequence[ConferenceSession], held_ids: Sequence[int]
) -> Figure:
    """T5: each discussed case of a held session whose latest follow-up is a deviation, and whether (and when) the
    patient was presented again afterwards: a discussed case in a later session that was not cancelled."""
    latest = (
        select(RecommendationFollowUp.case_id, func.max(RecommendationFollowUp.id).label("last_id"))
        .group_by(RecommendationFollowUp.case_id)
        .subquery()
    )
    deviated: list[tuple[int, int, int, DeviationCause | None]] = []
    for part in _chunks(list(held_ids)):
        deviated.extend(
            session.execute(
                select(Case.id, Case.session_id, Case.patient_id, RecommendationFollowUp.cause)
                .join(latest, latest.c.case_id == Case.id)
                .join(RecommendationFollowUp, RecommendationFollowUp.id == latest.c.last_id)
                .where(
                    Case.session_id.in_(part),
                    Case.status == CaseStatus.DISCUSSED,
                    RecommendationFollowUp.status == FollowUpStatus.DEVIATED,
                )
            ).all()
        )
    later: dict[int, list[dt.datetime]] = defaultdict(list)
    for part in _chunks(sorted({patient for _, _, patient, _ in deviated})):
        for patient_id, starts_at in session.execute(
            select(Case.patient_id, ConferenceSession.starts_at)
            .join(ConferenceSession, ConferenceSession.id == Case.session_id)
            .where(
                Case.patient_id.in_(part),
                Case.status == CaseStatus.DISCUSSED,
                ConferenceSession.status != SessionStatus.CANCELLED,
            )
        ):
            later[patient_id].append(starts_at)
    by_id = {cs.id: cs for cs in rows}
    order = {cs.id: n for n, cs in enumerate(rows)}
    out: list[tuple[str | int | float | None, ...]] = []
    for case_id, session_id, patient_id, cause in sorted(deviated, key=lambda d: (order[d[1]], d[0])):
        cs = by_id[session_id]
        after = [t for t in later.get(patient_id, []) if _utc(t) > _utc(cs.starts_at)]
        out.append(
            (
                f"F-{case_id}", _at(cs.starts_at), cs.board.short_name,
                FOLLOW_UP_LABELS[(FollowUpStatus.DEVIATED, cause)], "ja" if after else "nein",
                _at(min(after, key=_utc)) if after else "",
            )
        )  # fmt: skip
    return Figure(
        "wiedervorstellung",
        N_("Wiedervorstellung nach Abweichung von der Empfehlung"),
        ("Fall", "Sitzung", "Konferenz", "Abweichung", "wieder vorgestellt", "am"),
        tuple(out),
        ChartKind.TABLE,
        N_(
            "Fälle, deren Empfehlung nicht umgesetzt wurde (letzter Stand), und ob sie später erneut besprochen wurden."
        ),
    )


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive UTC datetimes for aware columns in some paths; compare as aware UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _without_imaging(session: Session, rows: Sequence[ConferenceSession], held_ids: Sequence[int]) -> Figure:
    """T6: discussed cases of held sessions registered with imaging expected, for which no study had arrived (and
    been assigned to the case) by the start of the session."""
    received = (
        select(ImagingStudy.id)
        .where(ImagingStudy.case_id == Case.id, ImagingStudy.first_received_at <= ConferenceSession.starts_at)
        .exists()
    )
    found: dict[int, list[int]] = defaultdict(list)
    for part in _chunks(list(held_ids)):
        for case_id, session_id in session.execute(
            select(Case.id, Case.session_id)
            .join(ConferenceSession, ConferenceSession.id == Case.session_id)
            .where(
                Case.session_id.in_(part),
                Case.status == CaseStatus.DISCUSSED,
                Case.imaging_expected.is_(True),
                ~received,
            )
            .order_by(Case.position, Case.id)
        ):
            found[session_id].append(case_id)
    return Figure(
        "bildgebung",
        N_("Fälle ohne Bildgebung zu ihrer Sitzung"),
        ("Sitzung", "Konferenz", "Fall"),
        tuple(
            (_at(cs.starts_at), cs.board.short_name, f"F-{case_id}") for cs in rows for case_id in found.get(cs.id, [])
        ),
        ChartKind.TABLE,
        N_("Besprochene Fälle mit erwarteter Bildgebung, zu denen bis Sitzungsbeginn keine Studie eingegangen war."),
    )


def _at(value: dt.datetime) -> str:
    return value.astimezone(BERLIN).isoformat(timespec="minutes")


# --- indicator values ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IndicatorValue:
    board: Board
    code: IndicatorCode
    #: For A2: the discipline; else "".
    detail: str
    definition: IndicatorDefinition | None
    numerator: int
    denominator: int

    @property
    def percent(self) -> float | None:
        return round(100 * self.numerator / self.denominator, 1) if self.denominator else None

    @property
    def met(self) -> bool | None:
        """Against the definition's target; ``None`` without a target or without a denominator."""
        d = self.definition
        if d is None or d.target_percent is None or self.percent is None:
            return None
        if d.target_direction is TargetDirection.AT_MOST:
            return self.percent <= d.target_percent
        return self.percent >= d.target_percent


@dataclass(frozen=True, slots=True)
class QuorumMiss:
    """A held session without its quorum (A1 nonconformity): the missing disciplines and the recorded reason."""

    session: ConferenceSession
    missing: tuple[str, ...]
    reasons: tuple[str, ...]


def attended_disciplines(session: Session, session_ids: Sequence[int]) -> dict[int, set[str]]:
    """Per session, the disciplines covered by anyone who attended (a stand-in covers the discipline stood in
    for). Presence over the whole session: an early leaver still attended."""
    present: dict[int, set[str]] = {}
    for chunk in _chunks(session_ids):
        for sid, discipline, stands_for in session.execute(
            select(Attendance.session_id, Attendance.discipline, Attendance.stands_in_for_discipline).where(
                Attendance.session_id.in_(chunk)
            )
        ):
            present.setdefault(sid, set()).add(stands_for or discipline)
    return present


def quorum_misses(board: Board, covered: set[str]) -> tuple[str, ...]:
    """The board's quorum groups (configuration on the board) against the disciplines present."""
    have = {d.casefold() for d in covered}
    missing: list[str] = []
    for group in board.quorum_groups:
        names = [d.name for d in group.disciplines]
        absent = [n for n in names if n.casefold() not in have]
        if group.kind is QuorumKind.ALL_OF:
            missing.extend(absent)
        elif len(absent) == len(names) and names:
            missing.append(" / ".join(names))
    return tuple(missing)


def working_days_between(first: dt.date, last: dt.date) -> int:
    """Working days (Mon–Fri, no NRW holiday) after ``first`` up to and including ``last``."""
    days, day = 0, first
    while day < last:
        day += dt.timedelta(days=1)
        days += is_working_day(day)
    return days


def indicator_values(
    session: Session,
    *,
    boards: Sequence[Board],
    pairs: Sequence[tuple[ConferenceSession, Outcome]],
    now: dt.datetime,
) -> tuple[list[IndicatorValue], list[QuorumMiss]]:
    """A1, A2, H1, Q1 and R1 per board with the definition version in force (P1–P3 need the imported primary
    cases: :func:`tumorboard.qm.quotas.quota_values`)."""
    values: list[IndicatorValue] = []
    misses: list[QuorumMiss] = []
    held_ids = [cs.id for cs, o in pairs if o.kind.held]
    present = attended_disciplines(session, held_ids)
    reasons = _quorum_reasons(session, held_ids)
    signed_cases = _discussed_cases(session, held_ids)
    follow = _follow_up_by_session(session, held_ids)
    for board in boards:
        defs = current_definitions(session, board)
        mine = [(cs, o) for cs, o in pairs if cs.board_id == board.id]
        held = [cs for cs, o in mine if o.kind.held]
        rate = held_rate(mine, now=now)
        values.append(IndicatorValue(board, IndicatorCode.H1, "", defs.get(IndicatorCode.H1), rate.held, rate.planned))
        ok = 0
        for cs in held:
            missing = quorum_misses(board, present.get(cs.id, set()))
            if missing:
                misses.append(QuorumMiss(cs, missing, tuple(reasons.get(cs.id, ()))))
            else:
                ok += 1
        values.append(IndicatorValue(board, IndicatorCode.A1, "", defs.get(IndicatorCode.A1), ok, len(held)))
        disciplines = sorted({d.name for g in board.quorum_groups for d in g.disciplines})
        for name in disciplines:
            n = sum(1 for cs in held if name.casefold() in {d.casefold() for d in present.get(cs.id, set())})
            values.append(IndicatorValue(board, IndicatorCode.A2, name, defs.get(IndicatorCode.A2), n, len(held)))
        q1 = defs.get(IndicatorCode.Q1)
        limit = q1.working_days if q1 is not None and q1.working_days is not None else None
        timely = discussed = 0
        outcome_of = dict(mine)
        for cs in held:
            n_cases = signed_cases.get(cs.id, 0)
            discussed += n_cases
            signed_at = outcome_of[cs].at
            if (
                limit is not None
                and signed_at is not None
                and working_days_between(cs.local_start.date(), local_date(signed_at)) <= limit
            ):
                timely += n_cases
        values.append(IndicatorValue(board, IndicatorCode.Q1, "", q1, timely, discussed))
        deviated = sum(follow.get(cs.id, (0, 0))[1] for cs in held)
        known = sum(follow.get(cs.id, (0, 0))[0] for cs in held)
        values.append(IndicatorValue(board, IndicatorCode.R1, "", defs.get(IndicatorCode.R1), deviated, known))
    return values, misses


def _quorum_reasons(session: Session, held_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for chunk in _chunks(held_ids):
        for sid, reason in session.execute(
            select(Recommendation.session_id, Recommendation.quorum_reason)
            .where(Recommendation.session_id.in_(chunk), Recommendation.quorum_reason.is_not(None))
            .distinct()
            .order_by(Recommendation.session_id, Recommendation.quorum_reason)
        ):
            out.setdefault(sid, []).append(reason or "")
    return out


def _discussed_cases(session: Session, held_ids: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for chunk in _chunks(held_ids):
        for sid, n in session.execute(
            select(Case.session_id, func.count())
            .where(Case.session_id.in_(chunk), Case.status == CaseStatus.DISCUSSED)
            .group_by(Case.session_id)
        ):
            out[sid] = int(n)
    return out


def _follow_up_by_session(session: Session, held_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Per session: (cases with a known follow-up, of them deviated), latest entry per case."""
    latest = (
        select(RecommendationFollowUp.case_id, func.max(RecommendationFollowUp.id).label("last_id"))
        .group_by(RecommendationFollowUp.case_id)
        .subquery()
    )
    out: dict[int, tuple[int, int]] = {}
    for chunk in _chunks(held_ids):
        for sid, status, n in session.execute(
            select(Case.session_id, RecommendationFollowUp.status, func.count())
            .join(latest, latest.c.last_id == RecommendationFollowUp.id)
            .join(Case, Case.id == RecommendationFollowUp.case_id)
            .where(Case.session_id.in_(chunk), Case.status == CaseStatus.DISCUSSED)
            .group_by(Case.session_id, RecommendationFollowUp.status)
        ):
            known, deviated = out.get(sid, (0, 0))
            out[sid] = (known + int(n), deviated + (int(n) if status is FollowUpStatus.DEVIATED else 0))
    return out


# --- auditor view --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AuditedSession:
    session: ConferenceSession
    outcome: Outcome
    attendance: tuple[Attendance, ...]
    versions: tuple[ProtocolVersion, ...]


def auditor_sessions(
    session: Session, *, boards: Sequence[Board], period: Period, now: dt.datetime
) -> list[AuditedSession]:
    """Every session of the period with its outcome, attendance list and protocol versions (read-only)."""
    rows = sessions_in_period(session, boards, period)
    outcomes = session_outcomes(session, rows, now=now)
    attendance: dict[int, list[Attendance]] = {}
    versions: dict[int, list[ProtocolVersion]] = {}
    for chunk in _chunks([cs.id for cs in rows]):
        for a in session.scalars(
            select(Attendance).where(Attendance.session_id.in_(chunk)).order_by(Attendance.arrived_at, Attendance.id)
        ):
            attendance.setdefault(a.session_id, []).append(a)
        for v in session.scalars(
            select(ProtocolVersion).where(ProtocolVersion.session_id.in_(chunk)).order_by(ProtocolVersion.version)
        ):
            versions.setdefault(v.session_id, []).append(v)
    return [
        AuditedSession(cs, outcomes[cs.id], tuple(attendance.get(cs.id, ())), tuple(versions.get(cs.id, ())))
        for cs in rows
    ]
