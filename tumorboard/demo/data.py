"""Demo data: the center's nine boards (../shared/domain/boards.md), one user per role, synthetic patients.

Everything here is invented. The patients exist so that tests can prove their names, IDs and birth dates
never appear in feeds or logs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.auth.actors import Actor
from tumorboard.auth.models import Role
from tumorboard.auth.services import create_user
from tumorboard.clock import BERLIN
from tumorboard.conferences.models import Board, QuorumKind
from tumorboard.conferences.quorum import QuorumSpec
from tumorboard.conferences.services import BoardInput, create_board, generate_sessions
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.patients.models import Sex
from tumorboard.patients.services import create_patient

DEMO_PASSWORD = "tumorboard-demo"  # noqa: S105 - printed by `make run`; demo only
SERIES_START = dt.date(2026, 1, 5)
GENERIC = ("Hämatologie/Onkologie", "Strahlentherapie", "Pathologie", "Radiologie")
#: Quorum presets from boards.md — to verify against the current DKG Erhebungsbogen.
_ALL = QuorumKind.ALL_OF


@dataclass(frozen=True)
class DemoBoard:
    name: str
    short: str
    byday: str
    start: dt.time
    room: str
    quorum: tuple[QuorumSpec, ...]


BOARDS: tuple[DemoBoard, ...] = (
    DemoBoard(
        "Viszeralonkologisches Zentrum",
        "Viszeral",
        "TU",
        dt.time(15, 15),
        "Konferenzraum 1, Ebene 2",
        (QuorumSpec(_ALL, ("Viszeralchirurgie", "Gastroenterologie", *GENERIC)),),
    ),
    DemoBoard(
        "Gynäkologisches Krebszentrum",
        "Gyn",
        "MO",
        dt.time(14, 30),
        "Konferenzraum 2, Ebene 2",
        (
            QuorumSpec(
                _ALL,
                (
                    "Gynäkologische Onkologie (Operateur)",
                    "Radiologie",
                    "Pathologie",
                    "Strahlentherapie",
                    "Internistische Onkologie",
                ),
            ),
        ),
    ),
    DemoBoard(
        "Hautkrebszentrum",
        "Haut",
        "TU",
        dt.time(15, 15),
        "Demoraum Dermatologie",
        (QuorumSpec(_ALL, ("Dermatologie", *GENERIC)),),
    ),
    DemoBoard(
        "Kopf-Hals-Tumorzentrum",
        "Kopf-Hals",
        "WE",
        dt.time(16, 0),
        "Konferenzraum HNO",
        (QuorumSpec(_ALL, ("Hals-Nasen-Ohrenheilkunde", *GENERIC)),),
    ),
    DemoBoard(
        "Lungenkrebszentrum",
        "Lunge",
        "TU",
        dt.time(16, 30),
        "Konferenzraum 1, Ebene 2",
        (QuorumSpec(_ALL, ("Thoraxchirurgie", *GENERIC)),),
    ),
    DemoBoard(
        "Neuroonkologisches Zentrum",
        "Neuro",
        "WE",
        dt.time(15, 30),
        "Konferenzraum Neurochirurgie",
        (QuorumSpec(_ALL, ("Neurochirurgie", *GENERIC)),),
    ),
    DemoBoard(
        "Prostatakarzinomzentrum",
        "Prostata",
        "TH",
        dt.time(16, 30),
        "Konferenzraum Urologie",
        (
            QuorumSpec(_ALL, ("Urologie", "Strahlentherapie", "Pathologie", "Radiologie")),
            QuorumSpec(QuorumKind.ONE_OF, ("Hämatologie/Onkologie", "Urologie mit med. Tumortherapie")),
        ),
    ),
    DemoBoard(
        "Westfälisches Brustzentrum",
        "Brust",
        "MO",
        dt.time(14, 30),
        "Konferenzraum Senologie",
        (
            QuorumSpec(
                _ALL,
                (
                    "Radiologie",
                    "Operative Gynäkologie/Senologie",
                    "Pathologie",
                    "Strahlentherapie",
                    "Internistische/gynäkologische Onkologie",
                ),
            ),
        ),
    ),
    DemoBoard(
        "Kinderonkologisches Zentrum",
        "Kinder",
        "WE",
        dt.time(13, 45),
        "Konferenzraum Kinderklinik",
        (
            QuorumSpec(
                _ALL,
                (
                    "Kinderchirurgie",
                    "Pädiatrische Hämatologie/Onkologie",
                    "Strahlentherapie",
                    "Pathologie",
                    "Radiologie",
                ),
            ),
        ),
    ),
)

USERS: tuple[tuple[str, str, Role, str | None, str | None], ...] = (
    ("admin", "Administration (Demo)", Role.ADMIN, None, None),
    ("koordination", "Kerstin Koordinatorin (Demo)", Role.COORDINATOR, None, None),
    ("dr.berger", "Dr. Anna Berger (Demo)", Role.PHYSICIAN, "Radiologie", "802761234567896"),
    ("qm", "Quentin Qualität (Demo)", Role.QM, None, None),
    ("dr.yilmaz", "Dr. Deniz Yılmaz (Demo)", Role.PHYSICIAN, "Pathologie", None),
    ("dr.schmitz", "Dr. Paul Schmitz (Demo)", Role.PHYSICIAN, "Strahlentherapie", None),
    ("dr.wagner", "Prof. Dr. Clara Wagner (Demo)", Role.PHYSICIAN, "Hämatologie/Onkologie", None),
    ("dr.krueger", "Dr. Jonas Krüger (Demo)", Role.PHYSICIAN, "Viszeralchirurgie", None),
    ("dr.hoffmann", "Dr. Mia Hoffmann (Demo)", Role.PHYSICIAN, "Gastroenterologie", None),
)

#: Synthetic patients (family, given, birth date, sex, KIS number). Invented; umlauts on purpose.
PATIENTS: tuple[tuple[str, str, dt.date, Sex, str], ...] = (
    ("Müller", "Jürgen", dt.date(1958, 3, 14), Sex.MALE, "KIS-900001"),
    ("Schröder", "Hannelore", dt.date(1949, 11, 2), Sex.FEMALE, "KIS-900002"),
    ("Özdemir", "Ayşe", dt.date(1971, 6, 30), Sex.FEMALE, "KIS-900003"),
    ("Weißenfels", "Günther", dt.date(1962, 1, 19), Sex.MALE, "KIS-900004"),
    ("Krämer-Lüdenscheidt", "Sophie", dt.date(1985, 9, 8), Sex.FEMALE, "KIS-900005"),
    ("Nguyen", "Minh", dt.date(1990, 12, 24), Sex.MALE, "KIS-900006"),
    ("Brüggemann", "Elisabeth", dt.date(1939, 4, 1), Sex.FEMALE, "KIS-900007"),
    ("Jankowski", "Paweł", dt.date(1968, 7, 17), Sex.MALE, "KIS-900008"),
    ("Äbersold", "Lea", dt.date(2014, 2, 11), Sex.FEMALE, "KIS-900009"),
)


#: Moderation per board (short name): moderator and deputies; every other board: MODERATION_DEFAULT.
MODERATION: dict[str, tuple[str, tuple[str, ...]]] = {
    "Viszeral": ("dr.krueger", ("dr.berger", "dr.hoffmann")),
    "Gyn": ("dr.berger", ("dr.yilmaz",)),
    "Brust": ("dr.berger", ("dr.yilmaz",)),
    "Kinder": ("dr.berger", ("dr.yilmaz",)),
}
MODERATION_DEFAULT = ("dr.wagner", ("dr.berger",))


def _load_members(session: Session, boards: list[Board], *, at: dt.datetime, actor: Actor) -> None:
    """Members from the quorum disciplines, and a moderator with deputies per board."""
    from tumorboard.access.models import BoardRole
    from tumorboard.access.services import add_default_members, set_member
    from tumorboard.auth.models import User

    users = {u.username: u for u in session.scalars(select(User))}
    for board in boards:
        add_default_members(session, board, at=at, actor=actor)
        moderator, deputies = MODERATION.get(board.short_name, MODERATION_DEFAULT)
        set_member(session, board, users[moderator], BoardRole.MODERATOR, at=at, actor=actor)
        for name in deputies:
            set_member(session, board, users[name], BoardRole.DEPUTY, at=at, actor=actor)


def demo_loaded(session: Session) -> bool:
    return session.scalar(select(Board.id).limit(1)) is not None


def load_demo(
    session: Session,
    *,
    at: dt.datetime,
    actor: Actor,
    horizon_weeks: int,
    history: bool = False,
    imaging_storage: Path | None = None,
    templates: ExportTemplates | None = None,
) -> bool:
    """Load the demo once; returns False if boards already exist (nothing is changed then). ``history`` adds one
    held and signed past session per board, ``imaging_storage`` (the image store's folder) three received studies
    (``tumorboard demo load`` does both; test fixtures leave them out). ``history`` signs protocols, so it needs
    the process's export ``templates``."""
    if history and templates is None:
        raise ValueError("the demo's history signs protocols: pass the export templates")
    if demo_loaded(session):
        return False
    boards = [
        create_board(
            session,
            BoardInput(
                name=b.name,
                short_name=b.short,
                center="Onkologisches Zentrum (Demo)",
                rrule=f"FREQ=WEEKLY;BYDAY={b.byday}",
                series_start=SERIES_START,
                start_time=b.start,
                duration_minutes=60,
                room=b.room,
                video_url=f"https://video.example.org/tumorkonferenz-{b.short.lower()}",
                quorum=list(b.quorum),
            ),
            at=at,
            actor=actor,
        )
        for b in BOARDS
    ]
    for username, display, role, discipline, efn in USERS:
        create_user(
            session,
            username=username,
            display_name=display,
            password=DEMO_PASSWORD,
            role=role,
            discipline=discipline,
            efn=efn,
            at=at,
            actor=actor,
        )
    _load_members(session, boards, at=at, actor=actor)
    for family, given, birth, sex, number in PATIENTS:
        create_patient(
            session,
            family_name=family,
            given_name=given,
            birth_date=birth,
            sex=sex,
            patient_number=number,
            at=at,
            actor=actor,
        )
    today = at.astimezone(BERLIN).date()
    generate_sessions(
        session, start=today, end=today + dt.timedelta(weeks=horizon_weeks), at=at, actor=actor, boards=boards
    )
    session.flush()
    from tumorboard.partners.demo import load_demo_partners

    load_demo_partners(session, at=at, actor=actor)
    from tumorboard.demo.cases import load_demo_cases

    load_demo_cases(session, boards, at=at, actor=actor)
    if history:
        from tumorboard.demo.conference import load_demo_conferences

        assert templates is not None
        load_demo_conferences(session, boards, templates=templates, at=at, actor=actor)
    if imaging_storage is not None:
        from tumorboard.imaging.demo import load_demo_imaging
        from tumorboard.imaging.dicom.spool import Spool

        load_demo_imaging(session, Spool(imaging_storage), at=at, actor=actor)
    return True
