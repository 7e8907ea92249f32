"""Registering a partner's mail senders together with its OpenPGP key (the CLI's and admin UI's hook)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from tumorboard.auth.actors import Actor
from tumorboard.errors import InvalidInput
from tumorboard.i18n import N_
from tumorboard.imaging.mail.pgp import Keyring
from tumorboard.partners.models import Partner, PartnerMailSender
from tumorboard.partners.services import add_mail_sender, normalize_pgp_fingerprint

if TYPE_CHECKING:
    from tumorboard.bootstrap import Runtime


def register_mail_senders(
    rt: Runtime,
    session: Session,
    partner: Partner,
    addresses: Iterable[str],
    pgp_fingerprint: str,
    key: bytes | None,
    *,
    at: dt.datetime,
    actor: Actor,
) -> list[PartnerMailSender]:
    """Pin ``pgp_fingerprint`` for each address of ``partner``. The key itself must be in our GnuPG home: from
    ``key`` (an exported public key, imported here; it must hold exactly that fingerprint) or imported before."""
    fingerprint = normalize_pgp_fingerprint(pgp_fingerprint)
    keyring = Keyring(rt.mail.gnupg_home)
    if key:
        imported = keyring.import_key(key)
        if fingerprint not in imported:
            raise InvalidInput(
                N_("Die Schlüsseldatei enthält den angegebenen Fingerabdruck nicht."), field="pgp_fingerprint"
            )
    elif not keyring.has_public_key(fingerprint):
        raise InvalidInput(
            N_("Der Schlüssel ist nicht im Schlüsselbund; bitte mit --pgp-key die Schlüsseldatei angeben."),
            field="pgp_fingerprint",
        )
    return [
        add_mail_sender(session, partner, address=address, pgp_fingerprint=fingerprint, at=at, actor=actor)
        for address in addresses
    ]
