from __future__ import annotations

from pathlib import Path

import pytest

from tests.imaging.mail.keys import Party
from tests.imaging.mail.mails import dicom_bytes, dicom_mail, encrypt_mail
from tumorboard.imaging.mail.mime import QuarantineReason, Refused, extract, split
from tumorboard.imaging.mail.pgp import Keyring, ciphertext_of, normalize_fingerprint


@pytest.fixture
def keyring(tmp_path: Path, pgp_parties: dict[str, Party]) -> Keyring:
    """Our instance's GnuPG home: our secret key, the partners' public keys (like `partners add --pgp-key`)."""
    us = pgp_parties["us"]
    ring = Keyring(tmp_path / "gnupg")
    ring.import_key(us.gpg.export_keys(us.fingerprint, secret=True, expect_passphrase=False))
    for name in ("nordstadt", "stranger"):
        assert ring.import_key(pgp_parties[name].gpg.export_keys(pgp_parties[name].fingerprint))
    return ring


def _mail(parties: dict[str, Party], *, by: str | None, to: str = "us") -> bytes:
    sender = parties["nordstadt"]
    inner = dicom_mail([dicom_bytes()])
    gpg = parties[by].gpg if by else sender.gpg
    return encrypt_mail(inner, gpg, recipient=parties[to].fingerprint, signer=parties[by].fingerprint if by else None)


def _open(keyring: Keyring, raw: bytes, pinned: str, work: Path) -> Path:
    """The mail (on disk, as the intake holds it) split, its ciphertext decrypted into a file."""
    work.mkdir()
    (work / "mail.eml").write_bytes(raw)
    headers, leaves = split(work / "mail.eml", work)
    plaintext = work / "plaintext.eml"
    assert keyring.open(ciphertext_of(headers, leaves), plaintext, pinned=pinned) == pinned
    return plaintext


def _reason(keyring: Keyring, raw: bytes, pinned: str, work: Path) -> QuarantineReason:
    with pytest.raises(Refused) as err:
        _open(keyring, raw, pinned, work)
    return err.value.reason


def test_signed_and_encrypted_by_the_pinned_key_opens(
    tmp_path: Path, keyring: Keyring, pgp_parties: dict[str, Party]
) -> None:
    pinned = pgp_parties["nordstadt"].fingerprint
    plaintext = _open(keyring, _mail(pgp_parties, by="nordstadt"), pinned, tmp_path / "w")
    _, parts = split(plaintext, tmp_path / "w")
    assert len(extract(parts, tmp_path / "w").objects) == 1


def test_valid_signature_by_another_key_is_refused(
    tmp_path: Path, keyring: Keyring, pgp_parties: dict[str, Party]
) -> None:
    raw = _mail(pgp_parties, by="stranger")
    assert _reason(keyring, raw, pgp_parties["nordstadt"].fingerprint, tmp_path / "w") == QuarantineReason.WRONG_KEY


def test_signature_by_a_key_we_do_not_hold_is_refused(
    tmp_path: Path, keyring: Keyring, pgp_parties: dict[str, Party]
) -> None:
    bare = Keyring(tmp_path / "bare")  # our secret key only: the partner's public key was never imported
    us = pgp_parties["us"]
    bare.import_key(us.gpg.export_keys(us.fingerprint, secret=True, expect_passphrase=False))
    pinned = pgp_parties["nordstadt"].fingerprint
    assert _reason(bare, _mail(pgp_parties, by="nordstadt"), pinned, tmp_path / "w") == QuarantineReason.WRONG_KEY


def test_unsigned_is_refused(tmp_path: Path, keyring: Keyring, pgp_parties: dict[str, Party]) -> None:
    raw = _mail(pgp_parties, by=None)
    assert _reason(keyring, raw, pgp_parties["nordstadt"].fingerprint, tmp_path / "w") == "unsigned"


def test_not_for_us_is_not_decryptable(tmp_path: Path, keyring: Keyring, pgp_parties: dict[str, Party]) -> None:
    raw = _mail(pgp_parties, by="nordstadt", to="stranger")
    reason = _reason(keyring, raw, pgp_parties["nordstadt"].fingerprint, tmp_path / "w")
    assert reason == QuarantineReason.NOT_DECRYPTABLE


def test_plain_mail_is_not_encrypted(tmp_path: Path, keyring: Keyring, pgp_parties: dict[str, Party]) -> None:
    raw = dicom_mail([dicom_bytes()]).as_bytes()
    reason = _reason(keyring, raw, pgp_parties["nordstadt"].fingerprint, tmp_path / "w")
    assert reason == QuarantineReason.NOT_ENCRYPTED


def test_fingerprint_normalization() -> None:
    fp = "3809 68BE F8A8 E2EB C749  563D AD2D A35E B0E6 9456"
    assert normalize_fingerprint(fp) == "380968BEF8A8E2EBC749563DAD2DA35EB0E69456"
    assert normalize_fingerprint(fp.lower()) == "380968BEF8A8E2EBC749563DAD2DA35EB0E69456"
    assert normalize_fingerprint("0xDEADBEEF") is None
