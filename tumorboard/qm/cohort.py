"""Entity-specific denominators of P1–P3 as configuration (issue 11, qm.md): which imported primary cases an
indicator counts, written on the indicator definition (``cohort_rule``) and versioned with it, never in code.

A rule is one or more alternatives separated by ``|``; an alternative is a list of terms that must all hold:

- ``ICD=C18,C19`` — the case's ICD-10 code starts with one of these (C18 matches C18.0 … C18.9);
- ``UICC=IB,IIA,IIIB`` — its UICC stage is one of these; a stage also covers its letters (IV: IVA, IVB, IVC);
- ``elektiv`` — not an emergency (column "Notfall" = N).

Darm P1 (qm.md: rectal carcinoma, and colon carcinoma UICC IV, elective only):
``ICD=C19,C20 elektiv | ICD=C18 UICC=IV elektiv``. Lunge P2 (stage IB–IIIB): ``UICC=IB,IIA,IIB,IIIA,IIIB``.
An empty rule counts every primary case. Criteria the import has no column for (Prostata: seen by urology or
radiotherapy; > pT3a, R1 or pN+) belong in the tumor documentation's export, which then lists only those cases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tumorboard.errors import InvalidInput
from tumorboard.i18n import N_

_STAGE = re.compile(r"^(0|I{1,3}|IV)[ABC]?$")
_ICD = re.compile(r"^[A-Z][0-9]{2}(\.[0-9]{1,2})?$")


@dataclass(frozen=True, slots=True)
class Alternative:
    icd_prefixes: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    elective: bool = False

    def matches(self, icd10: str, stage: str, emergency: bool) -> bool:
        if self.icd_prefixes and not icd10.upper().startswith(self.icd_prefixes):
            return False
        if self.stages and not _stage_in(stage, self.stages):
            return False
        return not (self.elective and emergency)


@dataclass(frozen=True, slots=True)
class CohortRule:
    alternatives: tuple[Alternative, ...] = ()

    def matches(self, icd10: str, stage: str, emergency: bool) -> bool:
        return not self.alternatives or any(a.matches(icd10, stage, emergency) for a in self.alternatives)


def _normal_stage(stage: str) -> str:
    return stage.upper().replace("UICC", "").replace(" ", "")


def _stage_in(stage: str, stages: tuple[str, ...]) -> bool:
    have = _normal_stage(stage)
    return any(have == s or (have.startswith(s) and have[len(s) :] in ("A", "B", "C")) for s in stages)


def parse_rule(text: str | None) -> CohortRule:
    """The rule in ``text`` (see the module docstring); a precise German message for anything else."""
    if not text or not text.strip():
        return CohortRule()
    alternatives = []
    for part in text.split("|"):
        icd: tuple[str, ...] = ()
        stages: tuple[str, ...] = ()
        elective = False
        terms = part.split()
        if not terms:
            raise InvalidInput(N_("Die Nenner-Einschränkung hat eine leere Alternative (zwei „|“ hintereinander)."),
                               field="cohort_rule")  # fmt: skip
        for term in terms:
            key, sep, value = term.partition("=")
            key = key.casefold()
            values = tuple(v.strip().upper() for v in value.split(",") if v.strip())
            if not sep and key == "elektiv":
                elective = True
            elif (
                sep
                and key == "icd"
                and values
                and all(_ICD.match(v) or re.match(r"^[A-Z][0-9]{2}$", v) for v in values)
            ):
                icd = values
            elif sep and key == "uicc" and values and all(_STAGE.match(_normal_stage(v)) for v in values):
                stages = tuple(_normal_stage(v) for v in values)
            else:
                raise InvalidInput(
                    N_("„%(term)s“ verstehe ich nicht. Erlaubt: ICD=C18,C20 · UICC=IB,IIIA · elektiv; "
                       "Alternativen mit „|“ trennen."),
                    field="cohort_rule",
                    term=term[:60],
                )  # fmt: skip
        alternatives.append(Alternative(icd, stages, elective))
    return CohortRule(tuple(alternatives))
