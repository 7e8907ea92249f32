"""Looking up and creating disciplines by name."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.disciplines.models import Discipline
from tumorboard.errors import InvalidInput
from tumorboard.i18n import N_


def normalize_name(name: str) -> str:
    return " ".join(name.split())


def get_or_create_discipline(session: Session, name: str) -> Discipline:
    """Disciplines are reference data; creating one is part of the change that names it (audited there)."""
    clean = normalize_name(name)
    if not clean or len(clean) > 120:
        raise InvalidInput(N_("Ungültiger Name einer Fachrichtung: „%(name)s“"), name=name[:40])
    found = session.scalar(select(Discipline).where(Discipline.name == clean))
    if found is None:
        found = Discipline(name=clean)
        session.add(found)
        session.flush()
    return found


def list_disciplines(session: Session) -> Sequence[Discipline]:
    return session.scalars(select(Discipline).order_by(Discipline.name)).all()
