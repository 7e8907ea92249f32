"""GnuPG keys made for the tests: ours (the receiver) and two partners', in separate homes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gnupg


@dataclass
class Party:
    gpg: gnupg.GPG
    fingerprint: str
    email: str


def make_party(home: Path, email: str) -> Party:
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    gpg = gnupg.GPG(gnupghome=str(home))
    key = gpg.gen_key(
        gpg.gen_key_input(
            key_type="EDDSA",
            key_curve="ed25519",
            subkey_type="ECDH",
            subkey_curve="cv25519",
            name_email=email,
            no_protection=True,
            expire_date=0,
        )
    )
    assert key.fingerprint, key.status
    return Party(gpg, str(key.fingerprint), email)


def introduce(a: Party, b: Party) -> None:
    """Each imports the other's public key."""
    a.gpg.import_keys(b.gpg.export_keys(b.fingerprint))
    b.gpg.import_keys(a.gpg.export_keys(a.fingerprint))
