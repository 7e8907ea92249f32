"""Board membership, moderation and emergency access as services, and the ``tumorboard members`` CLI."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tests.conftest import NOW
from tumorboard.access.models import BoardMember, BoardRole, EmergencyAccess
from tumorboard.access.services import (
    active_emergency_access,
    grant_emergency_access,
    members_of,
    pseudonym,
    remove_member,
    set_member,
)
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.auth.services import actor_for
from tumorboard.cli import main
from tumorboard.conferences.models import Board
from tumorboard.errors import InvalidInput, NotFound


def _user(db, name: str) -> User:
    user = db.scalar(select(User).where(User.username == name))
    assert user is not None
    return user


def _board(db, short: str) -> Board:
    board = db.scalar(select(Board).where(Board.short_name == short))
    assert board is not None
    return board


def test_demo_members_come_from_the_quorum_disciplines_with_a_moderator(demo):
    brust = {m.user.username: m.role for m in members_of(demo, _board(demo, "Brust"))}
    # Radiologie, Pathologie, Strahlentherapie are Brust disciplines; Viszeralchirurgie and Gastroenterologie are not
    assert brust == {"dr.berger": BoardRole.MODERATOR, "dr.yilmaz": BoardRole.DEPUTY, "dr.schmitz": BoardRole.MEMBER}
    viszeral = {m.user.username: m.role for m in members_of(demo, _board(demo, "Viszeral"))}
    assert viszeral["dr.krueger"] is BoardRole.MODERATOR and viszeral["dr.hoffmann"] is BoardRole.DEPUTY
    assert len(viszeral) == 6


def test_a_new_moderator_makes_the_old_one_a_deputy_and_everything_is_audited(demo):
    board, coord = _board(demo, "Brust"), _user(demo, "koordination")
    set_member(demo, board, _user(demo, "dr.schmitz"), "moderator", at=NOW, actor=actor_for(coord))
    roles = {m.user.username: m.role for m in members_of(demo, board)}
    assert roles["dr.schmitz"] is BoardRole.MODERATOR and roles["dr.berger"] is BoardRole.DEPUTY
    remove_member(demo, board, _user(demo, "dr.yilmaz"), at=NOW, actor=actor_for(coord))
    events = demo.scalars(
        select(AuditEvent).where(
            AuditEvent.tag.startswith("access:member:"), AuditEvent.actor_label == "user:koordination"
        )
    ).all()
    assert [e.tag for e in events] == ["access:member:role", "access:member:role", "access:member:remove"]
    assert events[0].before == {"user_id": _user(demo, "dr.berger").id, "role": "moderator"}


def test_only_physicians_are_members_and_one_moderator_per_board_in_the_database(demo):
    board = _board(demo, "Brust")
    with pytest.raises(InvalidInput, match="nur aktive Ärztinnen und Ärzte"):
        set_member(demo, board, _user(demo, "qm"), "member", at=NOW, actor=CLI)
    with pytest.raises(InvalidInput, match="Unbekannte Rolle"):
        set_member(demo, board, _user(demo, "dr.schmitz"), "chef", at=NOW, actor=CLI)
    with pytest.raises(NotFound):
        remove_member(demo, board, _user(demo, "dr.krueger"), at=NOW, actor=CLI)
    row = demo.scalar(select(BoardMember).where(BoardMember.board_id == board.id, BoardMember.role == "deputy"))
    row.role = BoardRole.MODERATOR  # around the service: the partial unique index refuses a second moderator
    with pytest.raises(IntegrityError):
        demo.flush()
    demo.rollback()


def test_emergency_access_needs_a_reason_expires_and_is_audited(demo):
    from tumorboard.cases.models import Case

    case = demo.scalars(select(Case).order_by(Case.id)).first()
    krueger = _user(demo, "dr.krueger")
    with pytest.raises(InvalidInput, match="Grund des Notfallzugriffs"):
        grant_emergency_access(demo, krueger, case.id, reason="weil", at=NOW, actor=actor_for(krueger))
    grant_emergency_access(demo, krueger, case.id, reason="Patient liegt auf meiner Station, Blutung", at=NOW,
                           actor=actor_for(krueger))  # fmt: skip
    assert active_emergency_access(demo, krueger, case.id, NOW + dt.timedelta(hours=11)) is not None
    assert active_emergency_access(demo, krueger, case.id, NOW + dt.timedelta(hours=12)) is None
    event = demo.scalar(select(AuditEvent).where(AuditEvent.tag == "access:emergency:grant"))
    assert event.actor_label == "user:dr.krueger" and event.subject_id == str(case.id) and "Blutung" in event.reason
    assert demo.scalar(select(EmergencyAccess.reason)) == "Patient liegt auf meiner Station, Blutung"


def test_pseudonym_is_stable_keyed_and_reveals_nothing():
    assert pseudonym("k" * 40, 7) == pseudonym("k" * 40, 7)
    assert pseudonym("k" * 40, 7) != pseudonym("k" * 40, 8) != pseudonym("j" * 40, 7)
    assert pseudonym("k" * 40, 7).startswith("P-") and "7" not in pseudonym("k" * 40, 7)[:2]


def test_members_cli(runtime, demo):
    def run(*args: str):
        return CliRunner().invoke(main, list(args), obj=runtime, catch_exceptions=False)

    result = run("members", "list", "Brust")
    assert result.exit_code == 0 and result.output.splitlines()[0].split()[:2] == ["moderator", "dr.berger"]
    assert run("members", "set", "Brust", "dr.krueger", "--role", "deputy").output.strip() == "dr.krueger: deputy"
    assert "dr.krueger" in run("members", "list", "Brust").output
    assert run("members", "remove", "Brust", "dr.krueger").exit_code == 0
    assert "dr.krueger" not in run("members", "list", "Brust").output
    result = run("members", "set", "Nirgendwo", "dr.krueger")
    assert result.exit_code == 1 and "Diese Konferenz gibt es nicht." in result.output
    assert run("members", "defaults").output.splitlines()[0] == "Viszeral: 0 neu"
    tags = demo.scalars(select(AuditEvent.tag).where(AuditEvent.actor_label == "system:cli",
                                                     AuditEvent.tag.startswith("access:member:"))).all()  # fmt: skip
    assert "access:member:remove" in tags
