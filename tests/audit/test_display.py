"""The audit log as QM reads it (issue 13): German labels, local times, values as words, links — no Python
literal anywhere in the table."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import login
from tumorboard.audit.display import show
from tumorboard.audit.models import AuditEvent

LITERAL = re.compile(r"\bNone\b|\bTrue\b|\bFalse\b|\['|\{'|datetime\.")


def _text(parts) -> str:
    return "".join(p.text for p in parts)


def test_values_are_words_and_local_times():
    assert _text(show("late", False)) == "nein" and _text(show("external", True)) == "ja"
    assert _text(show("presenter_id", None)) == "–"
    assert _text(show("therapy_types", ["CI", "OP"])) == "CI, OP"
    assert _text(show("arrived_at", "2026-11-23T14:05:00+00:00")) == "23.11.2026 15:05"
    assert _text(show("status", "withdrawn")) == "zurückgezogen"
    assert show("session_id", 7)[0].link == ("session", 7)


def test_the_audit_page_shows_no_python_literal(client, demo):
    assert demo.scalar(select(AuditEvent.id).limit(1)) is not None
    login(client, "qm")
    page = client.get("/audit?page=1").text
    table = page.split('<table class="audit">', 1)[1].split("</table>", 1)[0]
    cells = re.sub(r"<[^>]+>", " ", table)
    assert not LITERAL.search(cells), LITERAL.search(cells)
    assert "Sitzung" in cells
    assert 'href="/sessions/' in table


@pytest.mark.parametrize(
    "key",
    [
        # case edit (issue 13): before and after showed "icd10_text", "question" raw
        "icd10_code", "icd10_text", "icdo_morphology", "tnm", "ecog", "conference_type", "question",
        "accession_number", "imaging_expected",
        # list and search access events, triage, CME, QM bundle (issues 11, 13, 15)
        "case_ids", "pseudonymised", "query_length", "results", "method", "rejected_at", "instance_count",
        "vnr", "category", "points", "warnings", "sha256", "size", "from", "to", "board_id", "lines",
        # recommendations and accounts
        "guideline_deviation", "deviation_reason", "trial_recommended", "representation_wanted", "role", "address",
    ],
)  # fmt: skip
def test_the_fields_services_write_have_german_labels(key):
    """Issue 13, point 6: "German labels for fields" — the log showed these keys raw."""
    from tumorboard.audit.display import field_label

    label, translated = field_label(key)
    assert translated and label != key
