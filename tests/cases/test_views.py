"""Case registration and the case list through the Flask test client, on the real database."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_from, login
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.cases.models import Case, CaseDocument
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board, ConferenceSession, SessionStatus
from tumorboard.patients.models import Patient

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _board(db, short: str) -> Board:
    return db.scalar(select(Board).where(Board.short_name == short))


def _form(client, board: Board, **overrides: str) -> dict[str, str]:
    page = client.get(f"/cases/new?board={board.id}")
    assert page.status_code == 200
    data = {
        "csrf_token": csrf_from(page.text),
        "board": str(board.id),
        "session": "0",
        "family_name": "Großmann",
        "given_name": "Jürgen",
        "birth_date": "1961-04-12",
        "sex": "M",
        "patient_number": "KIS-777001",
        "referring_partner": "0",
        "partner_patient_id": "",
        "icd10_code": "C34.1",
        "icd10_text": "Adenokarzinom Oberlappen",
        "icdo_morphology": "8140/3",
        "tnm": "cT2 cN0 cM0",
        "ecog": "1",
        "conference_type": "praeth",
        "question": "Operation oder Radiochemotherapie?",
        "presenter": "0",
        "accession_number": "",
    }
    data.update(overrides)
    return data


def search(client, query: str) -> str:
    token = csrf_from(client.get("/search").text)
    response = client.post("/search", data={"csrf_token": token, "q": query})
    assert response.status_code == 200
    return response.text


def _counts(db) -> tuple[int, int, int]:
    return (
        db.scalar(select(func.count(Case.id))),
        db.scalar(select(func.count(Patient.id))),
        db.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.tag.notlike("%:view"))),
    )


def test_physician_registers_and_the_case_lands_on_the_next_session(client, demo):
    login(client, "dr.berger")
    board = _board(demo, "Lunge")
    response = client.post("/cases/new", data=_form(client, board), follow_redirects=True)
    assert response.status_code == 200 and "Fall angemeldet für Lunge am 24.11.2026 16:30." in response.text
    case = demo.scalar(select(Case).join(Patient).where(Patient.patient_number == "KIS-777001"))
    assert case.session.local_start.isoformat() == "2026-11-24T16:30:00+01:00" and not case.is_late
    page = client.get(f"/sessions/{case.session_id}").text
    assert "Großmann, Jürgen" in page and "Operation oder Radiochemotherapie?" in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"icd10_code": "Lungenkrebs"}, "ist kein ICD-10-GM-Kode"),
        ({"question": ""}, "Bitte die Fragestellung an die Konferenz angeben."),
        ({"birth_date": "2031-01-01"}, "Das Geburtsdatum liegt in der Zukunft."),
        ({"birth_date": "31.02.1960"}, "Bitte die markierten Felder prüfen."),
        ({"family_name": ""}, "Bitte die markierten Felder prüfen."),
    ],
)
def test_bad_registration_gets_a_german_message_and_changes_nothing(client, demo, overrides, message):
    login(client, "dr.berger")
    before = _counts(demo)
    response = client.post("/cases/new", data=_form(client, _board(demo, "Lunge"), **overrides))
    assert response.status_code == 422 and message in response.text
    assert _counts(demo) == before


def test_duplicate_warning_then_confirmed(client, demo):
    login(client, "dr.berger")
    board = _board(demo, "Lunge")
    client.post("/cases/new", data=_form(client, board))
    before = _counts(demo)
    again = client.post("/cases/new", data=_form(client, _board(demo, "Viszeral"), icd10_code="C18.7"))
    assert again.status_code == 409 and "Diese Person steht bereits auf einer kommenden Sitzung" in again.text
    assert "Lungenkrebszentrum" in again.text and _counts(demo) == before
    confirmed = client.post(
        "/cases/new", data=_form(client, _board(demo, "Viszeral"), icd10_code="C18.7", confirm_duplicate="y")
    )
    assert confirmed.status_code == 303


def test_coordinator_override_marks_late_physician_cannot_choose(client, demo, clock):
    import datetime as dt

    board = _board(demo, "Lunge")
    first = conf.sessions_between(demo, *conf.day_range(dt.date(2026, 11, 24), dt.date(2026, 11, 25)), board=board)[0]
    clock.current = conf.registration_deadline(first) + dt.timedelta(minutes=1)
    login(client, "dr.berger")
    response = client.post("/cases/new", data=_form(client, board, session=str(first.id)))
    assert response.status_code == 422  # the physician's form offers no session choice
    login(client, "koordination")
    response = client.post("/cases/new", data=_form(client, board, session=str(first.id)), follow_redirects=True)
    assert response.status_code == 200 and "Nachmeldung" in response.text
    case = demo.scalar(select(Case).join(Patient).where(Patient.patient_number == "KIS-777001"))
    assert case.session_id == first.id and case.is_late
    assert "Nachmeldung" in client.get(f"/sessions/{first.id}").text


def _demo_case(demo, board_short: str = "Viszeral") -> Case:
    return demo.scalars(select(Case).join(Board).where(Board.short_name == board_short).order_by(Case.id)).first()


def test_reorder_by_form_and_buttons(client, demo):
    login(client, "koordination")
    case = _demo_case(demo)
    cs = case.session
    page = client.get(f"/sessions/{cs.id}").text
    ids = [c.id for c in demo.scalars(select(Case).where(Case.session_id == cs.id).order_by(Case.position))]
    assert len(ids) >= 2
    new = list(reversed(ids))
    response = client.post(
        f"/sessions/{cs.id}/order", data={"csrf_token": csrf_from(page), "order": ",".join(map(str, new))}
    )
    assert response.status_code == 303
    demo.expire_all()
    assert [c.id for c in demo.scalars(select(Case).where(Case.session_id == cs.id).order_by(Case.position))] == new
    client.post(f"/cases/{new[-1]}/up", data={"csrf_token": csrf_from(page)})
    demo.expire_all()
    order = [c.id for c in demo.scalars(select(Case).where(Case.session_id == cs.id).order_by(Case.position))]
    assert order[-2:] == [new[-1], new[-2]]
    stale = client.post(f"/sessions/{cs.id}/order", data={"csrf_token": csrf_from(page), "order": str(ids[0])})
    assert stale.status_code == 409 and "Die Fallliste hat sich inzwischen geändert" in stale.text


def test_move_to_a_cancelled_session_gets_a_german_message(client, demo):
    import datetime as dt

    login(client, "koordination")
    case = _demo_case(demo)
    later = [
        s
        for s in demo.scalars(
            select(ConferenceSession)
            .where(
                ConferenceSession.board_id == case.board_id,
                ConferenceSession.starts_at > case.session.starts_at,
                ConferenceSession.status == SessionStatus.PLANNED,
            )
            .order_by(ConferenceSession.starts_at)
        )
    ][2]
    conf.cancel_session(
        demo,
        later,
        reason="Kongress",
        at=dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC),
        actor=CLI,
    )
    demo.commit()
    page = client.get(f"/cases/{case.id}").text
    response = client.post(
        f"/cases/{case.id}/move",
        data={"csrf_token": csrf_from(page), "target": str(later.id), "reason": "Befunde fehlen"},
    )
    assert response.status_code == 422 and "Die gewählte Sitzung ist abgesagt." in response.text
    demo.expire_all()
    assert case.session_id != later.id


def test_withdraw_needs_reason(client, demo):
    login(client, "koordination")
    case = _demo_case(demo)
    page = client.get(f"/cases/{case.id}").text
    response = client.post(f"/cases/{case.id}/withdraw", data={"csrf_token": csrf_from(page), "reason": ""})
    assert response.status_code == 422 and "Bitte einen Grund für das Zurückziehen angeben." in response.text
    response = client.post(
        f"/cases/{case.id}/withdraw",
        data={"csrf_token": csrf_from(page), "reason": "Patientin lehnt ab"},
        follow_redirects=True,
    )
    assert response.status_code == 200 and "zurückgezogen" in response.text


def test_uploads(client, demo, tmp_path):
    login(client, "koordination")
    case = _demo_case(demo)
    page = client.get(f"/cases/{case.id}").text

    def upload(data: bytes, name: str = "befund.pdf", ctype: str = "application/pdf"):
        # a real multipart body, built in memory (werkzeug's builder would spool 50 MB to an unclosed temp file)
        boundary = "----tumorboardtest"
        fields = {"csrf_token": csrf_from(page), "kind": "pathology"}
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        )
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return client.post(
            f"/cases/{case.id}/documents",
            input_stream=io.BytesIO(body),
            content_length=len(body),
            content_type=f"multipart/form-data; boundary={boundary}",
        )

    before = demo.scalar(select(func.count(CaseDocument.id)))
    response = upload(b"GIF89a not a pdf", "bild.gif", "image/gif")
    assert response.status_code == 422 and "Nur PDF-Dateien können angehängt werden." in response.text
    response = upload(b"%PDF-" + b"0" * (50 * 1024 * 1024))
    assert response.status_code == 413 and "Die Datei ist zu groß (höchstens 20 MB)." in response.text
    assert demo.scalar(select(func.count(CaseDocument.id))) == before
    response = upload(PDF, "Histologie Müller.pdf")
    assert response.status_code == 303
    doc = demo.scalar(select(CaseDocument).where(CaseDocument.case_id == case.id))
    download = client.get(f"/documents/{doc.id}")
    assert download.status_code == 200 and download.data == PDF
    assert "dokument-" in download.headers["Content-Disposition"]


def test_roles_on_case_routes(client, demo):
    case = _demo_case(demo)
    login(client, "qm")
    assert client.get(f"/cases/{case.id}").status_code == 200  # read-only auditor
    assert client.get("/cases/new").status_code == 403
    page = client.get(f"/cases/{case.id}").text
    assert (
        client.post(f"/cases/{case.id}/withdraw", data={"csrf_token": csrf_from(page), "reason": "x y z"}).status_code
        == 403
    )
    login(client, "dr.berger")
    page = client.get(f"/cases/{case.id}").text
    assert (
        client.post(
            f"/sessions/{case.session_id}/order", data={"csrf_token": csrf_from(page), "order": str(case.id)}
        ).status_code
        == 403
    )


def test_reading_patient_data_is_logged_without_the_data(client, demo):
    login(client, "qm")
    case = _demo_case(demo)
    client.get(f"/cases/{case.id}")
    search(client, case.patient.family_name)
    events = demo.scalars(
        select(AuditEvent).where(AuditEvent.tag.in_(("case:case:view", "patient:search:query")))
    ).all()
    assert {e.tag for e in events} == {"case:case:view", "patient:search:query"}
    assert all(case.patient.family_name not in str(e.after) for e in events)


def test_search_and_my_cases(client, demo):
    login(client, "dr.berger")
    client.post("/cases/new", data=_form(client, _board(demo, "Lunge")))
    page = search(client, "GROSSMANN")
    assert "Großmann, Jürgen" in page and "Lunge" in page
    assert "Großmann, Jürgen" in search(client, "12.04.1961")
    assert "Großmann, Jürgen" in client.get("/my").text


def test_errors_of_the_question_and_the_patient_show_at_once_next_to_their_fields(client, demo):
    """Issue 13: "Fragestellung" is marked required and its error comes with the others, not after them."""
    login(client, "koordination")
    page = client.get("/cases/new").text
    question_label = page.split('name="question"', 1)[0].rsplit("<label>", 1)[1]
    assert 'class="required"' in question_label
    before = _counts(demo)
    response = client.post("/cases/new", data=_form(client, _board(demo, "Lunge"), question="", family_name=""))
    assert response.status_code == 422
    field_error = r"\s*(?:<small>[^<]*</small>\s*)?<span class=\"field-error\">"
    textarea = r'name="(\w+)"[^<]*</textarea>' + field_error
    other = r'name="(\w+)"[^>]*>' + field_error
    named = {a or b for a, b in re.findall(f"{textarea}|{other}", response.text)}
    assert {"question", "family_name"} <= named, named
    assert _counts(demo) == before


def test_a_session_of_another_board_gets_its_own_message_not_an_invalid_choice(client, demo):
    """Issue 13: the coordinator changed the board after choosing a session of the first one."""
    login(client, "koordination")
    lunge, gyn = _board(demo, "Lunge"), _board(demo, "Gyn")
    page = client.get(f"/cases/new?board={lunge.id}").text
    gyn_session = re.search(rf'<option data-board="{gyn.id}" hidden value="(\d+)"', page)
    assert gyn_session, "every board's sessions are in the list, the other boards' hidden"
    response = client.post("/cases/new", data=_form(client, lunge, session=gyn_session.group(1)))
    assert response.status_code == 422
    assert "Die Sitzung gehört zu einer anderen Konferenz." in response.text
    assert "Keine gültige Auswahl" not in response.text
