"""Partner sites and their DICOM endpoints (calling AE title + allowed address or network)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.errors import Conflict, InvalidInput, NotFound
from tumorboard.i18n import N_
from tumorboard.partners.models import Partner, PartnerEndpoint, PartnerMailSender

#: DICOM AE title (PS3.5 VR AE): 1–16 characters of the default repertoire, no backslash or control characters.
AE_TITLE_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")


def normalize_ae_title(value: str) -> str:
    title = value.strip()
    if not title or not AE_TITLE_RE.match(title):
        raise InvalidInput(N_("Ein AE-Titel hat 1 bis 16 Zeichen (ASCII, ohne Backslash)."), field="ae_title")
    return title


def normalize_network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise InvalidInput(
            N_("Bitte eine IP-Adresse oder ein Netz in CIDR-Schreibweise angeben (z. B. 10.1.2.0/24)."),
            field="address",
        ) from None


def create_partner(
    session: Session,
    *,
    name: str,
    at: dt.datetime,
    actor: Actor,
    contact: str = "",
    quiet_period_seconds: int = 120,
) -> Partner:
    """Register a partner site."""
    clean = " ".join(name.split())
    if not clean or len(clean) > 200:
        raise InvalidInput(N_("Bitte einen Namen angeben (höchstens 200 Zeichen)."), field="name")
    if not 5 <= quiet_period_seconds <= 86400:
        raise InvalidInput(N_("Die Ruhezeit muss zwischen 5 und 86400 Sekunden liegen."), field="quiet_period")
    if session.scalar(select(Partner.id).where(Partner.name == clean)) is not None:
        raise Conflict(N_("Einen Partner mit diesem Namen gibt es schon."), field="name")
    partner = Partner(name=clean, contact=contact.strip(), quiet_period_seconds=quiet_period_seconds, created_at=at)
    session.add(partner)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.PARTNER_CREATE,
        subject_type=SubjectType.PARTNER,
        subject_id=partner.id,
        at=at,
        after={"name": partner.name, "quiet_period_seconds": quiet_period_seconds},
    )
    return partner


def add_endpoint(
    session: Session, partner: Partner, *, ae_title: str, address: str, at: dt.datetime, actor: Actor
) -> PartnerEndpoint:
    """Allow ``ae_title`` to send from ``address`` (an IP address or CIDR network) for ``partner``."""
    title, network = normalize_ae_title(ae_title), normalize_network(address)
    clash = session.scalar(
        select(PartnerEndpoint).where(PartnerEndpoint.ae_title == title, PartnerEndpoint.network == network)
    )
    if clash is not None:
        raise Conflict(N_("Dieser AE-Titel ist für diese Adresse schon eingetragen."), field="ae_title")
    endpoint = PartnerEndpoint(partner=partner, ae_title=title, network=network, created_at=at)
    session.add(endpoint)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.PARTNER_ENDPOINT_CREATE,
        subject_type=SubjectType.PARTNER,
        subject_id=partner.id,
        at=at,
        after={"ae_title": title, "network": network},
    )
    return endpoint


def remove_endpoint(session: Session, endpoint: PartnerEndpoint, *, at: dt.datetime, actor: Actor) -> None:
    record_event(
        session,
        actor=actor,
        tag=Tag.PARTNER_ENDPOINT_DELETE,
        subject_type=SubjectType.PARTNER,
        subject_id=endpoint.partner_id,
        at=at,
        before={"ae_title": endpoint.ae_title, "network": endpoint.network},
    )
    session.delete(endpoint)
    session.flush()


def get_partner(session: Session, partner_id: int) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(N_("Diesen Partner gibt es nicht."))
    return partner


def find_partner(session: Session, name: str) -> Partner:
    partner = session.scalar(select(Partner).where(Partner.name == " ".join(name.split())))
    if partner is None:
        raise NotFound(N_("Diesen Partner gibt es nicht."))
    return partner


def list_partners(session: Session) -> Sequence[Partner]:
    return session.scalars(select(Partner).options(selectinload(Partner.endpoints)).order_by(Partner.name)).all()


def active_partners(session: Session) -> Sequence[Partner]:
    """The partners one can choose as referring site, by name."""
    return session.scalars(select(Partner).where(Partner.active.is_(True)).order_by(Partner.name)).all()


def authorize_peer(session: Session, calling_ae_title: str, address: str) -> Partner | None:
    """The active partner that registered ``calling_ae_title`` for ``address``, or None (reject)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    rows = session.scalars(
        select(PartnerEndpoint)
        .join(Partner)
        .where(PartnerEndpoint.ae_title == calling_ae_title.strip(), Partner.active.is_(True))
        .order_by(PartnerEndpoint.id)
    ).all()
    for endpoint in rows:
        if ip in ipaddress.ip_network(endpoint.network):
            return endpoint.partner
    return None


def partner_networks(session: Session) -> list[str]:
    """The addresses or networks active partners' DICOM senders connect from (the listener keeps room for them)."""
    return list(
        session.scalars(select(PartnerEndpoint.network).join(Partner).where(Partner.active.is_(True)).distinct()).all()
    )


def known_ae_title(session: Session, calling_ae_title: str) -> bool:
    return (
        session.scalar(select(PartnerEndpoint.id).where(PartnerEndpoint.ae_title == calling_ae_title.strip()).limit(1))
        is not None
    )


# --- DICOM E-Mail senders ---------------------------------------------------------------------------------------
_MAIL_RE = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,189}\.[A-Za-z]{2,}$")
_FINGERPRINT_RE = re.compile(r"^[0-9A-F]{40}$")


def normalize_mail_address(value: str) -> str:
    address = value.strip().lower()
    if not _MAIL_RE.match(address) or len(address) > 254:
        raise InvalidInput(N_("Bitte eine gültige E-Mail-Adresse angeben."), field="mail")
    return address


def normalize_pgp_fingerprint(value: str) -> str:
    fingerprint = re.sub(r"\s+", "", value).upper()
    if not _FINGERPRINT_RE.match(fingerprint):
        raise InvalidInput(
            N_("Ein OpenPGP-Fingerabdruck hat 40 Hexadezimalziffern (Leerzeichen erlaubt)."), field="pgp_fingerprint"
        )
    return fingerprint


def add_mail_sender(
    session: Session, partner: Partner, *, address: str, pgp_fingerprint: str, at: dt.datetime, actor: Actor
) -> PartnerMailSender:
    """Accept DICOM E-Mail from ``address`` for ``partner``, signed by the key ``pgp_fingerprint`` (pinned)."""
    clean, fingerprint = normalize_mail_address(address), normalize_pgp_fingerprint(pgp_fingerprint)
    if session.scalar(select(PartnerMailSender.id).where(PartnerMailSender.address == clean)) is not None:
        raise Conflict(N_("Diese E-Mail-Adresse ist schon einem Partner zugeordnet."), field="mail")
    sender = PartnerMailSender(partner=partner, address=clean, pgp_fingerprint=fingerprint, created_at=at)
    session.add(sender)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.PARTNER_MAIL_SENDER_CREATE,
        subject_type=SubjectType.PARTNER,
        subject_id=partner.id,
        at=at,
        after={"address": clean, "pgp_fingerprint": fingerprint},
    )
    return sender


def remove_mail_sender(session: Session, sender: PartnerMailSender, *, at: dt.datetime, actor: Actor) -> None:
    """Stop accepting DICOM E-Mail from this address: its next mails go to quarantine (unknown sender). The
    partner's public key stays in our GnuPG home (it pins nothing once no sender names it); mails already
    taken stay as they are."""
    record_event(
        session,
        actor=actor,
        tag=Tag.PARTNER_MAIL_SENDER_DELETE,
        subject_type=SubjectType.PARTNER,
        subject_id=sender.partner_id,
        at=at,
        before={"address": sender.address, "pgp_fingerprint": sender.pgp_fingerprint},
    )
    session.delete(sender)
    session.flush()


def find_mail_sender(session: Session, address: str) -> PartnerMailSender | None:
    """The registered sender of an active partner with this From address, or None (quarantine)."""
    return session.scalar(
        select(PartnerMailSender)
        .join(Partner)
        .where(PartnerMailSender.address == address.strip().lower(), Partner.active.is_(True))
    )
