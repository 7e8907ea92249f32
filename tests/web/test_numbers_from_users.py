"""Numbers typed or posted by users (ids, points, registry numbers): a superscript "²" or Arabic-Indic digits pass
``str.isdigit`` and ``\\d`` and then failed in ``int`` (a bare 500) or were stored as non-ASCII digits; 25 digits
reached SQLite, which refuses such an int with an OverflowError (a bare 500). Each gets a German message now and
nothing is saved."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_from, login, post_form
from tumorboard.auth.services import check_efn
from tumorboard.cases.models import Case, CaseStatus
from tumorboard.cme.models import CmeAccreditation
from tumorboard.cme.services import check_vnr
from tumorboard.conferences.models import ConferenceSession, SessionStatus
from tumorboard.errors import InvalidInput

ARABIC = "٠١٢٣٤٥٦٧٨٩"


def test_parse_id_takes_ascii_digits_that_fit_the_database():
    from tumorboard.text import parse_id

    assert parse_id("42") == 42 and parse_id(" 7 ") == 7 and parse_id("9" * 18) == 10**18 - 1
    for bad in ("", None, "²", "٣", "9" * 19, "-1", "1.0", "abc", "1 2"):
        assert parse_id(bad) is None, bad


def test_registry_numbers_are_ascii_digits():
    with pytest.raises(InvalidInput, match="19 Ziffern"):
        check_vnr("276" + ARABIC + ARABIC[:6])
    with pytest.raises(InvalidInput, match="15 Ziffern"):
        check_efn("٠" * 15)  # Luhn-valid in Arabic-Indic digits, still no EFN


def _active_case(demo) -> Case:
    """A registered case of a planned session (the demo has them)."""
    return demo.scalars(
        select(Case)
        .join(ConferenceSession, Case.session_id == ConferenceSession.id)
        .where(Case.status.in_((CaseStatus.REGISTERED, CaseStatus.COMPLETE)))
        .where(ConferenceSession.status == SessionStatus.PLANNED)
        .order_by(ConferenceSession.starts_at, Case.id)
    ).first()


def _session_with_cases(demo) -> ConferenceSession:
    return demo.get(ConferenceSession, _active_case(demo).session_id)


@pytest.mark.parametrize("target", ["²", "9" * 25])
def test_cancel_with_a_chosen_target_that_is_no_id(client, demo, target):
    cs = _session_with_cases(demo)
    login(client, "koordination")
    status, page = post_form(
        client, f"/sessions/{cs.id}", f"/sessions/{cs.id}/cancel",
        {"reason": "Raum belegt", "cases": "chosen", "target": target},
    )  # fmt: skip
    assert status in (404, 409, 422), page
    demo.expire_all()
    assert demo.get(ConferenceSession, cs.id).status is SessionStatus.PLANNED


def test_moving_a_case_to_a_session_id_too_large(client, demo):
    case = _active_case(demo)
    cs = demo.get(ConferenceSession, case.session_id)
    login(client, "koordination")
    status, page = post_form(client, f"/cases/{case.id}", f"/cases/{case.id}/move", {"target": "9" * 25, "reason": "x"})
    assert status == 422, page
    demo.expire_all()
    assert demo.get(Case, case.id).session_id == cs.id


@pytest.mark.parametrize("points", ["²", "9" * 5000, "٣"])
def test_cme_points_that_are_no_number(client, demo, points):
    cs = _session_with_cases(demo)
    login(client, "koordination")
    token = csrf_from(client.get(f"/sessions/{cs.id}/cme").text)
    response = client.post(
        f"/sessions/{cs.id}/cme",
        data={"csrf_token": token, "vnr": "2761234567890123459", "category": "C", "points": points},
    )
    assert response.status_code == 422 and "Die Punktzahl liegt zwischen 0 und 99." in response.text
    assert demo.scalar(select(func.count()).select_from(CmeAccreditation)) == 0


def test_iknr_in_arabic_indic_digits_is_refused(client, demo):
    case = demo.scalars(select(Case).order_by(Case.id)).first()
    login(client, "koordination")
    status, page = post_form(
        client, f"/cases/{case.id}", f"/cases/{case.id}/registry",
        {"insurer_iknr": ARABIC[1:], "insurance_number": "", "date_of_death": ""},
    )  # fmt: skip
    assert status == 422 and "besteht aus genau 9 Ziffern" in page
    demo.expire_all()
    assert demo.get(Case, case.id).patient.insurer_iknr is None


def test_new_case_from_a_study_id_too_large(client, demo):
    login(client, "koordination")
    token = csrf_from(client.get("/cases/new").text)
    response = client.post("/cases/new", data={"csrf_token": token, "from_study": "9" * 25, "board": "1"})
    assert response.status_code == 422 and "Diese Studie gibt es nicht." in response.text


@pytest.mark.parametrize("board", ["²", "9" * 25])
@pytest.mark.parametrize("page", ["/qm/", "/qm/audit", "/qm/quotas"])
def test_qm_pages_with_a_board_that_is_no_id(client, demo, page, board):
    login(client, "qm")
    response = client.get(page, query_string={"board": board})
    assert response.status_code == 404 and "Keine Konferenz heißt" in response.text
