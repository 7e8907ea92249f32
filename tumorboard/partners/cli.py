"""``tumorboard partners …``: register partner sites and their DICOM senders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tumorboard.auth.actors import CLI
from tumorboard.cli_support import handles_errors, unit_of_work


@click.group()
def partners() -> None:
    """Partner sites and their DICOM AE titles."""


@partners.command("add")
@click.argument("name")
@click.option("--ae-title", "ae_titles", multiple=True, help="calling AE title of the partner's sender")
@click.option("--address", "addresses", multiple=True, help="IP address or CIDR network it sends from")
@click.option("--quiet-period", type=click.IntRange(5, 86400), help="seconds; default 120")
@click.option("--contact", default="")
@click.option("--mail", "mails", multiple=True, help="From address of the partner's DICOM E-Mail gateway")
@click.option("--pgp-fingerprint", help="pinned OpenPGP fingerprint the partner's mails are signed with")
@click.option(
    "--pgp-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="file with the partner's public key, imported into our GnuPG home",
)
@handles_errors
def add(
    name: str,
    ae_titles: tuple[str, ...],
    addresses: tuple[str, ...],
    quiet_period: int | None,
    contact: str,
    mails: tuple[str, ...],
    pgp_fingerprint: str | None,
    pgp_key: Path | None,
) -> None:
    """Register a partner, or add AE titles/addresses (every AE title × every address) or mail senders (each
    with the pinned key fingerprint) to an existing one."""
    from sqlalchemy import select

    from tumorboard.partners.models import Partner
    from tumorboard.partners.services import add_endpoint, create_partner

    if ae_titles and not addresses:
        raise click.UsageError("--ae-title braucht mindestens eine --address")
    if mails and not pgp_fingerprint:
        raise click.UsageError("--mail braucht --pgp-fingerprint")
    with unit_of_work() as (rt, session):
        now = rt.clock.now()
        partner = session.scalar(select(Partner).where(Partner.name == " ".join(name.split())))
        if partner is None:
            partner = create_partner(
                session, name=name, contact=contact, quiet_period_seconds=quiet_period or 120, at=now, actor=CLI
            )
        for title in ae_titles:
            for address in addresses:
                add_endpoint(session, partner, ae_title=title, address=address, at=now, actor=CLI)
        if mails and pgp_fingerprint:
            from tumorboard.imaging.mail.senders import register_mail_senders

            register_mail_senders(
                rt,
                session,
                partner,
                mails,
                pgp_fingerprint,
                pgp_key.read_bytes() if pgp_key else None,
                at=now,
                actor=CLI,
            )
        session.flush()
        click.echo(f"Partner {partner.name} (id {partner.id}): {len(partner.endpoints)} Absender.")


@partners.command("remove-mail")
@click.argument("address")
@handles_errors
def remove_mail(address: str) -> None:
    """Stop accepting DICOM E-Mail from ADDRESS (its next mails go to quarantine)."""
    from sqlalchemy import select

    from tumorboard.errors import NotFound
    from tumorboard.i18n import N_
    from tumorboard.partners.models import PartnerMailSender
    from tumorboard.partners.services import remove_mail_sender

    with unit_of_work() as (rt, session):
        sender = session.scalar(select(PartnerMailSender).where(PartnerMailSender.address == address.strip().lower()))
        if sender is None:
            raise NotFound(N_("Diesen Mail-Absender gibt es nicht."))
        remove_mail_sender(session, sender, at=rt.clock.now(), actor=CLI)
    click.echo(f"Mail-Absender {address.strip().lower()} entfernt.")


@partners.command("list")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def list_cmd(as_json: bool) -> None:
    """List partners with their AE titles and addresses."""
    from tumorboard.partners.services import list_partners

    with unit_of_work() as (_, session):
        data: list[dict[str, Any]] = [
            {
                "id": p.id,
                "name": p.name,
                "active": p.active,
                "quiet_period_seconds": p.quiet_period_seconds,
                "contact": p.contact,
                "endpoints": [{"ae_title": e.ae_title, "network": e.network} for e in p.endpoints],
            }
            for p in list_partners(session)
        ]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for item in data:
        senders = ", ".join(f"{e['ae_title']}@{e['network']}" for e in item["endpoints"]) or "-"
        click.echo(f"{item['id']:>4}  {item['name']:<40} {item['quiet_period_seconds']:>5}s  {senders}")
