from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from imapclient import IMAPClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import NOW, make_settings
from tests.imaging.conftest import free_port
from tests.imaging.mail.keys import Party, introduce, make_party
from tests.imaging.mail.mails import encrypt_mail
from tumorboard.auth.actors import CLI
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


# --- Dovecot (shared/testing-peers.md recipe), aiosmtpd, and the intake wired to both ---------------------------
DOVECOT_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = dovecot-test-{port}
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {d}/users
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = 0
  }}
}}
"""


@dataclass
class Imap:
    port: int
    cafile: Path
    user: str = "alice"
    password: str = "secret"

    def client(self) -> IMAPClient:
        context = ssl.create_default_context(cafile=str(self.cafile))
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.starttls(context)
        client.login(self.user, self.password)
        return client

    def append(self, mails: list[bytes]) -> None:
        with self.client() as client:
            for raw in mails:
                client.append("INBOX", raw)

    def count(self, folder: str) -> int:
        with self.client() as client:
            if not client.folder_exists(folder):
                return 0
            return len(client.select_folder(folder, readonly=True) and client.search("ALL"))


@pytest.fixture
def imap_server() -> Iterator[Imap]:
    """Dovecot on 127.0.0.1 with STARTTLS (a self-signed certificate made here), started and killed by the test.
    Its folder is directly in /tmp: Dovecot's auth process (user dovecot) must traverse every parent, and
    pytest's own temp root is 0700."""
    d = Path(tempfile.mkdtemp(prefix="dovecot-"))
    d.chmod(0o755)  # auth runs as user 'dovecot' and needs +x
    port = free_port()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (d / "dovecot.conf").write_text(DOVECOT_CONF.format(d=d, port=port))
    home = d / "home" / "alice"
    home.mkdir(parents=True)
    shutil.chown(d / "home", "nobody", "nogroup")  # the mail uid must not be 0
    shutil.chown(home, "nobody", "nogroup")
    (d / "users").write_text(f"alice:{{PLAIN}}secret:65534:65534::{home}::\n")
    (d / "users").chmod(0o644)
    proc = subprocess.Popen(["dovecot", "-F", "-c", f"{d}/dovecot.conf"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError((d / "dovecot.log").read_text() if (d / "dovecot.log").exists() else "dovecot")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield Imap(port, d / "cert.pem")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # a throwaway directory: no clean stop needed
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


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

    def intake(self) -> MailIntake:
        return MailIntake(self.sessions, self.clock, self.spool, self.settings)

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
    )
