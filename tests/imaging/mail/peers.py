"""Dovecot on 127.0.0.1 (shared/testing-peers.md recipe), for the mail tests and ``benchmarks/mail.py``."""

from __future__ import annotations

import contextlib
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
from pathlib import Path

from imapclient import IMAPClient

from tests.imaging.conftest import free_port

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


def _traversable_temp() -> str:
    """A temp folder whose every ancestor others may traverse (o+x): /tmp is usually one, but not on every machine
    (this one had /tmp at 0700); /var/tmp and /dev/shm are the fallbacks."""
    for candidate in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"):
        path = Path(candidate).resolve()
        if path.is_dir() and all(p.stat().st_mode & 0o001 for p in (path, *path.parents)):
            return str(path)
    raise RuntimeError("no temp folder that Dovecot's auth user may traverse")


@contextlib.contextmanager
def dovecot() -> Iterator[Imap]:
    """Dovecot on 127.0.0.1 with STARTTLS (a self-signed certificate made here), started and killed by the test.
    Its folder is directly in a system temp folder: Dovecot's auth process (user dovecot) must traverse every
    parent, and pytest's own temp root is 0700."""
    d = Path(tempfile.mkdtemp(prefix="dovecot-", dir=_traversable_temp()))
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
        imap = Imap(port, d / "cert.pem")
        # The banner comes before Dovecot's auth process is ready: on a loaded machine the first login can get
        # "[UNAVAILABLE] Temporary authentication failure". Wait for one login to pass.
        while True:
            try:
                imap.client().logout()
                break
            except Exception:
                if time.monotonic() > deadline + 20:
                    raise
                time.sleep(0.1)
        yield imap
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # a throwaway directory: no clean stop needed
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)
