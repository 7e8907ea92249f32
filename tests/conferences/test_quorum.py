from __future__ import annotations

import pytest

from tumorboard.conferences.models import QuorumKind
from tumorboard.conferences.quorum import QuorumSpec, format_quorum, parse_quorum
from tumorboard.errors import InvalidInput


def test_parse_and_format_round_trip():
    text = "alle: Urologie, Strahlentherapie\neine: Hämatologie/Onkologie, Urologie mit med. Tumortherapie"
    specs = parse_quorum(text)
    assert specs == [
        QuorumSpec(QuorumKind.ALL_OF, ("Urologie", "Strahlentherapie")),
        QuorumSpec(QuorumKind.ONE_OF, ("Hämatologie/Onkologie", "Urologie mit med. Tumortherapie")),
    ]
    assert format_quorum(specs) == text


def test_blank_lines_duplicates_and_spaces():
    assert parse_quorum("\n  ALLE:  Radiologie ,Radiologie,  Pathologie  \n") == [
        QuorumSpec(QuorumKind.ALL_OF, ("Radiologie", "Pathologie"))
    ]


@pytest.mark.parametrize("text", ["Radiologie, Pathologie", "manche: Radiologie", "alle:", "eine: Radiologie"])
def test_bad_lines_are_refused(text):
    with pytest.raises(InvalidInput) as info:
        parse_quorum(text)
    assert info.value.field == "quorum"
