"""Presentation quotas P1–P3 (issue 11): the primary-case list of the tumor documentation system is imported as
the denominator per board and year, all or nothing; the numerators count our presentations of those cases.

Counting rules (qm.md): numerators count only cases that are in the denominator; a presentation counts only if
the conference date lies inside the case's episode. The episode is an inference (the sheets do not define it):
from the reference date (diagnosis; for P3 the recurrence or metastasis) for :data:`EPISODE_DAYS` days.
Entity-specific denominators (Darm: elective rectal/colon UICC IV; Lunge P2: IB–IIIB …) are configuration: the
``cohort_rule`` of the P1/P2/P3 definition in force for the board (:mod:`tumorboard.qm.cohort`) selects which
imported rows each denominator holds; criteria without a column in the import are the export's job.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.cases.models import Case, CaseStatus, ConferenceType
from tumorboard.clock import BERLIN
from tumorboard.conferences.models import Board, ConferenceSession, SessionStatus
from tumorboard.errors import InvalidInput
from tumorboard.i18n import N_
from tumorboard.patients.models import Patient
from tumorboard.patients.names import name_key
from tumorboard.qm.cohort import parse_rule
from tumorboard.qm.indicators import current_definitions
from tumorboard.qm.models import IndicatorCode, PrimaryCase, PrimaryCaseImport
from tumorboard.text import nfc

#: The columns of the import, in this order (header line 1, ``;``-separated, UTF-8).
COLUMNS = (
    "Patienten-ID",
    "Geburtsdatum",
    "Name",
    "ICD-10",
    "Entität",
    "Diagnosedatum",
    "Primärfall",
    "Operiert",
    "OP-Datum",
    "Therapiebeginn",
    "UICC-Stadium",
    "Rezidiv/Metastase",
    "Notfall",
)
#: Length of an episode after its reference date (inference; see the module docstring).
EPISODE_DAYS = 365
MAX_ROWS = 50_000
MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    #: German msgid (``N_``), with ``params``.
    message: str
    params: dict[str, Any] = field(default_factory=dict)


class ImportRejected(InvalidInput):
    """The file was refused as a whole; ``problems`` lists every bad line with its reason."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(
            N_("Die Datei wurde nicht importiert: %(n)s fehlerhafte Zeile(n). Es wurde nichts übernommen."),
            field="file",
            n=len(problems),
        )
        self.problems = problems


def _date(text: str) -> dt.date | None:
    value = text.strip()
    if not value:
        return None
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(value, fmt).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    raise ValueError(value)


def _flag(text: str) -> bool:
    value = text.strip().casefold()
    if value in ("j", "ja"):
        return True
    if value in ("n", "nein"):
        return False
    raise ValueError(text)


Identity = tuple[int, str, str, dt.date]


@dataclass
class _Line:
    """One data line being checked: its cells and the problems found so far."""

    line: int
    values: dict[str, str]
    today: dt.date
    problems: list[Problem] = field(default_factory=list)

    def date(self, column: str, *, required: bool = False) -> dt.date | None:
        try:
            value = _date(self.values[column])
        except ValueError:
            self.problems.append(
                Problem(self.line, N_("„%(column)s“ ist kein Datum (JJJJ-MM-TT oder TT.MM.JJJJ)."), {"column": column})
            )
            return None
        if value is None and required:
            self.problems.append(Problem(self.line, N_("„%(column)s“ fehlt."), {"column": column}))
        elif value is not None and not dt.date(1900, 1, 1) <= value <= self.today:
            self.problems.append(
                Problem(
                    self.line,
                    N_("„%(column)s“ ist unplausibel (vor 1900 oder in der Zukunft)."),
                    {"column": column},
                )
            )
            return None
        return value

    def flag(self, column: str) -> bool:
        try:
            return _flag(self.values[column])
        except ValueError:
            self.problems.append(Problem(self.line, N_("„%(column)s“ muss J oder N sein."), {"column": column}))
            return False


def parse_rows(
    content: bytes, *, board: Board, today: dt.date
) -> tuple[list[dict[str, Any]], list[Problem], list[Identity]]:
    """Parse and check every line; rows ready to insert and the problems (none ⇒ importable)."""
    if len(content) > MAX_BYTES:
        raise InvalidInput(N_("Die Datei ist zu groß (höchstens 20 MB)."), field="file")
    try:
        # NFC at the boundary (issue 12): a list exported on macOS spells "Hämatologie" decomposed.
        text = nfc(content.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            N_("Die Datei ist nicht UTF-8-kodiert (Zeile %(line)s). Bitte als CSV UTF-8 exportieren."),
            field="file",
            line=line,
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != list(COLUMNS):
        raise InvalidInput(
            N_("Die Spalten stimmen nicht. Erwartet (mit ; getrennt): %(columns)s"),
            field="file",
            columns="; ".join(COLUMNS),
        )
    names = {board.short_name.casefold(), board.name.casefold()}
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    identities: list[Identity] = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(rows) + len(problems) >= MAX_ROWS:
            raise InvalidInput(N_("Die Datei hat mehr als 50 000 Zeilen."), field="file")
        if len(values) != len(COLUMNS):
            problems.append(
                Problem(line, N_("%(n)s statt %(expected)s Spalten."), {"n": len(values), "expected": len(COLUMNS)})
            )
            continue
        cell = _Line(line, dict(zip(COLUMNS, (v.strip() for v in values), strict=True)), today)
        row_problems = cell.problems
        date_of, flag_of = cell.date, cell.flag
        number = cell.values["Patienten-ID"]
        if not number or len(number) > 40:
            row_problems.append(Problem(line, N_("Die Patienten-ID fehlt oder ist länger als 40 Zeichen.")))
        birth = date_of("Geburtsdatum", required=True)
        family, _, given = cell.values["Name"].partition(",")
        if not family.strip() or not given.strip():
            row_problems.append(Problem(line, N_("Der Name muss „Nachname, Vorname“ lauten.")))
        icd = cell.values["ICD-10"].upper()
        if not icd or len(icd) > 10 or not icd[0].isalpha():
            row_problems.append(Problem(line, N_("Der ICD-10-Code fehlt oder ist ungültig.")))
        if cell.values["Entität"].casefold() not in names:
            row_problems.append(
                Problem(
                    line,
                    N_("Die Entität „%(value)s“ gehört nicht zu dieser Konferenz."),
                    {"value": cell.values["Entität"][:60]},
                )
            )
        diagnosis = date_of("Diagnosedatum", required=True)
        primary, operated = flag_of("Primärfall"), flag_of("Operiert")
        operation = date_of("OP-Datum", required=operated)
        therapy = date_of("Therapiebeginn")
        recurrence = date_of("Rezidiv/Metastase")
        emergency = flag_of("Notfall")
        if len(cell.values["UICC-Stadium"]) > 20:
            row_problems.append(Problem(line, N_("Das UICC-Stadium ist länger als 20 Zeichen.")))
        if row_problems:
            problems.extend(row_problems)
            continue
        assert birth is not None and diagnosis is not None
        identities.append((line, number, name_key(family, given), birth))
        rows.append(
            {
                "line": line, "patient_number": number, "icd10_code": icd, "diagnosis_date": diagnosis,
                "is_primary": primary, "is_operated": operated, "operation_date": operation,
                "therapy_start": therapy, "uicc_stage": cell.values["UICC-Stadium"], "recurrence_date": recurrence,
                "is_emergency": emergency,
            }
        )  # fmt: skip
    if not rows and not problems:
        raise InvalidInput(N_("Die Datei enthält keine Fälle."), field="file")
    return rows, problems, identities


def _identity_problems(session: Session, identities: list[Identity]) -> list[Problem]:
    """The registration's identity rule: a KIS number we know must agree on name and birth date."""
    problems: list[Problem] = []
    numbers = sorted({number for _, number, _, _ in identities})
    known: dict[str, tuple[str, dt.date]] = {}
    for start in range(0, len(numbers), 500):
        for number, key, birth in session.execute(
            select(Patient.patient_number, Patient.name_key, Patient.birth_date).where(
                Patient.patient_number.in_(numbers[start : start + 500])
            )
        ):
            known[number] = (key, birth)
    for line, number, key, birth in identities:
        if number in known and known[number] != (key, birth):
            problems.append(
                Problem(
                    line, N_("Die Patienten-ID gehört zu einer anderen Person (Name oder Geburtsdatum weichen ab).")
                )
            )
    return problems


def import_primary_cases(
    session: Session,
    *,
    board: Board,
    year: int,
    filename: str,
    content: bytes,
    at: dt.datetime,
    actor: Actor,
) -> PrimaryCaseImport:
    """Import the list for ``board`` and ``year``: every line is checked first; any problem refuses the whole file
    (:class:`ImportRejected` lists line and reason) and nothing is stored."""
    if not 2000 <= year <= 2100:
        raise InvalidInput(N_("Bitte ein Jahr zwischen 2000 und 2100 angeben."), field="year")
    rows, problems, identities = parse_rows(content, board=board, today=at.astimezone(BERLIN).date())
    problems = sorted([*problems, *_identity_problems(session, identities)], key=lambda p: p.line)
    if problems:
        raise ImportRejected(problems)
    record = PrimaryCaseImport(
        board_id=board.id,
        year=year,
        filename=(filename or "primaerfaelle.csv")[:255],
        sha256=hashlib.sha256(content).hexdigest(),
        row_count=len(rows),
        imported_at=at,
        imported_by_id=actor.user_id,
    )
    session.add(record)
    session.flush()
    session.execute(insert(PrimaryCase), [{**row, "import_id": record.id} for row in rows])
    record_event(
        session,
        actor=actor,
        tag=Tag.QM_PRIMARY_CASES_IMPORT,
        subject_type=SubjectType.PRIMARY_CASE_IMPORT,
        subject_id=record.id,
        at=at,
        after={"board_id": board.id, "year": year, "rows": len(rows), "sha256": record.sha256},
    )
    return record


def current_import(session: Session, board: Board, year: int) -> PrimaryCaseImport | None:
    return session.scalar(
        select(PrimaryCaseImport)
        .where(PrimaryCaseImport.board_id == board.id, PrimaryCaseImport.year == year)
        .order_by(PrimaryCaseImport.id.desc())
        .limit(1)
    )


def list_imports(session: Session) -> Sequence[PrimaryCaseImport]:
    return session.scalars(select(PrimaryCaseImport).order_by(PrimaryCaseImport.id.desc())).all()


# --- evaluation --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Quota:
    code: IndicatorCode
    numerator: int
    denominator: int
    #: The denominator's restriction in force ("" = every primary case).
    rule: str = ""


@dataclass(frozen=True, slots=True)
class NeverPresented:
    """A denominator case with no presentation that counts (the auditors' list)."""

    code: IndicatorCode
    line: int
    patient_number: str
    icd10_code: str
    reference_date: dt.date


@dataclass(frozen=True, slots=True)
class QuotaResult:
    record: PrimaryCaseImport
    quotas: tuple[Quota, ...]
    never_presented: tuple[NeverPresented, ...]


def _presentations(session: Session, numbers: Sequence[str]) -> dict[str, list[tuple[dt.date, ConferenceType]]]:
    """Discussed cases of these KIS numbers in sessions that were not cancelled: (conference date, oBDS type)."""
    found: dict[str, list[tuple[dt.date, ConferenceType]]] = defaultdict(list)
    unique = sorted(set(numbers))
    for start in range(0, len(unique), 500):
        for number, starts_at, kind in session.execute(
            select(Patient.patient_number, ConferenceSession.starts_at, Case.conference_type)
            .join(Case, Case.patient_id == Patient.id)
            .join(ConferenceSession, ConferenceSession.id == Case.session_id)
            .where(
                Patient.patient_number.in_(unique[start : start + 500]),
                Case.status == CaseStatus.DISCUSSED,
                ConferenceSession.status == SessionStatus.PLANNED,
            )
        ):
            found[number].append((starts_at.astimezone(BERLIN).date(), kind))
    return found


def _in_episode(day: dt.date, start: dt.date) -> bool:
    return start <= day <= start + dt.timedelta(days=EPISODE_DAYS)


def quota_result(session: Session, board: Board, year: int) -> QuotaResult | None:
    """P1–P3 for the board's current import of ``year``; ``None`` when nothing was imported."""
    record = current_import(session, board, year)
    if record is None:
        return None
    cases = list(
        session.scalars(select(PrimaryCase).where(PrimaryCase.import_id == record.id).order_by(PrimaryCase.line))
    )
    shown = _presentations(session, [c.patient_number for c in cases])
    codes = (IndicatorCode.P1, IndicatorCode.P2, IndicatorCode.P3)
    defs = current_definitions(session, board)
    rules = {code: parse_rule(defs[code].cohort_rule if code in defs else None) for code in codes}
    counts = {code: [0, 0] for code in codes}
    missing: list[NeverPresented] = []

    def count(code: IndicatorCode, case: PrimaryCase, reference: dt.date, presented: bool) -> None:
        counts[code][1] += 1
        if presented:
            counts[code][0] += 1
        else:
            missing.append(NeverPresented(code, case.line, case.patient_number, case.icd10_code, reference))

    earliest_event: dict[str, PrimaryCase] = {}
    for case in cases:
        seen = shown.get(case.patient_number, [])

        def within(code: IndicatorCode, case: PrimaryCase = case) -> bool:
            return rules[code].matches(case.icd10_code, case.uicc_stage, case.is_emergency)

        if case.is_primary and within(IndicatorCode.P1):
            last = case.therapy_start
            count(
                IndicatorCode.P1,
                case,
                case.diagnosis_date,
                any(
                    kind is ConferenceType.PRAETH
                    and _in_episode(day, case.diagnosis_date)
                    and (last is None or day <= last)
                    for day, kind in seen
                ),
            )
        if case.is_primary and within(IndicatorCode.P2) and case.is_operated and case.operation_date is not None:
            op_day = case.operation_date
            count(
                IndicatorCode.P2,
                case,
                op_day,
                any(
                    kind in (ConferenceType.POSTOP, ConferenceType.POSTTH)
                    and _in_episode(day, case.diagnosis_date)
                    and day >= op_day
                    for day, kind in seen
                ),
            )
        event = case.recurrence_date
        # P3: an event in the year, not metastasis present at diagnosis (primary M1), earliest per patient.
        if event is not None and event.year == year and event > case.diagnosis_date and within(IndicatorCode.P3):
            held = earliest_event.get(case.patient_number)
            if held is None or (held.recurrence_date is not None and event < held.recurrence_date):
                earliest_event[case.patient_number] = case
    for case in sorted(earliest_event.values(), key=lambda c: c.line):
        event = case.recurrence_date
        assert event is not None
        seen = shown.get(case.patient_number, [])
        count(IndicatorCode.P3, case, event, any(_in_episode(day, event) for day, _ in seen))
    quotas = tuple(
        Quota(code, n, d, defs[code].cohort_rule or "" if code in defs else "") for code, (n, d) in counts.items()
    )
    order = {IndicatorCode.P1: 0, IndicatorCode.P2: 1, IndicatorCode.P3: 2}
    return QuotaResult(record, quotas, tuple(sorted(missing, key=lambda m: (order[m.code], m.line))))


def record_quota_view(session: Session, result: QuotaResult, *, at: dt.datetime, actor: Actor) -> None:
    """The quota page and its CSV list the never-presented cases with their KIS numbers (patient data): each read is
    an access event, naming the import and the lines shown — never the numbers themselves."""
    record_event(
        session,
        actor=actor,
        tag=Tag.QM_QUOTAS_VIEW,
        subject_type=SubjectType.PRIMARY_CASE_IMPORT,
        subject_id=result.record.id,
        at=at,
        after={"lines": sorted({m.line for m in result.never_presented})},
    )
