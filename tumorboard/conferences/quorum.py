"""The editable text form of a board's quorum rules, one group per line.

    alle: Radiologie, Pathologie, Strahlentherapie
    eine: Hämatologie/Onkologie, Urologie mit med. Tumortherapie

"alle" (all of) needs every listed discipline present, "eine" (one of) at least one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tumorboard.conferences.models import QuorumKind
from tumorboard.errors import InvalidInput
from tumorboard.i18n import N_

_KINDS = {
    "alle": QuorumKind.ALL_OF,
    "all": QuorumKind.ALL_OF,
    "eine": QuorumKind.ONE_OF,
    "one": QuorumKind.ONE_OF,
    "einer": QuorumKind.ONE_OF,
}
_WORDS = {QuorumKind.ALL_OF: "alle", QuorumKind.ONE_OF: "eine"}


@dataclass(frozen=True)
class QuorumSpec:
    kind: QuorumKind
    disciplines: tuple[str, ...]


def parse_quorum(text: str) -> list[QuorumSpec]:
    specs: list[QuorumSpec] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        head, sep, rest = line.partition(":")
        kind = _KINDS.get(head.strip().lower())
        if not sep or kind is None:
            raise InvalidInput(
                N_("Quorum, Zeile %(line)s: bitte mit „alle:“ oder „eine:“ beginnen."), field="quorum", line=number
            )
        names = tuple(dict.fromkeys(" ".join(n.split()) for n in rest.split(",") if n.strip()))
        if not names:
            raise InvalidInput(N_("Quorum, Zeile %(line)s: keine Fachrichtung angegeben."), field="quorum", line=number)
        if any(len(n) > 120 for n in names):
            raise InvalidInput(
                N_("Quorum, Zeile %(line)s: Name einer Fachrichtung zu lang."), field="quorum", line=number
            )
        if kind is QuorumKind.ONE_OF and len(names) < 2:
            raise InvalidInput(
                N_("Quorum, Zeile %(line)s: „eine:“ braucht mindestens zwei Fachrichtungen zur Auswahl."),
                field="quorum",
                line=number,
            )
        specs.append(QuorumSpec(kind, names))
    return specs


def format_quorum(specs: list[QuorumSpec]) -> str:
    return "\n".join(f"{_WORDS[s.kind]}: {', '.join(s.disciplines)}" for s in specs)
