"""The access matrix of issue 10: every route × {anonymous, physician member, physician of another board,
coordinator, qm, admin} × own/foreign object → the expected HTTP status, against the app.

"Own" objects belong to the board the member physician ``dr.mitglied`` is in (Brust); "foreign" objects to the
board of ``dr.fremd`` (Gyn). Both sessions are on the same afternoon and the clock stands in them, so check-ins
and recommendations reach the permission checks instead of stopping at a date. POSTs carry a valid CSRF token and
the form data that reaches the object-level check (sign, amend, check-in, recommendation, emergency access).

A route added without a row in ``EXPECTED`` fails :func:`test_every_route_has_an_expectation`; set
``MATRIX_PRINT=1`` to print the observed matrix when adding one (and check every cell against docs/security.md).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.cases.factories import register
from tests.conftest import csrf_from, login
from tests.imaging.factories import receive
from tumorboard.access.models import BoardRole
from tumorboard.access.services import set_member
from tumorboard.attendance.services import check_in
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.auth.services import create_user
from tumorboard.bootstrap import Runtime
from tumorboard.cases.documents import DocumentStore, add_document
from tumorboard.clock import FixedClock
from tumorboard.conferences.models import Board, ConferenceSession
from tumorboard.demo.data import DEMO_PASSWORD
from tumorboard.imaging import jobs
from tumorboard.imaging.matching import assign_study
from tumorboard.partners.services import add_endpoint, create_partner

USERS = ("anonymous", "dr.mitglied", "dr.fremd", "koordination", "qm", "admin")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class Objects:
    ids: dict[str, dict[str, int]]  # "own" / "foreign" -> url argument -> id


def _session_of(db: Session, short: str, day: dt.date) -> ConferenceSession:
    board = db.scalar(select(Board).where(Board.short_name == short))
    found = [
        cs
        for cs in db.scalars(select(ConferenceSession).where(ConferenceSession.board_id == board.id))
        if cs.local_start.date() == day
    ]
    assert len(found) == 1
    return found[0]


@pytest.fixture
def objects(runtime: Runtime, demo: Session, clock: FixedClock) -> Objects:
    at = clock.now()
    coord = demo.scalar(select(User).where(User.username == "koordination"))
    day = at.date()  # Monday: Brust and Gyn meet at 14:30
    own_cs, foreign_cs = _session_of(demo, "Brust", day), _session_of(demo, "Gyn", day)
    partner = create_partner(demo, name="Klinikum Matrix", at=at, actor=CLI)
    ids: dict[str, dict[str, int]] = {}
    for key, cs, username, discipline in (
        ("own", own_cs, "dr.mitglied", "Urologie"),
        ("foreign", foreign_cs, "dr.fremd", "Dermatologie"),
    ):
        user = create_user(demo, username=username, display_name=f"Dr. {username[3:].title()} (Matrix)",
                           password=DEMO_PASSWORD, role="physician", discipline=discipline, at=at,
                           actor=CLI)  # fmt: skip
        set_member(demo, cs.board, user, BoardRole.MEMBER, at=at, actor=CLI)
        case = register(demo, cs.board, at=at, by=coord, target=cs, question=f"Matrix {key}")
        doc = add_document(demo, case, data=PDF, original_name="befund.pdf", content_type="application/pdf",
                           kind="finding", uploaded_by=coord, store=DocumentStore(runtime.settings.instance_path /
                           "documents"), at=at, actor=CLI)  # fmt: skip
        study = receive(demo, jobs._spool(runtime), partner, study_uid=f"1.2.826.0.1.{len(ids) + 7}")
        assign_study(demo, study, case, at=at, actor=CLI)
        endpoint = add_endpoint(demo, partner, ae_title=f"MATRIX{len(ids)}", address="127.0.0.1", at=at, actor=CLI)
        ids[key] = {"session_id": cs.id, "case_id": case.id, "board_id": cs.board_id, "document_id": doc.id,
                    "series_id": study.series[0].id, "study_id": study.id, "user": user.id,
                    "partner_id": partner.id, "endpoint_id": endpoint.id}  # fmt: skip
    schmitz = demo.scalar(select(User).where(User.username == "dr.schmitz"))  # a member of both boards
    for key in ids:
        ids[key]["colleague"] = schmitz.id
    demo.commit()
    jobs.render_previews(runtime)
    clock.current = own_cs.starts_at + dt.timedelta(minutes=10)
    for key, cs in (("own", own_cs), ("foreign", foreign_cs)):
        user = demo.get(User, ids[key]["user"])
        row = check_in(
            demo, cs, user=user, mode="in_person", signed=False, recorded_by=coord, at=clock.now(), actor=CLI
        )
        ids[key]["attendance_id"] = row.id
    demo.commit()
    return Objects(ids)


def _url(rule, values: dict[str, int]) -> str:
    def value(name: str) -> str:
        if name == "token":
            return "x" * 43
        if name == "filename":
            return "style.css"
        if name == "number":
            return "1"
        return str(values.get(name, 1))

    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: value(m.group(1)), rule.rule)


def _data(endpoint: str, ids: dict[str, int]) -> dict[str, object]:
    """Form data that passes form validation, so the request reaches the permission checks behind it."""
    rec = {"therapy_types": ["OP"], "text": "Resektion.", "representation_board": "0"}
    return {
        "attendance.check_in": {"user": str(ids["colleague"]), "mode": "in_person"},
        "attendance.check_in_external": {"name": "Dr. Erfunden", "institution": "Nirgendwo", "discipline": "Pathologie",
                                         "mode": "video"},
        "attendance.check_in_self": {"mode": "in_person"},
        "attendance.correct": {"mode": "in_person", "reason": ""},  # 422 once permitted: a reason is required
        "attendance.undo": {"reason": ""},
        "imaging.reject": {"reason": ""},  # permitted, then refused for the missing reason (flash, redirect)
        "cases.edit": {"icd10_code": "C50.4", "icd10_text": "Mamma", "conference_type": "praeth",
                       "question": "Matrix: Frage an die Konferenz?"},
        "protocol.sign": {"password": DEMO_PASSWORD},
        "protocol.record": {**rec, "quorum_reason": "Test der Matrix"},
        "protocol.amend": {**rec, "reason": "Korrektur", "password": DEMO_PASSWORD},
        "protocol.follow_up": {"status": "implemented", "cause": ""},
        "access.emergency": {"reason": "Patient in der Notaufnahme, Vorbefunde nötig"},
        "access.set_member": {"user": str(ids["user"]), "role": "member"},
    }.get(endpoint, {})  # fmt: skip


def observe(app: Flask, client: FlaskClient, user: str, objects: Objects) -> dict[tuple[str, str], tuple[int, int]]:
    if user != "anonymous":
        login(client, user, DEMO_PASSWORD)
    token = csrf_from(client.get("/login").text) if user == "anonymous" else csrf_from(client.get("/search").text)
    out: dict[tuple[str, str], tuple[int, int]] = {}
    # the Notfallzugriff would open the cases for the rest of the run, logging out ends it: both come last
    last = ("access.emergency", "auth.logout")
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint in last, r.endpoint == last[1], r.endpoint))
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            codes = []
            for key in ("own", "foreign"):
                url = _url(rule, objects.ids[key])
                if method == "GET":
                    response = client.get(url)
                else:
                    data = {"csrf_token": token, **_data(rule.endpoint, objects.ids[key])}
                    response = client.open(url, method=method, data=data)
                codes.append(response.status_code)
                response.close()
                if rule.endpoint == "auth.logout" and user != "anonymous":
                    login(client, user, DEMO_PASSWORD)
                    token = csrf_from(client.get("/search").text)
            out[(rule.endpoint, method)] = (codes[0], codes[1])
    return out


def _row(text: str) -> dict[str, tuple[int, int]]:
    cells = text.split()
    assert len(cells) == len(USERS), text
    return {user: (int(cell.split("/")[0]), int(cell.split("/")[1])) for user, cell in zip(USERS, cells, strict=True)}


#: (endpoint, method) -> "own/foreign" per user, in the order of USERS:
#:  anonymous    dr.mitglied  dr.fremd     koordination qm           admin
EXPECTED_TEXT: dict[tuple[str, str], str] = {
    ("access.emergency", "POST"):               "401/401 303/303 303/303 303/303 303/303 303/303",
    ("access.emergency_list", "GET"):           "302/302 403/403 403/403 403/403 200/200 200/200",
    ("access.members", "GET"):                  "302/302 200/200 200/200 200/200 200/200 200/200",
    ("access.set_member", "POST"):              "401/401 403/403 403/403 303/303 403/403 303/303",
    ("attendance.attendance_csv", "GET"):       "302/302 200/200 200/200 200/200 200/200 200/200",
    ("attendance.attendance_pdf", "GET"):       "302/302 200/200 200/200 200/200 200/200 200/200",
    # someone else: coordinator or moderation only
    ("attendance.check_in", "POST"):            "401/401 403/403 403/403 303/303 403/403 403/403",
    ("attendance.check_in_external", "POST"):   "401/401 403/403 403/403 303/303 403/403 403/403",
    # 409: a member, already checked in (the permission passed)
    ("attendance.check_in_self", "POST"):       "401/401 409/403 403/409 403/403 403/403 403/403",
    ("attendance.cme_pdf", "GET"):              "302/302 200/403 403/200 200/200 200/200 200/200",
    # 422: own departure allowed (not before arrival)
    ("attendance.leave", "POST"):               "401/401 422/403 403/422 422/422 403/403 403/403",
    # correct/undo a check-in: coordinator or the board's moderation (422: permitted, the reason is missing)
    ("attendance.correct", "POST"):             "401/401 403/403 403/403 422/422 403/403 403/403",
    ("attendance.undo", "POST"):                "401/401 403/403 403/403 422/422 403/403 403/403",
    ("attendance.live", "GET"):                 "302/302 200/200 200/200 200/200 200/200 200/200",
    ("attendance.quorum_fragment", "GET"):      "302/302 200/200 200/200 200/200 200/200 200/200",
    ("audit.log", "GET"):                       "302/302 403/403 403/403 403/403 200/200 200/200",
    ("auth.language", "POST"):                  "302/302 302/302 302/302 302/302 302/302 302/302",
    ("auth.login", "GET"):                      "200/200 200/200 200/200 200/200 200/200 200/200",
    ("auth.login", "POST"):                     "422/422 422/422 422/422 422/422 422/422 422/422",
    ("auth.logout", "POST"):                    "401/401 302/302 302/302 302/302 302/302 302/302",
    ("calendar.feed_all", "GET"):               "404/404 404/404 404/404 404/404 404/404 404/404",
    ("calendar.feed_board", "GET"):             "404/404 404/404 404/404 404/404 404/404 404/404",
    ("calendar.renew", "POST"):                 "401/401 303/303 303/303 303/303 303/303 303/303",
    ("calendar.revoke", "POST"):                "401/401 303/303 303/303 303/303 303/303 303/303",
    ("calendar.subscription", "GET"):           "302/302 200/200 200/200 200/200 200/200 200/200",
    # editing a case: its registrant (not the one here) or the coordination
    ("cases.edit", "POST"):                     "401/401 403/403 403/403 303/303 403/403 403/403",
    # names: coordinator and members
    ("cases.agenda_csv", "GET"):                "302/302 200/403 403/200 200/200 403/403 403/403",
    ("cases.agenda_pdf", "GET"):                "302/302 200/403 403/200 200/200 403/403 403/403",
    ("cases.board_checklist", "GET"):           "302/302 403/403 403/403 200/200 403/403 200/200",
    ("cases.board_checklist", "POST"):          "401/401 403/403 403/403 303/303 403/403 303/303",
    # qm audits every case; admin needs a Notfallzugriff
    ("cases.detail", "GET"):                    "302/302 200/403 403/200 200/200 200/200 403/403",
    ("cases.document", "GET"):                  "302/302 200/403 403/200 200/200 200/200 403/403",
    ("cases.down", "POST"):                     "401/401 403/403 403/403 303/303 403/403 303/303",
    ("cases.mark", "POST"):                     "401/401 403/403 403/403 404/404 403/403 403/403",
    ("cases.mine", "GET"):                      "302/302 200/200 200/200 200/200 403/403 200/200",
    ("cases.move", "POST"):                     "401/401 403/403 403/403 422/422 403/403 403/403",
    ("cases.order", "POST"):                    "401/401 403/403 403/403 303/303 403/403 303/303",
    ("cases.presenter", "POST"):                "401/401 403/403 403/403 422/422 403/403 403/403",
    ("cases.registry_data", "POST"):            "401/401 403/403 403/403 303/303 403/403 403/403",
    ("cases.register", "GET"):                  "302/302 200/200 200/200 200/200 403/403 200/200",
    ("cases.register", "POST"):                 "401/401 422/422 422/422 422/422 403/403 422/422",
    ("cases.search", "GET"):                    "302/302 200/200 200/200 200/200 200/200 200/200",
    ("cases.search", "POST"):                   "401/401 200/200 200/200 200/200 200/200 200/200",
    ("cases.status", "POST"):                   "401/401 403/403 403/403 422/422 403/403 403/403",
    ("cases.up", "POST"):                       "401/401 403/403 403/403 303/303 403/403 303/303",
    ("cases.upload", "POST"):                   "401/401 403/403 403/403 422/422 403/403 403/403",
    ("cases.withdraw", "POST"):                 "401/401 403/403 403/403 422/422 403/403 403/403",
    ("conferences.add_session", "POST"):        "401/401 403/403 403/403 422/422 403/403 422/422",
    ("conferences.board_detail", "GET"):        "302/302 200/200 200/200 200/200 200/200 200/200",
    ("conferences.cancel_session", "POST"):     "401/401 403/403 403/403 422/422 403/403 422/422",
    ("conferences.clashes", "GET"):             "302/302 200/200 200/200 200/200 200/200 200/200",
    ("conferences.edit_board", "GET"):          "302/302 403/403 403/403 200/200 403/403 200/200",
    ("conferences.edit_board", "POST"):         "401/401 403/403 403/403 422/422 403/403 422/422",
    ("conferences.move_session", "POST"):       "401/401 403/403 403/403 422/422 403/403 422/422",
    ("conferences.overview", "GET"):            "302/302 200/200 200/200 200/200 200/200 200/200",
    ("conferences.reinstate_session", "POST"):  "401/401 403/403 403/403 422/422 403/403 422/422",
    ("conferences.session_detail", "GET"):      "302/302 200/200 200/200 200/200 200/200 200/200",
    ("conferences.session_ics", "GET"):         "302/302 200/200 200/200 200/200 200/200 200/200",
    ("imaging.assign", "POST"):                 "401/401 403/403 403/403 302/302 403/403 302/302",
    ("imaging.preview", "GET"):                 "302/302 200/403 403/200 200/200 200/200 403/403",
    ("imaging.triage", "GET"):                  "302/302 403/403 403/403 200/200 403/403 200/200",
    ("imaging.reject", "POST"):                 "401/401 403/403 403/403 302/302 403/403 302/302",
    ("imaging.search_cases", "POST"):           "401/401 403/403 403/403 200/200 403/403 200/200",
    ("imaging.unassign", "POST"):               "401/401 403/403 403/403 302/302 403/403 302/302",
    # DICOM E-Mail quarantine: coordination (404: allowed, no such mail); the raw mail: admin only
    ("mail.discard", "POST"):                   "401/401 403/403 403/403 404/404 403/403 404/404",
    ("mail.quarantine_list", "GET"):            "302/302 403/403 403/403 200/200 403/403 200/200",
    ("mail.raw", "GET"):                        "302/302 403/403 403/403 403/403 403/403 404/404",
    ("mail.release", "POST"):                   "401/401 403/403 403/403 404/404 403/403 404/404",
    ("partners.add_mail_sender", "POST"):       "401/401 403/403 403/403 403/403 403/403 422/422",
    # quality management: qm and admin read (404: allowed, no such bundle/figure); indicators edited by admin
    ("qm.auditor", "GET"):                      "302/302 403/403 403/403 403/403 200/200 200/200",
    ("qm.bundle_download", "GET"):              "302/302 403/403 403/403 403/403 404/404 404/404",
    ("qm.bundle_status", "GET"):                "302/302 403/403 403/403 403/403 404/404 404/404",
    ("qm.dashboard", "GET"):                    "302/302 403/403 403/403 403/403 200/200 200/200",
    ("qm.edit_indicator", "GET"):               "302/302 403/403 403/403 403/403 403/403 404/404",
    ("qm.edit_indicator", "POST"):              "401/401 403/403 403/403 403/403 403/403 404/404",
    ("qm.figure_csv", "GET"):                   "302/302 403/403 403/403 403/403 404/404 404/404",
    ("qm.indicators", "GET"):                   "302/302 403/403 403/403 403/403 200/200 200/200",
    ("qm.primary_cases", "GET"):                "302/302 403/403 403/403 403/403 200/200 200/200",
    ("qm.primary_cases", "POST"):               "401/401 403/403 403/403 403/403 422/422 422/422",
    ("qm.quotas", "GET"):                       "302/302 403/403 403/403 403/403 200/200 200/200",
    ("qm.request_bundle_view", "POST"):         "401/401 403/403 403/403 403/403 303/303 303/303",
    # CME report of a session: like the attendance list (409: allowed, no VNR for the session)
    ("cme.attendance_pdf", "GET"):              "302/302 403/403 403/403 409/409 409/409 409/409",
    ("cme.report_csv", "GET"):                  "302/302 403/403 403/403 409/409 409/409 409/409",
    ("cme.session_page", "GET"):                "302/302 403/403 403/403 200/200 200/200 200/200",
    ("cme.set_session_accreditation", "POST"):  "401/401 403/403 403/403 422/422 403/403 422/422",
    # oBDS export: qm and admin (404: allowed, no such export; 422: the empty form has no period)
    ("registry.download", "GET"):               "302/302 403/403 403/403 403/403 404/404 404/404",
    ("registry.export", "POST"):                "401/401 403/403 403/403 403/403 422/422 422/422",
    ("registry.index", "GET"):                  "302/302 403/403 403/403 403/403 200/200 200/200",
    ("partners.add_endpoint", "POST"):          "401/401 403/403 403/403 403/403 403/403 422/422",
    ("partners.create", "POST"):                "401/401 403/403 403/403 403/403 403/403 422/422",
    ("partners.delete_endpoint", "POST"):       "401/401 403/403 403/403 403/403 403/403 302/302",
    # 404: allowed, no such mail sender in the matrix's data
    ("partners.delete_mail_sender", "POST"):    "401/401 403/403 403/403 403/403 403/403 404/404",
    ("partners.index", "GET"):                  "302/302 403/403 403/403 403/403 403/403 200/200",
    ("protocol.amend", "POST"):                 "401/401 403/403 403/403 403/403 403/403 403/403",
    ("protocol.case_pdf", "GET"):               "302/302 200/403 403/200 200/200 200/200 403/403",
    ("protocol.correct", "POST"):               "401/401 422/422 422/422 422/422 403/403 422/422",
    # 409: allowed, no recommendation yet
    ("protocol.follow_up", "POST"):             "401/401 403/403 403/403 409/409 403/403 403/403",
    ("protocol.protocol", "GET"):               "302/302 200/403 403/200 200/200 200/200 403/403",
    ("protocol.protocol_pdf", "GET"):           "302/302 200/403 403/200 200/200 200/200 403/403",
    ("protocol.recommendation", "GET"):         "302/302 200/403 403/200 200/200 200/200 403/403",
    ("protocol.record", "POST"):                "401/401 403/403 403/403 303/303 403/403 403/403",
    ("protocol.sign", "POST"):                  "401/401 403/403 403/403 403/403 403/403 403/403",
    # 404: allowed, nothing signed yet
    ("protocol.version_pdf", "GET"):            "302/302 404/403 403/404 404/404 404/404 403/403",
    ("static", "GET"):                          "200/200 200/200 200/200 200/200 200/200 200/200",
}  # fmt: skip
EXPECTED = {key: _row(text) for key, text in EXPECTED_TEXT.items()}


def test_every_route_has_an_expectation(app):
    missing = {(r.endpoint, m) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}} - set(
        EXPECTED
    )
    assert not missing, f"routes without an expected status per role: {sorted(missing)}"


@pytest.mark.parametrize("user", USERS)
def test_access_matrix(app, client, objects, user):
    observed = observe(app, client, user, objects)
    if os.environ.get("MATRIX_PRINT"):
        for (endpoint, method), (own, foreign) in sorted(observed.items()):
            print(f"MATRIX {user} {endpoint} {method} {own}/{foreign}")
    expected = {key: EXPECTED[key][user] for key in observed if key in EXPECTED}
    assert {key: observed[key] for key in expected} == expected
