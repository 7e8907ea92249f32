"""The completeness checklist of a board, evaluated per case (shown as a badge on the case list)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.cases.models import Case, CaseChecklistMark, ChecklistItem, DocumentKind
from tumorboard.conferences.models import Board
from tumorboard.errors import InvalidInput, NotFound
from tumorboard.i18n import N_


class ChecklistRule(enum.StrEnum):
    """An automatic check of a checklist item; stored by value in ``ChecklistItem.rule`` and written by
    coordinators as ``Label = rule``. An item without a rule is ticked by hand."""

    QUESTION = "question"  #: the question to the board is at least five characters long
    HISTOLOGY = "histology"  #: a pathology report is attached
    IMAGING = "imaging"  #: no imaging expected, or the expected imaging is complete
    DIAGNOSIS = "diagnosis"  #: TNM and ICD-O morphology are given


#: One checklist item as evaluated: (item id or None for the defaults, label, rule or None for a manual item).
Item = tuple[int | None, str, ChecklistRule | None]

DEFAULT_ITEMS: tuple[tuple[str, ChecklistRule | None], ...] = (
    ("Fragestellung formuliert", ChecklistRule.QUESTION),
    ("Histologie liegt vor", ChecklistRule.HISTOLOGY),
    ("Bildgebung eingegangen", ChecklistRule.IMAGING),
    ("TNM und Morphologie angegeben", ChecklistRule.DIAGNOSIS),
)


@dataclass(frozen=True)
class CheckResult:
    item_id: int | None
    label: str
    rule: ChecklistRule | None
    done: bool


def items_of(session: Session, board: Board) -> list[Item]:
    rows = session.scalars(
        select(ChecklistItem).where(ChecklistItem.board_id == board.id).order_by(ChecklistItem.position)
    ).all()
    if rows:
        return [(r.id, r.label, ChecklistRule(r.rule) if r.rule else None) for r in rows]
    return [(None, label, rule) for label, rule in DEFAULT_ITEMS]


def evaluate(case: Case, items: Sequence[Item], imaging_complete: bool | None) -> list[CheckResult]:
    """``imaging_complete``: None when nothing is known (no imaging module data)."""
    marked = {m.item_id for m in case.checklist}
    results = []
    for item_id, label, rule in items:
        if rule is ChecklistRule.QUESTION:
            done = len(case.question.strip()) >= 5
        elif rule is ChecklistRule.HISTOLOGY:
            done = any(d.kind is DocumentKind.PATHOLOGY for d in case.documents)
        elif rule is ChecklistRule.IMAGING:
            done = not case.imaging_expected or bool(imaging_complete)
        elif rule is ChecklistRule.DIAGNOSIS:
            done = bool(case.tnm and case.icdo_morphology)
        else:
            done = item_id in marked
        results.append(CheckResult(item_id, label, rule, done))
    return results


def parse_items(text: str) -> list[tuple[str, ChecklistRule | None]]:
    """One item per line; ``Label = rule`` makes it automatic (rules: the values of :class:`ChecklistRule`)."""
    items: list[tuple[str, ChecklistRule | None]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        label, sep, rule = line.rpartition("=") if "=" in line else (line, "", "")
        label, rule = label.strip(), rule.strip().lower()
        if sep and rule not in {r.value for r in ChecklistRule}:
            raise InvalidInput(
                N_("Checkliste, Zeile %(line)s: unbekannte Regel „%(rule)s“."),
                field="checklist",
                line=number,
                rule=rule[:30],
            )
        if not label or len(label) > 200:
            raise InvalidInput(
                N_("Checkliste, Zeile %(line)s: Bezeichnung fehlt oder ist zu lang."), field="checklist", line=number
            )
        items.append((label, ChecklistRule(rule) if rule else None))
    return items


def set_board_checklist(session: Session, board: Board, text: str, *, at: dt.datetime, actor: Actor) -> None:
    items = parse_items(text)
    old = session.scalars(select(ChecklistItem).where(ChecklistItem.board_id == board.id)).all()
    before = [f"{o.label} = {o.rule}" if o.rule else o.label for o in sorted(old, key=lambda o: o.position)]
    for o in old:
        session.delete(o)
    session.flush()
    for position, (label, rule) in enumerate(items):
        session.add(ChecklistItem(board_id=board.id, position=position, label=label, rule=rule))
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CASE_CHECKLIST_CONFIGURE,
        subject_type=SubjectType.BOARD,
        subject_id=board.id,
        at=at,
        before={"items": before},
        after={"items": [f"{label} = {rule}" if rule else label for label, rule in items]},
    )


def toggle_mark(session: Session, case: Case, item_id: int, *, user_id: int, at: dt.datetime, actor: Actor) -> bool:
    item = session.get(ChecklistItem, item_id)
    if item is None or item.board_id != case.board_id or item.rule is not None:
        raise NotFound(N_("Diesen Checklistenpunkt gibt es nicht."))
    mark = session.get(CaseChecklistMark, (case.id, item_id))
    if mark is None:
        session.add(CaseChecklistMark(case_id=case.id, item_id=item_id, marked_by_id=user_id, marked_at=at))
        done = True
    else:
        session.delete(mark)
        done = False
    session.flush()
    session.expire(case, ["checklist"])
    record_event(
        session,
        actor=actor,
        tag=Tag.CASE_CHECKLIST_MARK,
        subject_type=SubjectType.CASE,
        subject_id=case.id,
        at=at,
        after={"item": item.label, "done": done},
    )
    return done
