"""What goes into the audit evidence bundle (issue 11, qm.md "Evidence bundle"): the tables T1–T7 as rows, the
signed protocol versions byte for byte (their stored SHA-256 verified here), every agenda version, the indicator
values with the definition versions that produced them. Rendering (CSV, PDF/A, ZIP, manifest) is
:mod:`tumorboard.exports.qm_bundle`.

Rows are ordered by session start, board and id, and carry no time of generation, so the same period gives the
same tables byte for byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer, lazyload

from tumorboard.attendance.models import Attendance
from tumorboard.auth.models import User
from tumorboard.cases.models import AgendaVersion, Case, CaseStatus, ConferenceType
from tumorboard.clock import BERLIN
from tumorboard.conferences.models import Board, ConferenceSession
from tumorboard.conferences.outcome import held_rate
from tumorboard.errors import Conflict
from tumorboard.i18n import N_
from tumorboard.partners.models import Partner
from tumorboard.patients.models import Patient
from tumorboard.protocol.models import (
    ProtocolVersion,
    Recommendation,
    RecommendationParticipant,
)
from tumorboard.protocol.services import version_diff
from tumorboard.qm.models import IndicatorDefinition, PrimaryCase, PrimaryCaseImport
from tumorboard.qm.period import Period
from tumorboard.qm.services import (
    Dashboard,
    build_dashboard,
    session_outcomes,
    sessions_in_period,
)

Cell = str | int | float | None
Progress = Callable[[str, int, int], None]


class BundleIntegrityError(Conflict):
    """A stored protocol version no longer matches its SHA-256: the bundle stops (nothing is written)."""


@dataclass(frozen=True, slots=True)
class Table:
    #: File stem in the bundle, e.g. "T1_sitzungen".
    key: str
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


class CaseRow(NamedTuple):
    id: int
    session_id: int
    patient_id: int
    patient_number: str
    icd10_code: str
    conference_type: ConferenceType
    status: CaseStatus
    presenter_id: int | None
    referring_partner_id: int | None
    is_late: bool
    registered_at: dt.datetime


@dataclass(frozen=True, slots=True)
class VerbatimFile:
    path: str
    data: bytes


@dataclass(frozen=True, slots=True)
class BundleData:
    period: Period
    boards: tuple[Board, ...]
    dashboard: Dashboard
    tables: tuple[Table, ...]
    #: How many files :attr:`files` yields at most (for the progress; a frozen agenda PDF adds one).
    file_count: int
    #: The stored files, read one by one while the ZIP is written (the session must still be open).
    files: Callable[[], Iterator[VerbatimFile]]
    #: Every indicator definition version used: {"code", "board", "version", "id"}.
    definitions: tuple[dict[str, Cell], ...]


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(BERLIN).isoformat(timespec="minutes") if value else ""


def _definition_label(d: IndicatorDefinition | None) -> str:
    if d is None:
        return ""
    return f"v{d.version}" + ("" if d.board_id is None else " (Konferenz)")


def _yes(value: bool) -> str:
    return "ja" if value else "nein"


def collect_bundle(
    session: Session,
    *,
    boards: Sequence[Board],
    period: Period,
    now: dt.datetime,
    progress: Progress | None = None,
) -> BundleData:
    """Gather everything the bundle holds for ``boards`` over ``period``. Raises :class:`BundleIntegrityError` when
    a signed protocol version's bytes no longer match its stored SHA-256."""

    def step(what: str, done: int, total: int) -> None:
        if progress is not None:
            progress(what, done, total)

    step(N_("Kennzahlen"), 0, 1)
    dashboard = build_dashboard(session, boards=boards, period=period, now=now)
    by_board = {b.id: b for b in boards}
    rows = sessions_in_period(session, boards, period)
    outcomes = session_outcomes(session, rows, now=now)
    ids = [cs.id for cs in rows]
    chunks = [ids[i : i + 500] for i in range(0, len(ids), 500)]

    # Columns, not ORM objects: a Case row loads six joined relationships and two collections, and the stored
    # PDFs are read only while the ZIP is written (:func:`_verbatim_files`), one at a time.
    versions: dict[int, list[ProtocolVersion]] = defaultdict(list)
    attendance: dict[int, list[Attendance]] = defaultdict(list)
    cases: dict[int, list[CaseRow]] = defaultdict(list)
    n_agendas = 0
    for chunk in chunks:
        for v in session.scalars(
            select(ProtocolVersion)
            .options(defer(ProtocolVersion.pdf), lazyload(ProtocolVersion.session), lazyload(ProtocolVersion.signed_by))
            .where(ProtocolVersion.session_id.in_(chunk))
            .order_by(ProtocolVersion.version)
        ):
            versions[v.session_id].append(v)
        n_agendas += (
            session.scalar(select(func.count()).select_from(AgendaVersion).where(AgendaVersion.session_id.in_(chunk)))
            or 0
        )
        for att in session.scalars(
            select(Attendance)
            .options(lazyload(Attendance.session), lazyload(Attendance.user))
            .where(Attendance.session_id.in_(chunk))
            .order_by(Attendance.arrived_at, Attendance.id)
        ):
            attendance[att.session_id].append(att)
        for found in session.execute(
            select(
                Case.id, Case.session_id, Case.patient_id, Patient.patient_number, Case.icd10_code,
                Case.conference_type, Case.status, Case.presenter_id,
                Case.referring_partner_id, Case.is_late, Case.registered_at,
            )
            .join(Patient, Patient.id == Case.patient_id)
            .where(Case.session_id.in_(chunk))
            .order_by(Case.session_id, Case.position, Case.id)
        ):  # fmt: skip
            row = CaseRow(*found)
            cases[row.session_id].append(row)
    recs: dict[int, tuple[int, list[str], bool]] = {}
    participants: Counter[int] = Counter()
    case_ids = [c.id for lst in cases.values() for c in lst]
    for start in range(0, len(case_ids), 500):
        part = case_ids[start : start + 500]
        for rec_id, case_id, therapy_types, quorum_met in session.execute(
            select(Recommendation.id, Recommendation.case_id, Recommendation.therapy_types, Recommendation.quorum_met)
            .where(Recommendation.case_id.in_(part))
            .order_by(Recommendation.revision)
        ):
            recs[case_id] = (rec_id, list(therapy_types or ()), bool(quorum_met))  # the highest revision wins
        for rec_id, n in session.execute(
            select(RecommendationParticipant.recommendation_id, func.count())
            .join(Recommendation, Recommendation.id == RecommendationParticipant.recommendation_id)
            .where(Recommendation.case_id.in_(part))
            .group_by(RecommendationParticipant.recommendation_id)
        ):
            participants[rec_id] = int(n)
    partners = {p.id: p.name for p in session.scalars(select(Partner))}
    recurrences = _recurrence_dates(session, boards)
    presenter_ids = {c.presenter_id for lst in cases.values() for c in lst if c.presenter_id is not None}
    presenters: dict[int, str] = {}
    for part in _chunked(sorted(presenter_ids)):
        presenters.update(
            {uid: name for uid, name in session.execute(select(User.id, User.display_name).where(User.id.in_(part)))}
        )

    t1 = tuple(
        (
            _when(cs.starts_at), by_board[cs.board_id].short_name, outcomes[cs.id].kind.value,
            cs.cancel_reason or "", _when(cs.original_starts_at), cs.room, _yes(bool(cs.video_url)),
            versions[cs.id][0].signed_by_name if versions.get(cs.id) else "",
            sum(1 for c in cases.get(cs.id, []) if c.status is CaseStatus.DISCUSSED),
            _when(outcomes[cs.id].at),
        )
        for cs in rows
    )  # fmt: skip
    per_board: list[tuple[Cell, ...]] = []
    for board in boards:
        mine = [(cs, outcomes[cs.id]) for cs in rows if cs.board_id == board.id]
        rate = held_rate(mine, now=now)
        board_gaps = [g for b, g in dashboard.gaps if b.id == board.id]
        per_board.append(
            (
                board.short_name, rate.planned, rate.held, rate.cancelled, rate.undocumented,
                round(100 * rate.rate, 1) if rate.rate is not None else None, len(board_gaps),
                ", ".join(f"{g.first.isoformat()}–{g.last.isoformat()}" for g in board_gaps),
            )
        )  # fmt: skip
    t2 = tuple(
        (
            _when(cs.starts_at), by_board[cs.board_id].short_name, a.name, a.discipline, a.mode.value,
            _when(a.arrived_at), _when(a.left_at),
            f"{a.stands_in_for_name} ({a.stands_in_for_discipline})" if a.stands_in_for_name else "", _yes(bool(a.efn)),
        )
        for cs in rows
        for a in attendance.get(cs.id, [])
    )  # fmt: skip
    t2b = tuple(
        (_when(m.session.starts_at), m.session.board.short_name, ", ".join(m.missing), "; ".join(m.reasons))
        for m in dashboard.quorum_misses
    )
    t3 = tuple(
        (
            f"F-{c.id}", _when(cs.starts_at), by_board[cs.board_id].short_name, c.icd10_code,
            c.conference_type.value, _recurrence_flag(recurrences, cs, c), c.status.value,
            presenters.get(c.presenter_id or 0, ""),
            partners.get(c.referring_partner_id, "") if c.referring_partner_id else "",
            ", ".join(recs[c.id][1]) if c.id in recs else "",
            _yes(recs[c.id][2]) if c.id in recs else "",
            participants.get(recs[c.id][0], 0) if c.id in recs else 0,
            versions[cs.id][-1].version if versions.get(cs.id) else "",
            _when(outcomes[cs.id].at),
        )
        for cs in rows
        for c in cases.get(cs.id, [])
    )  # fmt: skip
    t0 = tuple(
        (
            v.board.short_name, v.code.value, v.detail, v.numerator, v.denominator, v.percent,
            v.definition.target_percent if v.definition else None,
            _definition_label(v.definition),
        )
        for v in dashboard.indicators
    )  # fmt: skip
    t4 = tuple(
        (board.short_name, q.code.value, q.numerator, q.denominator,
         round(100 * q.numerator / q.denominator, 1) if q.denominator else None, q.rule, result.record.sha256)
        for board, result in dashboard.quotas
        for q in result.quotas
    )  # fmt: skip
    t4b = tuple(
        (board.short_name, m.code.value, m.line, m.patient_number, m.icd10_code, m.reference_date.isoformat())
        for board, result in dashboard.quotas
        for m in result.never_presented
    )
    t5 = tuple(dashboard.figure("umsetzung").rows)
    t5b = dashboard.figure("wiedervorstellung").rows
    t6c = dashboard.figure("bildgebung").rows
    t6 = tuple(
        (
            _when(cs.starts_at), by_board[cs.board_id].short_name, new.version, _when(new.signed_at),
            new.signed_by_name, new.reason or "", " | ".join(line for line in version_diff(old, new)[2:]),
        )
        for cs in rows
        for old, new in zip(versions.get(cs.id, []), versions.get(cs.id, [])[1:], strict=False)
    )  # fmt: skip
    t6b = tuple(
        (_when(cs.starts_at), by_board[cs.board_id].short_name, f"F-{c.id}", _when(c.registered_at))
        for cs in rows
        for c in cases.get(cs.id, [])
        if c.is_late
    )
    per_partner: dict[tuple[str, str], tuple[int, set[int]]] = {}
    for cs in rows:
        for c in cases.get(cs.id, []):
            if c.referring_partner_id is None or c.status is CaseStatus.WITHDRAWN:
                continue
            key = (partners.get(c.referring_partner_id, str(c.referring_partner_id)), by_board[cs.board_id].short_name)
            n, sessions_seen = per_partner.get(key, (0, set()))
            sessions_seen.add(cs.id)
            per_partner[key] = (n + 1, sessions_seen)
    t7 = tuple((p, b, n, len(s)) for (p, b), (n, s) in sorted(per_partner.items()))

    tables = (
        Table("T0_kennzahlen", "Kennzahlen mit Definitionsversion",
              ("Konferenz", "Kennzahl", "Detail", "Zähler", "Nenner", "Prozent", "Ziel (Prozent)", "Definition"), t0),
        Table("T1_sitzungen", "T1 Sitzungen",
              ("Beginn", "Konferenz", "Ergebnis", "Absagegrund", "verschoben von", "Raum", "Video", "Moderation",
               "Fälle besprochen", "unterschrieben am"), t1),
        Table("T1b_durchfuehrung", "T1 Durchführungsquote und Lücken",
              ("Konferenz", "geplant", "durchgeführt", "abgesagt", "nicht dokumentiert", "Quote (Prozent)",
               "Lücken", "Lücken (Zeiträume)"), tuple(per_board)),
        Table("T2_anwesenheit", "T2 Anwesenheit Person × Sitzung",
              ("Sitzung", "Konferenz", "Name", "Fachrichtung", "Teilnahme", "Ankunft", "gegangen", "vertritt",
               "EFN vorhanden"), t2),
        Table("T2b_quorum_verfehlt", "T2 Sitzungen ohne Quorum (A1) mit fehlenden Fachrichtungen",
              ("Sitzung", "Konferenz", "fehlende Fachrichtungen", "Begründung"), t2b),
        Table("T3_fallprotokoll", "T3 Fallprotokoll (pseudonymisiert)",
              ("Fall", "Sitzung", "Konferenz", "ICD-10", "oBDS-Typ", "Rezidiv/Metastase", "Status",
               "vorgestellt von", "Partner",
               "Empfehlung", "Quorum", "Teilnehmende", "Protokollversion", "unterschrieben am"), t3),
        Table("T4_quoten", "T4 Vorstellungsquoten P1–P3",
              ("Konferenz", "Kennzahl", "Zähler", "Nenner", "Prozent", "Nenner-Einschränkung", "Import (SHA-256)"), t4),
        Table("T4b_nie_vorgestellt", "T4 Nie vorgestellte Fälle des Nenners",
              ("Konferenz", "Kennzahl", "Zeile", "Patienten-ID", "ICD-10", "Bezugsdatum"), t4b),
        Table("T5_umsetzung", "T5 Umsetzung der Empfehlungen (R1 nach Grund)", ("Ergebnis", "Fälle"), t5),
        Table("T6_nachtraege", "T6 Nachträge nach Unterschrift",
              ("Sitzung", "Konferenz", "Version", "unterschrieben am", "von", "Grund", "Änderung"), t6),
        Table("T5b_wiedervorstellung", "T5 Wiedervorstellung nach Abweichung von der Empfehlung",
              ("Fall", "Sitzung", "Konferenz", "Abweichung", "wieder vorgestellt", "am"), t5b),
        Table("T6b_nachmeldungen", "T6 Nachmeldungen nach Anmeldeschluss",
              ("Sitzung", "Konferenz", "Fall", "angemeldet am"), t6b),
        Table("T6c_ohne_bildgebung", "T6 Fälle ohne Bildgebung zu ihrer Sitzung (Bildgebung erwartet)",
              ("Sitzung", "Konferenz", "Fall"), t6c),
        Table("T7_partner", "T7 Fälle und Sitzungen je externem Partner",
              ("Partner", "Konferenz", "Fälle", "Sitzungen"), t7),
    )  # fmt: skip
    used = {v.definition.id: v.definition for v in dashboard.indicators if v.definition is not None}
    definitions: tuple[dict[str, Cell], ...] = tuple(
        {"code": d.code.value, "board": by_board[d.board_id].short_name if d.board_id in by_board else None,
         "version": d.version, "id": d.id}
        for d in sorted(used.values(), key=lambda d: (d.code.value, d.board_id or 0, d.version))
    )  # fmt: skip
    n_files = sum(len(v) for v in versions.values()) + n_agendas
    files = partial(_verbatim_files, session, rows, by_board)
    return BundleData(period, tuple(boards), dashboard, tables, n_files, files, definitions)


RecurrenceDates = dict[tuple[int, str], tuple[dt.date | None, ...]]


def _recurrence_dates(session: Session, boards: Sequence[Board]) -> RecurrenceDates:
    """Per (board, KIS patient number) in the boards' imported primary-case lists (any year): the recurrence or
    metastasis dates the tumor documentation gives (``None`` for a row without one)."""
    found: dict[tuple[int, str], list[dt.date | None]] = defaultdict(list)
    for board_id, number, event in session.execute(
        select(PrimaryCaseImport.board_id, PrimaryCase.patient_number, PrimaryCase.recurrence_date)
        .join(PrimaryCaseImport, PrimaryCaseImport.id == PrimaryCase.import_id)
        .where(PrimaryCaseImport.board_id.in_([b.id for b in boards]))
    ):
        found[(board_id, number)].append(event)
    return {key: tuple(events) for key, events in found.items()}


def _recurrence_flag(recurrences: RecurrenceDates, cs: ConferenceSession, c: CaseRow) -> str:
    """T3's recurrence flag from the imported primary-case list (the tumor documentation is the source): "ja" if a
    recurrence or metastasis is dated on or before the session day, "nein" if the patient is listed without one,
    "" if the patient is not in the board's list."""
    events = recurrences.get((cs.board_id, c.patient_number))
    if events is None:
        return ""
    day = cs.local_start.date()
    return _yes(any(event is not None and event <= day for event in events))


def _chunked(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), 500):
        yield list(ids[start : start + 500])


def _verbatim_files(
    session: Session, rows: Sequence[ConferenceSession], by_board: dict[int, Board]
) -> Iterator[VerbatimFile]:
    """The signed protocol versions byte for byte (each checked against its stored SHA-256: a mismatch raises
    :class:`BundleIntegrityError`) and every agenda version (its snapshot as JSON, and its frozen PDF as stored),
    session by session. Read in chunks of sessions, one stored PDF in memory at a time."""
    stems = {cs.id: f"{by_board[cs.board_id].short_name}/{cs.local_start:%Y-%m-%d}_{cs.id}" for cs in rows}
    in_order = (ConferenceSession.starts_at, ConferenceSession.board_id)  # like the sessions, not by id
    for part in _chunked([cs.id for cs in rows]):
        protocol = session.execute(
            select(ProtocolVersion.session_id, ProtocolVersion.version, ProtocolVersion.pdf, ProtocolVersion.sha256)
            .join(ConferenceSession, ConferenceSession.id == ProtocolVersion.session_id)
            .where(ProtocolVersion.session_id.in_(part))
            .order_by(*in_order, ProtocolVersion.version)
            .execution_options(yield_per=20)
        )
        for session_id, version, pdf, sha256 in protocol:
            if hashlib.sha256(pdf).hexdigest() != sha256:
                protocol.close()
                raise BundleIntegrityError(
                    N_("Protokoll-Version %(version)s der Sitzung %(session)s passt nicht zu ihrer Prüfsumme."),
                    version=version,
                    session=session_id,
                )
            yield VerbatimFile(f"protokolle/{stems[session_id]}_v{version}.pdf", bytes(pdf))
        agendas = session.execute(
            select(
                AgendaVersion.session_id, AgendaVersion.version, AgendaVersion.created_at, AgendaVersion.created_by,
                AgendaVersion.snapshot, AgendaVersion.pdf, AgendaVersion.pdf_sha256,
            )
            .join(ConferenceSession, ConferenceSession.id == AgendaVersion.session_id)
            .where(AgendaVersion.session_id.in_(part))
            .order_by(*in_order, AgendaVersion.version)
            .execution_options(yield_per=20)
        )  # fmt: skip
        for session_id, version, created_at, created_by, snapshot, pdf, pdf_sha256 in agendas:
            stem = f"tagesordnungen/{stems[session_id]}_v{version}"
            body = json.dumps(
                {"session_id": session_id, "version": version, "created_at": _when(created_at),
                 "created_by": created_by, "snapshot": snapshot},
                ensure_ascii=False, sort_keys=True, indent=1,
            ).encode()  # fmt: skip
            yield VerbatimFile(f"{stem}.json", body)
            if pdf is not None and pdf_sha256 == hashlib.sha256(pdf).hexdigest():
                yield VerbatimFile(f"{stem}.pdf", bytes(pdf))
