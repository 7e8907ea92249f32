"""The completeness checklist of a board, evaluated per case (shown as a badge on the case list)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.auth.actors import Actor
from tumorboard.cases.models import Case, CaseChecklistMark, ChecklistItem, DocumentKind
from tumorboard.conferences.models import Board
from tumorboard.errors import InvalidInput, NotFound
from tumorboard.i18n import N_

#: Automatic rules: what they check is documented in the label.
RULES = ("question", "histology", "imaging", "diagnosis")
DEFAULT_ITEMS: tuple[tuple[str, str | None], ...] = (
    ("Fragestellung formuliert", "question"),
    ("Histologie liegt vor", "histology"),
    ("Bildgebung eingegangen", "imaging"),
    ("TNM und Morphologie angegeben", "diagnosis"),
)


@dataclass(frozen=True)
class CheckResult:
    item_id: int | None
    label: str
    rule: str | None
    done: bool


def items_of(session: Session, board: Board) -> list[tuple[int | None, str, str | None]]:
    rows = session.scalars(
        select(ChecklistItem).where(ChecklistItem.board_id == board.id).order_by(ChecklistItem.position)
    ).all()
    if rows:
        return [(r.id, r.label, r.rule) for r in rows]
    return [(None, label, rule) for label, rule in DEFAULT_ITEMS]


def evaluate(
    case: Case, items: Sequence[tuple[int | None, str, str | None]], imaging_complete: bool | None
) -> list[CheckResult]:
    """``imaging_complete``: None when nothing is known (no imaging module data)."""
    marked = {m.item_id for m in case.checklist}
    results = []
    for item_id, label, rule in items:
        if rule == "question":
            done = len(case.question.strip()) >= 5
        elif rule == "histology":
            done = any(d.kind is DocumentKind.PATHOLOGY for d in case.documents)
        elif rule == "imaging":
            done = not case.imaging_expected or bool(imaging_complete)
        elif rule == "diagnosis":
            done = bool(case.tnm and case.icdo_morphology)
        else:
            done = item_id in marked
        results.append(CheckResult(item_id, label, rule, done))
    return results


def parse_items(text: str) -> list[tuple[str, str | None]]:
    """One item per line; ``Label = rule`` makes it automatic (rules: question, histology, imaging, diagnosis)."""
    items: list[tuple[str, str | None]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        label, sep, rule = line.rpartition("=") if "=" in line else (line, "", "")
        label, rule = label.strip(), rule.strip().lower()
        if sep and rule not in RULES:
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
        items.append((label, rule or None))
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
        tag="case:checklist:configure",
        subject_type="board",
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
        tag="case:checklist:mark",
        subject_type="case",
        subject_id=case.id,
        at=at,
        after={"item": item.label, "done": done},
    )
    return done
