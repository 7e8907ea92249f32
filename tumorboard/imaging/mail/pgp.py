"""OpenPGP (RFC 3156 PGP/MIME) for the mail intake: decrypt with our key, verify against the partner's pinned key.

GnuPG runs through python-gnupg with its own home in the instance folder (``<instance>/mail/gnupg``), never the
user's. A mail must be ``multipart/encrypted; protocol="application/pgp-encrypted"`` and signed inside the
encryption (RFC 3156 6.2, what ``gpg --sign --encrypt`` and the network's gateways produce). The signature counts
only when GnuPG calls it valid *and* it was made by the key pinned for the sending partner — GnuPG's own trust
model plays no part (every partner key is pinned by fingerprint in our registry).
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path

import gnupg

from tumorboard.imaging.mail.mime import Leaf, QuarantineReason, Refused

FINGERPRINT_RE = re.compile(r"^[0-9A-F]{40}$")


def normalize_fingerprint(value: str) -> str | None:
    """A v4 fingerprint as 40 upper-case hex digits (spaces removed); None when it is not one."""
    clean = re.sub(r"\s+", "", value).upper()
    return clean if FINGERPRINT_RE.match(clean) else None


class Keyring:
    """Our GnuPG home: our secret key and the partners' public keys."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)  # gpg warns about (and some versions refuse) a home others can read
        self.home = home
        self.gpg = gnupg.GPG(gnupghome=str(home))
        self.gpg.encoding = "utf-8"

    def import_key(self, armored: str | bytes) -> list[str]:
        """Import public (or, for our own, secret) keys; returns their fingerprints."""
        result = self.gpg.import_keys(armored)
        return [fp for fp in result.fingerprints if fp]

    def has_public_key(self, fingerprint: str) -> bool:
        return any(key["fingerprint"] == fingerprint for key in self.gpg.list_keys(keys=[fingerprint]))

    def open(self, ciphertext: Path, output: Path, *, pinned: str) -> str:
        """Decrypt the OpenPGP message in ``ciphertext`` into ``output`` (file to file: GnuPG streams, nothing
        is held in memory) and check that the key ``pinned`` (a partner's fingerprint) signed it; returns the
        signer. Raises :class:`Refused` with the quarantine reason otherwise (``output`` is then to be
        discarded: GnuPG writes the plaintext before it reports on the signature)."""
        with open(ciphertext, "rb") as fh:
            result = self.gpg.decrypt_file(fh, output=str(output))
        if not result.ok:
            raise Refused(QuarantineReason.NOT_DECRYPTABLE, str(result.status or ""))
        signer = result.pubkey_fingerprint or result.fingerprint
        if not signer:  # GnuPG 2.2 names the issuer (ISSUER_FPR) of any signature, good, bad or unknown
            raise Refused(QuarantineReason.UNSIGNED)
        if not result.valid:
            # A signature by a key we do not hold (GnuPG: "no public key") is as good as none; one that does
            # not match the data is bad.
            if result.status == "signature bad":
                raise Refused(QuarantineReason.BAD_SIGNATURE)
            raise Refused(QuarantineReason.WRONG_KEY, str(signer))
        if signer != pinned:
            raise Refused(QuarantineReason.WRONG_KEY, str(signer))
        return str(signer)


def ciphertext_of(headers: EmailMessage, leaves: list[Leaf]) -> Path:
    """The file holding the OpenPGP message of a PGP/MIME mail (its headers and leaf parts, as
    :func:`~tumorboard.imaging.mail.mime.split` returns them); :class:`Refused` for anything else."""
    if headers.get_content_type() != "multipart/encrypted" or headers.get_param("protocol") != (
        "application/pgp-encrypted"
    ):
        raise Refused(QuarantineReason.NOT_ENCRYPTED)
    if len(leaves) != 2:
        raise Refused(QuarantineReason.MALFORMED, "multipart/encrypted ohne zwei Teile")
    with open(leaves[1].path, "rb") as fh:
        start = fh.read(64 * 1024)
    if b"-----BEGIN PGP MESSAGE-----" not in start:
        raise Refused(QuarantineReason.NOT_DECRYPTABLE, "kein OpenPGP-Block")
    return leaves[1].path
