"""patient names in NFC and name keys for every script (issue 12, point 2)

The name key used for search and matching dropped every letter without a decomposition (ł, ø, đ, æ) and every
letter outside the Latin script, and did not spell out umlauts typed in NFD. Upgrade stores names in NFC and
recomputes each key with the new fold; downgrade recomputes the old keys. Both folds are copied here as they
are at this revision, so later changes of tumorboard/patients/names.py cannot change what this migration does.

Revision ID: 8d2b4e6a9c13
Revises: 3c1e0a7f5b21
Create Date: 2026-11-29 22:10:00.000000
"""

import re
import unicodedata
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op
from anyascii import anyascii

revision: str = "8d2b4e6a9c13"
down_revision: str | None = "3c1e0a7f5b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ẞ": "SS"})
_NOT_ASCII_ALNUM = re.compile(r"[^0-9a-z]+")

patient = sa.table(
    "patient",
    sa.column("id", sa.Integer),
    sa.column("family_name", sa.String),
    sa.column("given_name", sa.String),
    sa.column("name_key", sa.String),
)


def fold_v2(text: str) -> str:
    out: list[str] = []
    latin = False
    for ch in unicodedata.normalize("NFKC", text).translate(_GERMAN):
        if ch.isascii():
            out.append(ch.lower() if ch.isalnum() else " ")
            latin = ch.isalpha()
        elif "LATIN" in unicodedata.name(ch, ""):
            out.append(_NOT_ASCII_ALNUM.sub(" ", anyascii(ch).lower()))
            latin = True
        elif unicodedata.category(ch).startswith("M"):
            out.append("" if latin else ch)
        elif ch.isalnum():
            out.append(ch.casefold())
            latin = False
        else:
            out.append(" ")
            latin = False
    return " ".join("".join(out).split())


def fold_v1(text: str) -> str:
    spelled = text.translate(_GERMAN)
    spelled = "".join(c for c in unicodedata.normalize("NFKD", spelled) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", spelled.lower().replace("ı", "i")).split())


def _rekey(fold: Callable[[str], str], *, nfc: bool) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(patient.c.id, patient.c.family_name, patient.c.given_name, patient.c.name_key))
    for pid, family, given, key in rows.all():
        new_family = unicodedata.normalize("NFC", family) if nfc else family
        new_given = unicodedata.normalize("NFC", given) if nfc else given
        new_key = f"{fold(new_family)} {fold(new_given)}".strip()
        if (new_family, new_given, new_key) != (family, given, key):
            conn.execute(
                sa.update(patient)
                .where(patient.c.id == pid)
                .values(family_name=new_family, given_name=new_given, name_key=new_key)
            )


def upgrade() -> None:
    _rekey(fold_v2, nfc=True)


def downgrade() -> None:
    _rekey(fold_v1, nfc=False)
