from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import make_user
from tumorboard.auth.services import authenticate, is_valid_efn
from tumorboard.auth.throttle import ThrottlePolicy
from tumorboard.errors import Conflict, InvalidInput, PermissionDenied

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("efn", "ok"),
    [
        ("802761234567896", True),
        ("802761234567892", False),
        ("80276123456789", False),
        ("8027612345678960", False),
        ("80276123456789a", False),
    ],
)
def test_efn_check_digit(efn, ok):
    assert is_valid_efn(efn) is ok


def test_physician_with_efn(db_session):
    user = make_user(db_session, NOW, role="physician", efn="8027 6123 4567 896")
    assert user.efn == "802761234567896" and user.discipline.name == "Radiologie"
    assert user.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"efn": "12345"}, "efn"),
        ({"efn": "802761234567892"}, "efn"),
        ({"username": "Hans Wurst"}, "username"),
        ({"role": "chef"}, "role"),
        ({"role": "physician", "discipline": ""}, "discipline"),
    ],
)
def test_invalid_accounts_are_refused(db_session, kw, field):
    with pytest.raises(InvalidInput) as info:
        make_user(db_session, NOW, **kw)
    assert info.value.field == field


def test_duplicate_username(db_session):
    make_user(db_session, NOW, username="doppelt")
    with pytest.raises(Conflict):
        make_user(db_session, NOW, username="doppelt")


def test_authenticate(db_session):
    make_user(db_session, NOW, username="anna")
    policy = ThrottlePolicy()
    assert (
        authenticate(
            db_session,
            username=" Anna ",
            password="correct horse battery",
            address="192.0.2.1",
            at=NOW,
            policy=policy,
        ).username
        == "anna"
    )
    with pytest.raises(PermissionDenied):
        authenticate(db_session, username="anna", password="wrong", address="192.0.2.1", at=NOW, policy=policy)


def test_accounts_and_check_in_share_one_efn_rule():
    """The account form and the attendance check-in used two EFN checks with different messages."""
    from tumorboard.attendance import services as attendance
    from tumorboard.auth import services as auth

    assert attendance.check_efn is auth.check_efn
    assert auth.check_efn(" 8027 6123 4567 896 ") == "802761234567896" and auth.check_efn("  ") is None
    with pytest.raises(InvalidInput, match=r"15 Ziffern bestehen \(eingegeben"):
        auth.check_efn("12345")
    with pytest.raises(InvalidInput, match="Prüfziffer"):
        auth.check_efn("802761234567892")
