"""Demo: one held and signed past session per board — attendance (in person and video, an early leaver, a
substitute), two recommendations each, and one amendment — so a newcomer sees a complete example. Synthetic only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.access.services import moderators_of
from tumorboard.attendance.models import AttendanceMode
from tumorboard.attendance.services import check_in, leave
from tumorboard.auth.actors import Actor
from tumorboard.auth.models import Role, User
from tumorboard.cases.models import ConferenceType
from tumorboard.cases.services import CaseInput, PatientInput, add_case, resolve_patient
from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board, ConferenceSession, QuorumKind
from tumorboard.disciplines.services import get_or_create_discipline
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.patients.models import Sex
from tumorboard.protocol import services as proto

PASSWORD = "tumorboard-demo"  # noqa: S105 - the demo password (tumorboard.demo.data.DEMO_PASSWORD)
#: Rendered protocol PDFs by content: the demo is loaded again and again in tests with the same clock, and
#: identical content renders to identical bytes, so the SHA-256 stays truthful.
_PDF_CACHE: dict[tuple[str, int | None, str | None, str | None, str | None], bytes] = {}

PATIENTS = (
    ("Lindemann", "Gerda", dt.date(1951, 5, 3), Sex.FEMALE),
    ("Ostrowski", "Karl-Heinz", dt.date(1947, 8, 21), Sex.MALE),
)
RECOMMENDATIONS = (
    (["OP"], "Primäre Resektion im Zentrum; Vorstellung postoperativ mit Histologie.", True),
    (["CH", "ST"], "Definitive Radiochemotherapie nach Leitlinie.", False),
)


def _renderer(templates: ExportTemplates, at: dt.datetime) -> proto.Renderer:
    from tumorboard.exports.protocol import render_protocol_pdf

    def render(data: proto.ProtocolData) -> bytes:
        key = (
            proto.protocol_text(data),
            data.version,
            data.signed_by,
            data.reason,
            data.signed_at.isoformat() if data.signed_at else None,
        )
        if key not in _PDF_CACHE:
            _PDF_CACHE[key] = render_protocol_pdf(data, templates=templates, generated_at=at)
        return _PDF_CACHE[key]

    return render


def _past_session(session: Session, board: Board, at: dt.datetime) -> ConferenceSession | None:
    today = at.astimezone(BERLIN).date()
    conf.generate_sessions(
        session, start=today - dt.timedelta(days=21), end=today, at=at, actor=Actor.system("demo"), boards=[board]
    )
    start, end = conf.day_range(today - dt.timedelta(days=21), today)
    held = [cs for cs in conf.sessions_between(session, start, end, board=board) if cs.takes_place and cs.ends_at < at]
    return held[-1] if held else None


def load_demo_conferences(
    session: Session, boards: Sequence[Board], *, templates: ExportTemplates, at: dt.datetime, actor: Actor
) -> int:
    """Returns the number of signed sessions."""
    physicians = {
        u.discipline.name: u
        for u in session.scalars(select(User).where(User.role == Role.PHYSICIAN).order_by(User.id))
        if u.discipline is not None
    }
    coordinator = session.scalar(select(User).where(User.role == Role.COORDINATOR))
    assert coordinator is not None
    signed = 0
    for b_index, board in enumerate(boards):
        cs = _past_session(session, board, at)
        if cs is None:
            continue
        start = cs.starts_at
        cases = []
        for c_index, (family, given, birth, sex) in enumerate(PATIENTS):
            patient = resolve_patient(
                session,
                PatientInput(family, given, birth, sex, f"KIS-92{b_index:02d}{c_index:02d}"),
                partner=None,
                at=start - dt.timedelta(days=7),
                actor=actor,
            )
            cases.append(
                add_case(
                    session,
                    board=board,
                    patient=patient,
                    target=cs,
                    registered_by=coordinator,
                    at=start - dt.timedelta(days=7),
                    actor=actor,
                    data=CaseInput(
                        icd10_code="C80.9",
                        icd10_text="Bösartige Neubildung ohne Angabe der Lokalisation (Demo)",
                        conference_type=ConferenceType.PRAETH,
                        question="Therapieempfehlung erbeten.",
                    ),
                )
            )
        needed: list[str] = []
        for group in board.quorum_groups:
            names = sorted(d.name for d in group.disciplines)
            needed += names if group.kind is QuorumKind.ALL_OF else names[:1]
        rows = []
        for i, discipline in enumerate(needed):
            user = physicians.get(discipline)
            when = start + dt.timedelta(minutes=i % 3)
            if user is not None:
                rows.append(
                    check_in(
                        session,
                        cs,
                        user=user,
                        mode=AttendanceMode.IN_PERSON,
                        arrived_at=when,
                        recorded_by=coordinator,
                        signed=proto.is_signed(session, cs),
                        at=when,
                        actor=actor,
                    )
                )
            else:
                rows.append(
                    check_in(
                        session,
                        cs,
                        user=None,
                        name=f"Dr. {discipline.split('/')[0]} (Demo, extern)",
                        institution="Kooperationsklinik (Demo)",
                        discipline=discipline,
                        mode=AttendanceMode.VIDEO,
                        arrived_at=when,
                        recorded_by=coordinator,
                        signed=proto.is_signed(session, cs),
                        at=when,
                        actor=actor,
                    )
                )
        # a guest who leaves after the first case; general practice is on the centre's discipline list
        get_or_create_discipline(session, "Allgemeinmedizin")
        guest = check_in(
            session,
            cs,
            user=None,
            name="Dr. Gast (Demo)",
            institution="Praxis am Markt (Demo)",
            discipline="Allgemeinmedizin",
            mode=AttendanceMode.VIDEO,
            arrived_at=start,
            recorded_by=coordinator,
            signed=proto.is_signed(session, cs),
            at=start,
            actor=actor,
        )
        for c_index, case in enumerate(cases):
            types, text, repr_wanted = RECOMMENDATIONS[c_index]
            when = start + dt.timedelta(minutes=10 + 15 * c_index)
            proto.record_recommendation(
                session,
                case,
                proto.RecommendationInput(
                    therapy_types=types,
                    text=text,
                    representation_wanted=repr_wanted,
                    representation_date=cs.local_start.date() + dt.timedelta(days=14) if repr_wanted else None,
                ),
                user=coordinator,
                at=when,
                actor=actor,
            )
            if c_index == 0:
                leave(
                    session,
                    guest,
                    left_at=when + dt.timedelta(minutes=2),
                    signed=proto.is_signed(session, cs),
                    at=when + dt.timedelta(minutes=2),
                    actor=actor,
                )
        moderation = moderators_of(session, board.id)
        signer = next((r.user for r in rows if r.user is not None and r.user.id in moderation), None)
        if signer is None:
            continue
        render = _renderer(templates, at)
        proto.sign_protocol(session, cs, user=signer, password=PASSWORD, render=render, at=cs.ends_at, actor=actor)
        signed += 1
        if b_index == 0:
            proto.amend_recommendation(
                session,
                cases[1],
                proto.RecommendationInput(
                    therapy_types=["CH", "ST"],
                    text="Definitive Radiochemotherapie nach Leitlinie; Beginn nach Zahnsanierung.",
                ),
                reason="Ergänzung: Zahnsanierung vor Radiatio war besprochen, fehlte im Protokoll.",
                user=signer,
                password=PASSWORD,
                render=render,
                at=cs.ends_at + dt.timedelta(days=1),
                actor=actor,
            )
    return signed
