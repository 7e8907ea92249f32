"""Indicator definitions: read the current version for a board, add a version (issue 11). No target in code."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event, require_reason
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.conferences.models import Board
from tumorboard.errors import InvalidInput, NotFound
from tumorboard.i18n import N_
from tumorboard.qm.cohort import parse_rule
from tumorboard.qm.models import IndicatorCode, IndicatorDefinition, TargetDirection


def history(session: Session) -> list[IndicatorDefinition]:
    """Every version of every definition, by indicator, scope (default first) and version."""
    rows = session.scalars(select(IndicatorDefinition)).all()
    order = {code: n for n, code in enumerate(IndicatorCode)}
    return sorted(rows, key=lambda d: (order[d.code], d.board_id or 0, d.version))


def current_definitions(session: Session, board: Board | None) -> dict[IndicatorCode, IndicatorDefinition]:
    """The definition in force per indicator: the board's own highest version, else the default's highest."""
    found: dict[IndicatorCode, IndicatorDefinition] = {}
    for row in session.scalars(
        select(IndicatorDefinition)
        .where((IndicatorDefinition.board_id.is_(None)) | (IndicatorDefinition.board_id == (board.id if board else -1)))
        .order_by(IndicatorDefinition.version)
    ):
        held = found.get(row.code)
        # A board's own version wins over any default version; among equals the higher version wins.
        if held is None or (row.board_id is not None) >= (held.board_id is not None):
            found[row.code] = row
    return found


@dataclass(frozen=True)
class IndicatorInput:
    name: str
    numerator: str
    denominator: str
    target_percent: float | None
    target_direction: TargetDirection | str
    working_days: int | None
    source: str
    reason: str | None
    #: P1–P3: the denominator's entity-specific restriction (tumorboard.qm.cohort); "" or None: none.
    cohort_rule: str | None = None


def define_indicator(
    session: Session,
    *,
    code: IndicatorCode | str,
    board: Board | None,
    data: IndicatorInput,
    at: dt.datetime,
    actor: Actor,
) -> IndicatorDefinition:
    """Add the next version of ``code`` for ``board`` (``None``: the default for every board). Earlier versions
    stay: the bundle of an earlier period still names the version that produced its numbers."""
    try:
        which = IndicatorCode(code)
    except ValueError:
        raise NotFound(N_("Diese Kennzahl gibt es nicht.")) from None
    try:
        direction = TargetDirection(data.target_direction)
    except ValueError:
        raise InvalidInput(N_("Bitte „mindestens“ oder „höchstens“ wählen."), field="target_direction") from None
    fields = {"name": data.name.strip(), "numerator": data.numerator.strip(), "denominator": data.denominator.strip()}
    for key, value in fields.items():
        if not value:
            raise InvalidInput(N_("Bitte Name, Zähler und Nenner angeben."), field=key)
    if len(fields["name"]) > 200:
        raise InvalidInput(N_("Der Name darf höchstens 200 Zeichen lang sein."), field="name")
    target = data.target_percent
    if target is not None and (math.isnan(target) or not 0 <= target <= 100):
        raise InvalidInput(N_("Das Ziel muss zwischen 0 und 100 Prozent liegen."), field="target_percent")
    if data.working_days is not None and not 0 <= data.working_days <= 60:
        raise InvalidInput(N_("Die Arbeitstage müssen zwischen 0 und 60 liegen."), field="working_days")
    if which is IndicatorCode.Q1 and data.working_days is None:
        raise InvalidInput(N_("Für Q1 bitte die Zahl der Arbeitstage angeben."), field="working_days")
    cohort = (data.cohort_rule or "").strip() or None
    if cohort is not None:
        if which not in (IndicatorCode.P1, IndicatorCode.P2, IndicatorCode.P3):
            raise InvalidInput(N_("Eine Nenner-Einschränkung gibt es nur für P1, P2 und P3."), field="cohort_rule")
        if len(cohort) > 1000:
            raise InvalidInput(
                N_("Die Nenner-Einschränkung darf höchstens 1000 Zeichen lang sein."), field="cohort_rule"
            )
        parse_rule(cohort)  # a German message naming the term it does not understand
    reason = require_reason(data.reason, N_("Bitte begründen, warum sich die Definition ändert."))
    board_id = board.id if board else None
    latest = session.scalar(
        select(IndicatorDefinition.version)
        .where(IndicatorDefinition.code == which)
        .where(IndicatorDefinition.board_id.is_(None) if board_id is None else IndicatorDefinition.board_id == board_id)
        .order_by(IndicatorDefinition.version.desc())
        .limit(1)
    )
    before = current_definitions(session, board).get(which)
    row = IndicatorDefinition(
        code=which,
        board_id=board_id,
        version=(latest or 0) + 1,
        target_percent=target,
        target_direction=direction,
        working_days=data.working_days,
        cohort_rule=cohort,
        source=data.source.strip() or "Vorgabe des Hauses",
        reason=reason,
        created_at=at,
        created_by_id=actor.user_id,
        **fields,
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.QM_INDICATOR_DEFINE,
        subject_type=SubjectType.INDICATOR,
        subject_id=row.id,
        at=at,
        before=_snapshot(before) if before else None,
        after=_snapshot(row),
        reason=reason,
    )
    return row


def _snapshot(row: IndicatorDefinition) -> dict[str, object]:
    return {
        "code": row.code.value,
        "board_id": row.board_id,
        "version": row.version,
        "name": row.name,
        "numerator": row.numerator,
        "denominator": row.denominator,
        "target_percent": row.target_percent,
        "target_direction": row.target_direction.value,
        "working_days": row.working_days,
        "cohort_rule": row.cohort_rule,
        "source": row.source,
    }
