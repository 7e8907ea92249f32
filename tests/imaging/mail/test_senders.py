"""Partner registry: mail senders with pinned OpenPGP fingerprints (`partners add … --mail … --pgp-fingerprint …`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.imaging.mail.keys import Party
from tumorboard.audit.models import AuditEvent
from tumorboard.bootstrap import Runtime
from tumorboard.cli import main
from tumorboard.imaging.mail.pgp import Keyring
from tumorboard.partners.models import PartnerMailSender
from tumorboard.partners.services import find_mail_sender

pytestmark = pytest.mark.db


def _run(runtime: Runtime, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), obj=runtime)


def test_cli_pins_the_key_for_each_address(runtime: Runtime, tmp_path: Path, pgp_parties: dict[str, Party]) -> None:
    nordstadt = pgp_parties["nordstadt"]
    key_file = tmp_path / "nordstadt.asc"
    key_file.write_text(nordstadt.gpg.export_keys(nordstadt.fingerprint))
    spaced = " ".join(nordstadt.fingerprint[i : i + 4] for i in range(0, 40, 4)).lower()
    result = _run(
        runtime,
        "partners",
        "add",
        "Klinikum Nordstadt",
        "--mail",
        "PACS@Nordstadt.example",
        "--mail",
        "tele@nordstadt.example",
        "--pgp-fingerprint",
        spaced,
        "--pgp-key",
        str(key_file),
    )
    assert result.exit_code == 0, result.output
    with runtime.session_factory() as session:
        senders = session.scalars(select(PartnerMailSender).order_by(PartnerMailSender.address)).all()
        assert [(s.address, s.pgp_fingerprint) for s in senders] == [
            ("pacs@nordstadt.example", nordstadt.fingerprint),
            ("tele@nordstadt.example", nordstadt.fingerprint),
        ]
        found = find_mail_sender(session, " Pacs@nordstadt.EXAMPLE")
        assert found is not None and found.partner.name == "Klinikum Nordstadt"
        assert find_mail_sender(session, "other@nordstadt.example") is None
        tags = session.scalars(select(AuditEvent.tag).where(AuditEvent.tag == "partner:mail_sender:create")).all()
        assert len(tags) == 2
    assert Keyring(runtime.mail.gnupg_home).has_public_key(nordstadt.fingerprint)


def test_cli_refuses_a_key_file_without_that_fingerprint_and_an_unknown_key(
    runtime: Runtime, tmp_path: Path, pgp_parties: dict[str, Party]
) -> None:
    stranger, nordstadt = pgp_parties["stranger"], pgp_parties["nordstadt"]
    key_file = tmp_path / "stranger.asc"
    key_file.write_text(stranger.gpg.export_keys(stranger.fingerprint))
    args = ["partners", "add", "Klinikum Nordstadt", "--mail", "pacs@nordstadt.example", "--pgp-fingerprint"]
    wrong = _run(runtime, *args, nordstadt.fingerprint, "--pgp-key", str(key_file))
    assert wrong.exit_code != 0
    assert "Fingerabdruck" in wrong.output
    missing = _run(runtime, *args, nordstadt.fingerprint)
    assert missing.exit_code != 0
    assert "Schlüsselbund" in missing.output
    bad = _run(runtime, *args, "DEADBEEF")
    assert bad.exit_code != 0
    assert "40 Hexadezimalziffern" in bad.output
    no_fp = _run(runtime, "partners", "add", "Klinikum Nordstadt", "--mail", "pacs@nordstadt.example")
    assert no_fp.exit_code == 2
    with runtime.session_factory() as session:
        assert session.scalars(select(PartnerMailSender)).all() == []


def test_removed_sender_is_unknown_again_audited(
    runtime: Runtime, tmp_path: Path, pgp_parties: dict[str, Party]
) -> None:
    nordstadt = pgp_parties["nordstadt"]
    key_file = tmp_path / "nordstadt.asc"
    key_file.write_text(nordstadt.gpg.export_keys(nordstadt.fingerprint))
    args = [
        "partners",
        "add",
        "Klinikum Nordstadt",
        "--mail",
        "pacs@nordstadt.example",
        "--mail",
        "tele@nordstadt.example",
    ]
    assert _run(runtime, *args, "--pgp-fingerprint", nordstadt.fingerprint, "--pgp-key", str(key_file)).exit_code == 0
    removed = _run(runtime, "partners", "remove-mail", "PACS@nordstadt.example")
    assert removed.exit_code == 0, removed.output
    assert _run(runtime, "partners", "remove-mail", "pacs@nordstadt.example").exit_code != 0  # gone already
    with runtime.session_factory() as session:
        assert find_mail_sender(session, "pacs@nordstadt.example") is None  # its next mail: unknown sender
        assert find_mail_sender(session, "tele@nordstadt.example") is not None
        event = session.scalar(select(AuditEvent).where(AuditEvent.tag == "partner:mail_sender:delete"))
        assert event is not None and event.before == {
            "address": "pacs@nordstadt.example",
            "pgp_fingerprint": nordstadt.fingerprint,
        }
