from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import NOW, make_settings
from tests.imaging.conftest import free_port
from tests.imaging.mail.keys import Party, introduce, make_party
from tests.imaging.mail.mails import encrypt_mail
from tests.imaging.mail.peers import Imap, dovecot
from tumorboard.auth.actors import CLI
from tumorboard.cases.documents import DocumentStore
from tumorboard.clock import FixedClock
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.mail.config import MailSettings
from tumorboard.imaging.mail.intake import MailIntake
from tumorboard.imaging.mail.pgp import Keyring
from tumorboard.partners.models import Partner
from tumorboard.partners.services import add_mail_sender


@pytest.fixture(scope="session")
def pgp_parties(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Party]:
    """us (the tumor board), nordstadt (a registered partner), stranger (a valid key nobody pinned)."""
    root: Path = tmp_path_factory.mktemp("gnupg")
    parties = {
        "us": make_party(root / "us", "tumorboard@klinik.example"),
        "nordstadt": make_party(root / "nordstadt", "pacs@nordstadt.example"),
        "stranger": make_party(root / "stranger", "pacs@fremd.example"),
    }
    introduce(parties["us"], parties["nordstadt"])
    introduce(parties["us"], parties["stranger"])
    introduce(parties["nordstadt"], parties["stranger"])
    return parties


# --- Dovecot (tests/imaging/mail/peers.py), aiosmtpd, and the intake wired to both -------------------------------
@pytest.fixture
def imap_server() -> Iterator[Imap]:
    with dovecot() as imap:
        yield imap


class _Collect:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        self.messages.append(data if isinstance(data, bytes) else data.encode())
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[bytes]]]:
    """aiosmtpd on 127.0.0.1: (port, received messages)."""
    handler = _Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, handler.messages
    finally:
        controller.stop()


SENDER = "pacs@nordstadt.example"


@dataclass
class MailEnv:
    sessions: sessionmaker[Session]
    settings: MailSettings
    spool: Spool
    clock: FixedClock
    imap: Imap
    receipts: list[bytes]
    parties: dict[str, Party]
    env: dict[str, str]
    documents: DocumentStore

    def intake(self) -> MailIntake:
        return MailIntake(self.sessions, self.clock, self.spool, self.settings, self.documents)

    def mail(self, inner: EmailMessage | bytes, *, by: str = "nordstadt", sender: str = SENDER) -> bytes:
        signer = self.parties[by]
        return encrypt_mail(
            inner, signer.gpg, recipient=self.parties["us"].fingerprint, signer=signer.fingerprint, sender=sender
        )


@pytest.fixture
def mail_env(
    listener_engine: Engine,
    listener_sessions: sessionmaker[Session],
    tmp_path: Path,
    imap_server: Imap,
    smtp_server: tuple[int, list[bytes]],
    pgp_parties: dict[str, Party],
) -> MailEnv:
    """The intake's world: the listener tests' database (partner "Klinikum Test" with AE PARTNER1), that partner's
    mail sender pinned to the "nordstadt" key, our secret key in the instance's GnuPG home."""
    url = f"imap+starttls://alice:secret@127.0.0.1:{imap_server.port}/INBOX"
    environ = {
        "TUMORBOARD_MAIL_IMAP_URLS": url,
        "TUMORBOARD_MAIL_SMTP_URL": f"smtp://127.0.0.1:{smtp_server[0]}",
        "TUMORBOARD_MAIL_CAFILE": str(imap_server.cafile),
        "TUMORBOARD_MAIL_FROM": "tumorboard@klinik.example",
        "TUMORBOARD_MAIL_INTERVAL": "1",
        "TUMORBOARD_MAIL_PATH": str(tmp_path / "mail"),
    }
    settings = MailSettings.from_env(make_settings(tmp_path, "sqlite://"), environ)
    keyring = Keyring(settings.gnupg_home)
    us, nordstadt = pgp_parties["us"], pgp_parties["nordstadt"]
    keyring.import_key(us.gpg.export_keys(us.fingerprint, secret=True, expect_passphrase=False))
    for name in ("nordstadt", "stranger"):
        keyring.import_key(pgp_parties[name].gpg.export_keys(pgp_parties[name].fingerprint))
    with listener_sessions() as session:
        partner = session.scalar(select(Partner).where(Partner.name == "Klinikum Test"))
        assert partner is not None
        add_mail_sender(session, partner, address=SENDER, pgp_fingerprint=nordstadt.fingerprint, at=NOW, actor=CLI)
        session.commit()
    return MailEnv(
        listener_sessions,
        settings,
        Spool(tmp_path / "imaging"),
        FixedClock(dt.datetime.now(dt.UTC)),
        imap_server,
        smtp_server[1],
        pgp_parties,
        environ,
        DocumentStore(tmp_path / "documents"),
    )
