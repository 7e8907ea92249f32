"""Build DICOM E-Mails as a partner's mail system sends them (for the mail tests)."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from email.utils import make_msgid

import gnupg
from pydicom.uid import generate_uid

from tests.imaging.dicomfiles import ct_dataset


def dicom_bytes(*, study_uid: str | None = None, series_uid: str | None = None, number: int = 1, **kw: object) -> bytes:
    ds = ct_dataset(study_uid=study_uid or generate_uid(), series_uid=series_uid or generate_uid(), number=number, **kw)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def dicom_mail(
    objects: list[bytes],
    *,
    sender: str = "pacs@nordstadt.example",
    to: str = "tumorboard@klinik.example",
    ctype: str = "application/dicom",
    related: bool = False,
) -> EmailMessage:
    """A plain (not yet encrypted) mail with one part per object."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "DICOM"
    msg["Message-ID"] = make_msgid(domain="nordstadt.example")
    msg.set_content("Teleradiologie")
    maintype, subtype = ctype.split("/")
    for i, data in enumerate(objects):
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=f"IM{i:04d}.dcm")
    if related:
        msg.replace_header("Content-Type", msg["Content-Type"].replace("multipart/mixed", "multipart/related"))
    return msg


def zip_bytes(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def zip_mail(archive: bytes, **kw: str) -> EmailMessage:
    msg = dicom_mail([], **kw)
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="DICOM.ZIP")
    return msg


def split_partial(raw: bytes, parts: int, *, sender: str = "pacs@nordstadt.example") -> list[bytes]:
    """RFC 2046 5.2.2: the enclosed message (headers and body) cut into ``parts`` message/partial mails; each
    fragment carries the set's id and its number, the last one the total too (here: every one)."""
    set_id = make_msgid(domain="nordstadt.example").strip("<>")
    size = -(-len(raw) // parts)
    out = []
    for n in range(parts):
        chunk = raw[n * size : (n + 1) * size]
        head = (
            f"From: {sender}\r\nTo: tumorboard@klinik.example\r\nMessage-ID: <{n}.{set_id}>\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: message/partial; id="{set_id}"; number={n + 1}; total={parts}\r\n\r\n'
        )
        out.append(head.encode() + chunk)
    return out


def encrypt_mail(
    inner: EmailMessage | bytes,
    gpg: gnupg.GPG,
    *,
    recipient: str,
    signer: str | None,
    sender: str = "pacs@nordstadt.example",
) -> bytes:
    """RFC 3156 PGP/MIME: the inner entity signed (by ``signer``'s key in ``gpg``) and encrypted to
    ``recipient`` in one OpenPGP message (6.2), wrapped in multipart/encrypted."""
    data = inner if isinstance(inner, bytes) else inner.as_bytes()
    result = gpg.encrypt(data, recipient, sign=signer, always_trust=True, armor=True)
    assert result.ok, result.status
    outer = EmailMessage()
    outer["From"] = sender
    outer["To"] = "tumorboard@klinik.example"
    outer["Subject"] = "..."
    outer["Message-ID"] = make_msgid(domain="nordstadt.example")
    outer.set_type("multipart/encrypted")
    outer.set_param("protocol", "application/pgp-encrypted")
    control = EmailMessage()
    control.set_content(b"Version: 1\r\n", maintype="application", subtype="pgp-encrypted", cte="7bit")
    body = EmailMessage()
    body.set_content(str(result).encode(), maintype="application", subtype="octet-stream", cte="7bit")
    body.replace_header("Content-Type", "application/octet-stream")
    outer.attach(control)
    outer.attach(body)
    return outer.as_bytes()
