"""Entity-specific denominators of P1–P3 as configuration (issue 11, qm.md): the rule language and its refusal of
anything it does not understand, with a German message and nothing stored."""

from __future__ import annotations

import pytest

from tests.conftest import NOW
from tests.qm.test_indicators import _input
from tumorboard.auth.actors import CLI
from tumorboard.errors import InvalidInput
from tumorboard.qm.cohort import parse_rule
from tumorboard.qm.indicators import current_definitions, define_indicator, history

DARM_P1 = "ICD=C19,C20 elektiv | ICD=C18 UICC=IV elektiv"


@pytest.mark.parametrize(
    ("icd", "stage", "emergency", "inside"),
    [
        ("C20", "I", False, True),  # rectum, any stage, elective
        ("C20", "I", True, False),  # emergency
        ("C19", "IIIB", False, True),
        ("C18.7", "IV", False, True),  # colon UICC IV
        ("C18.7", "IVB", False, True),  # IV covers IVA/IVB/IVC
        ("C18.7", "UICC IVA", False, True),
        ("C18.0", "IIIB", False, False),  # colon, not stage IV
        ("C18.0", "", False, False),
        ("C50.1", "IV", False, False),  # another entity
    ],
)
def test_darm_p1(icd, stage, emergency, inside):
    assert parse_rule(DARM_P1).matches(icd, stage, emergency) is inside


def test_lunge_p2_stages_and_the_empty_rule():
    rule = parse_rule("UICC=IB,IIA,IIB,IIIA,IIIB")
    assert rule.matches("C34.1", "IIIA", False) and rule.matches("C34.1", "IB", True)
    assert not rule.matches("C34.1", "IA", False) and not rule.matches("C34.1", "IV", False)
    assert not rule.matches("C34.1", "I", False)  # I is not IB
    assert parse_rule("").matches("X", "", True) and parse_rule(None).matches("X", "", True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ICD=", "verstehe ich nicht"),
        ("UICC=V", "verstehe ich nicht"),
        ("ICD=18", "verstehe ich nicht"),
        ("notfall", "verstehe ich nicht"),
        ("ICD=C18 || elektiv", "leere Alternative"),
    ],
)
def test_a_rule_it_does_not_understand_is_refused(db_session, text, message):
    with pytest.raises(InvalidInput, match=message) as refused:
        parse_rule(text)
    assert refused.value.params.get("term", text.split()[0]) in text  # the message names the term
    before = len(history(db_session))
    with pytest.raises(InvalidInput, match=message):
        define_indicator(db_session, code="P1", board=None, data=_input(cohort_rule=text), at=NOW, actor=CLI)
    assert len(history(db_session)) == before


def test_the_rule_is_versioned_with_its_definition_and_only_for_p1_to_p3(db_session):
    with pytest.raises(InvalidInput, match="nur für P1, P2 und P3"):
        define_indicator(db_session, code="A1", board=None, data=_input(cohort_rule="elektiv"), at=NOW, actor=CLI)
    row = define_indicator(
        db_session, code="P1", board=None, data=_input(cohort_rule=f" {DARM_P1} "), at=NOW, actor=CLI
    )
    assert row.cohort_rule == DARM_P1 and row.version >= 2
    assert current_definitions(db_session, None)[row.code].cohort_rule == DARM_P1
