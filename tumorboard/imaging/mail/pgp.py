"""OpenPGP (RFC 3156 PGP/MIME) for the mail intake: decrypt with our key, verify against the partner's pinned key.

GnuPG runs through python-gnupg with its own home in the instance folder (``<instance>/mail/gnupg``), never the
user's. A mail must be ``multipart/encrypted; protocol="application/pgp-encrypted"`` and signed inside the
encryption (RFC 3156 6.2, what ``gpg --sign --encrypt`` and the network's gateways produce). The signature counts
only when GnuPG calls it valid *and* it was made by the key pinned for the sending partner — GnuPG's own trust
model plays no part (every partner key is pinned by fingerprint in our registry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import gnupg

from tumorboard.imaging.mail.mime import QuarantineReason, Refused

FINGERPRINT_RE = re.compile(r"^[0-9A-F]{40}$")


def normalize_fingerprint(value: str) -> str | None:
    """A v4 fingerprint as 40 upper-case hex digits (spaces removed); None when it is not one."""
    clean = re.sub(r"\s+", "", value).upper()
    return clean if FINGERPRINT_RE.match(clean) else None


@dataclass(frozen=True)
class Opened:
    """A decrypted mail: the enclosed MIME entity and the fingerprint (primary key) that signed it."""

    content: bytes
    signer: str


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

    def open(self, message: Message, *, pinned: str) -> Opened:
        """Decrypt ``message`` and check that the key ``pinned`` (a partner's fingerprint) signed it; raises
        :class:`Refused` with the quarantine reason otherwise."""
        ciphertext = _ciphertext(message)
        result = self.gpg.decrypt(ciphertext)
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
        return Opened(bytes(result.data), signer)


def _ciphertext(message: Message) -> bytes:
    if message.get_content_type() != "multipart/encrypted" or message.get_param("protocol") != (
        "application/pgp-encrypted"
    ):
        raise Refused(QuarantineReason.NOT_ENCRYPTED)
    parts = message.get_payload()
    if not isinstance(parts, list) or len(parts) != 2 or not isinstance(parts[1], Message):
        raise Refused(QuarantineReason.MALFORMED, "multipart/encrypted ohne zwei Teile")
    data = parts[1].get_payload(decode=True)
    if not isinstance(data, bytes) or b"-----BEGIN PGP MESSAGE-----" not in data:
        raise Refused(QuarantineReason.NOT_DECRYPTABLE, "kein OpenPGP-Block")
    return data
