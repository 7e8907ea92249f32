"""Input hygiene: one rule for names and free text (tumorboard.hygiene), the password policy, id ranges,
document downloads, and private instance files."""

from __future__ import annotations

import io
import re
import stat

import pytest
from sqlalchemy import func, select

from tests.cases.test_views import PDF, _board, _demo_case, _form
from tests.conftest import csrf_from, login, make_settings
from tests.factories import make_user
from tumorboard.cases.documents import DocumentStore
from tumorboard.cases.models import Case, CaseDocument
from tumorboard.errors import InvalidInput
from tumorboard.hygiene import check_text, is_clean
from tumorboard.patients.models import Patient

MESSAGE = "Die Eingabe enthält unzulässige Steuerzeichen"
BAD = {
    "NUL": "Mül\x00ler",
    "ESC": "Müller\x1b[31m",
    "BEL": "Mül\x07ler",
    "DEL": "Mül\x7fler",
    "C1 CSI": "Mül\x9bler",
    "RLO": "Müller\u202egnp.exe",
    "LRE": "\u202aMüller",
    "FSI": "Mül\u2068ler\u2069",
    # invisible: "Müller" and "Mül<ZWSP>ler" look the same but are two patients to the duplicate check
    "ZWSP": "Mül\u200bler",
    "RLM": "Müller\u200f",
    "LSEP": "Müller\u2028Meier",
    "PSEP": "Müller\u2029",
    "WJ": "Mül\u2060ler",
    "BOM": "Mül\ufeffler",
}


@pytest.mark.parametrize("value", BAD.values(), ids=BAD.keys())
def test_forbidden_characters(value):
    assert not is_clean(value) and not is_clean(value, multiline=True)
    with pytest.raises(InvalidInput) as info:
        check_text(value, field="family_name")
    assert info.value.field == "family_name"


def test_ordinary_text_passes():
    assert is_clean("Dr. Özlem Çelik-Łukasiewicz, Ärztin (Ø 3 cm) – „gut“ ✓ 日本 עברית")
    assert is_clean("Zeile 1\r\nZeile 2\tmit Tab", multiline=True)
    assert not is_clean("Zeile 1\nZeile 2")  # single-line names have no line breaks
    assert is_clean("می\u200cخواهم") and is_clean("क्\u200dष")  # zero width (non-)joiner: Persian, Devanagari


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("family_name", BAD["NUL"]),
        ("given_name", BAD["ESC"]),
        ("question", BAD["RLO"]),
        ("icd10_text", BAD["C1 CSI"]),
        ("family_name", BAD["ZWSP"]),
        ("question", BAD["LSEP"]),
    ],
)
def test_registration_refuses_control_characters(client, demo, field, value):
    """A NUL in a patient name was a 500 on PostgreSQL (and the name landed in the log): now a German 422."""
    login(client, "koordination")
    before = (demo.scalar(select(func.count(Case.id))), demo.scalar(select(func.count(Patient.id))))
    response = client.post("/cases/new", data=_form(client, _board(demo, "Lunge"), **{field: value}))
    assert response.status_code == 422 and MESSAGE in response.text
    assert (demo.scalar(select(func.count(Case.id))), demo.scalar(select(func.count(Patient.id)))) == before


def test_services_refuse_them_too(db_session, clock):
    """The CLI and imports do not pass through a form."""
    from tumorboard.auth.actors import CLI
    from tumorboard.patients.services import create_patient

    with pytest.raises(InvalidInput) as info:
        create_patient(db_session, family_name="Mül\x00ler", given_name="Jan", birth_date=clock.now().date(),
                       sex="M", patient_number="KIS-1", at=clock.now(), actor=CLI)  # fmt: skip
    assert info.value.field == "family_name"
    from tumorboard.auth.services import create_user

    with pytest.raises(InvalidInput) as info:
        create_user(db_session, username="evil", display_name="Dr.\u202eAnna", password="lange sichere Wortfolge",
                    role="qm", at=clock.now(), actor=CLI)  # fmt: skip
    assert info.value.field == "display_name"


@pytest.mark.parametrize(
    "password", ["aaaaaaaaaaaa", "passwort12345", "123456789012", "qwertzuiopasdf", "anna.berger1"]
)
def test_password_policy_refuses_guessable_passwords(db_session, clock, password):
    with pytest.raises(InvalidInput) as info:
        make_user(db_session, clock.now(), username="anna.berger", password=password)
    assert info.value.field == "password"


def test_password_policy_accepts_good_passwords(db_session, clock):
    user = make_user(db_session, clock.now(), password="Kranich tanzt im Nebel")
    assert user.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize("url", ["/cases/9223372036854775808", "/cases/99999999999999999999999", "/cases/-1",
                                 "/cases/2147483648", "/documents/9223372036854775807",
                                 "/documents/9223372036854775808", "/sessions/18446744073709551616/live"])  # fmt: skip
def test_ids_out_of_range_are_404(client, demo, url):
    login(client, "koordination")
    assert client.get(url).status_code == 404


def test_out_of_range_numbers_in_query_strings(client, demo):
    login(client, "koordination")
    assert client.get("/cases/new?board=99999999999999999999").status_code == 200
    login(client, "qm")
    assert client.get("/audit?page=99999999999999999999999").status_code == 200


def test_largest_id_is_still_a_route(client, demo):
    login(client, "koordination")
    response = client.get("/cases/2147483647")  # PostgreSQL's largest INTEGER
    assert response.status_code == 404 and "Fall" in response.text  # the view's own German "not found"


def test_documents_download_as_pdf_with_a_safe_ascii_name(client, demo):
    login(client, "koordination")
    case = _demo_case(demo)
    page = client.get(f"/cases/{case.id}").text
    data = {"csrf_token": csrf_from(page), "kind": "pathology",
            "file": (io.BytesIO(PDF), "Größe ../<b>.html", "application/octet-stream")}  # fmt: skip
    assert client.post(f"/cases/{case.id}/documents", data=data).status_code == 303
    doc = demo.scalar(select(CaseDocument).where(CaseDocument.case_id == case.id).order_by(CaseDocument.id.desc()))
    download = client.get(f"/documents/{doc.id}")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    disposition = download.headers["Content-Disposition"]
    assert re.fullmatch(rf'attachment; filename="dokument-{doc.id}(-[A-Za-z0-9_-]+)?\.pdf"', disposition), disposition
    assert disposition.isascii() and ".html" not in disposition


def test_a_database_file_in_a_shared_sticky_folder_leaves_that_folder_alone(tmp_path):
    from tumorboard.bootstrap import prepare_sqlite_file

    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    settings = make_settings(tmp_path / "instance", f"sqlite:///{shared / 'tumorboard.sqlite'}")
    prepare_sqlite_file(settings)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "tumorboard.sqlite").stat().st_mode) == 0o600


def test_instance_files_are_private(tmp_path):
    from tumorboard.bootstrap import bootstrap
    from tumorboard.imaging.dicom.spool import Spool

    instance = tmp_path / "instance"
    settings = make_settings(instance, f"sqlite:///{instance / 'tumorboard.sqlite'}")
    runtime = bootstrap(settings)
    try:
        with runtime.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x)")
    finally:
        runtime.engine.dispose()
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(instance) == 0o700 and mode(instance / "tumorboard.sqlite") == 0o600
    store = DocumentStore(instance / "documents")
    name = store.write(PDF)
    assert mode(instance / "documents") == 0o700 and mode(instance / "documents" / name) == 0o600
    spool = Spool(instance / "images")
    spool.create_folders()
    assert all(mode(p) == 0o700 for p in (spool.root, spool.incoming, spool.objects, spool.previews))
