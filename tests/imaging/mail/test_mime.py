from __future__ import annotations

import datetime as dt
import itertools
import zipfile
from pathlib import Path

import pytest

from tests.imaging.mail.mails import dicom_bytes, dicom_mail, split_partial, zip_bytes, zip_mail
from tumorboard.imaging.mail.mime import (
    Extracted,
    Partial,
    QuarantineReason,
    Refused,
    ZipLimits,
    extract,
    is_complete,
    partial_expired,
    partial_of,
    reassemble,
    split,
)

_names = itertools.count()


def _file(tmp_path: Path, raw: bytes) -> Path:
    path = tmp_path / f"mail-{next(_names)}.eml"
    path.write_bytes(raw)
    return path


def _extract(tmp_path: Path, raw: bytes, limits: ZipLimits | None = None) -> Extracted:
    work = tmp_path / f"work-{next(_names)}"
    work.mkdir()
    _, leaves = split(_file(tmp_path, raw), work)
    return extract(leaves, work, limits)


def _objects(found: Extracted) -> list[bytes]:
    return [path.read_bytes() for path in found.objects]


def _refused(tmp_path: Path, raw: bytes, limits: ZipLimits | None = None) -> QuarantineReason:
    with pytest.raises(Refused) as err:
        _extract(tmp_path, raw, limits)
    return err.value.reason


def test_application_dicom_parts_in_mixed_and_related(tmp_path: Path) -> None:
    objects = [dicom_bytes(number=n) for n in (1, 2)]
    for related in (False, True):
        msg = dicom_mail(objects, related=related)
        assert msg.get_content_type() == ("multipart/related" if related else "multipart/mixed")
        found = _extract(tmp_path, msg.as_bytes())
        assert _objects(found) == objects
        assert found.documents == []


def test_octet_stream_only_with_the_dicm_preamble(tmp_path: Path) -> None:
    data = dicom_bytes()
    found = _extract(tmp_path, dicom_mail([data], ctype="application/octet-stream").as_bytes())
    assert _objects(found) == [data]
    assert _refused(tmp_path, dicom_mail([b"\0" * 200], ctype="application/octet-stream").as_bytes()) == "not_dicom"


def test_pdf_findings_are_documents_beside_the_objects(tmp_path: Path) -> None:
    msg = dicom_mail([dicom_bytes()])
    msg.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename="../Befund.pdf")
    found = _extract(tmp_path, msg.as_bytes())
    assert len(found.objects) == 1
    assert [(d.name, d.content_type, d.path.read_bytes()) for d in found.documents] == [
        ("Befund.pdf", "application/pdf", b"%PDF-1.4 ...")
    ]


def test_mail_without_dicom_is_refused(tmp_path: Path) -> None:
    msg = dicom_mail([])
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="Befund.pdf")
    assert _refused(tmp_path, msg.as_bytes()) == QuarantineReason.NOT_DICOM


def test_dicom_zip_yields_its_dicom_entries_only(tmp_path: Path) -> None:
    a, b = dicom_bytes(number=1), dicom_bytes(number=2)
    archive = zip_bytes({"DICOMDIR": b"\0" * 300, "DICOM/IM0001": a, "DICOM/IM0002": b})
    assert _objects(_extract(tmp_path, zip_mail(archive).as_bytes())) == [a, b]


@pytest.mark.parametrize("name", ["../../x.dcm", "/etc/x.dcm", "C:/x.dcm", "DICOM/../../x.dcm", "..\\x.dcm"])
def test_zip_path_tricks_are_refused(tmp_path: Path, name: str) -> None:
    archive = zip_bytes({"DICOM/IM0001": dicom_bytes(), name: dicom_bytes(number=2)})
    assert _refused(tmp_path, zip_mail(archive).as_bytes()) == QuarantineReason.ARCHIVE_PATH


def test_zip_bomb_is_refused_by_ratio_before_it_is_inflated(tmp_path: Path) -> None:
    archive = zip_bytes({"DICOM/IM0001": dicom_bytes(), "DICOM/BOMB": b"\0" * (50 * 1024 * 1024)})
    assert len(archive) < 200_000
    assert _refused(tmp_path, zip_mail(archive).as_bytes()) == QuarantineReason.ARCHIVE_RATIO


def test_zip_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    archive = zip_bytes({"DICOM/IM0001": dicom_bytes()}, compression=zipfile.ZIP_STORED)
    assert (
        _refused(tmp_path, zip_mail(archive).as_bytes(), ZipLimits(max_total=1000))
        == QuarantineReason.ARCHIVE_TOO_LARGE
    )


def test_forged_zip_directory_understating_the_size_is_refused(tmp_path: Path) -> None:
    data = dicom_bytes()
    archive = bytearray(zip_bytes({"DICOM/IM0001": data}, compression=zipfile.ZIP_STORED))
    # Patch the uncompressed size in the central directory (offset 24 in its record) to 10 bytes.
    central = archive.rfind(b"PK\x01\x02")
    archive[central + 24 : central + 28] = (10).to_bytes(4, "little")
    reason = _refused(tmp_path, zip_mail(bytes(archive)).as_bytes())
    assert reason in (QuarantineReason.ARCHIVE_TOO_LARGE, QuarantineReason.ARCHIVE_BROKEN)


def test_broken_zip_is_refused(tmp_path: Path) -> None:
    assert _refused(tmp_path, zip_mail(b"PK\x03\x04 not really").as_bytes()) == QuarantineReason.ARCHIVE_BROKEN


def test_partials_reassemble_to_the_enclosed_message_in_any_order(tmp_path: Path) -> None:
    objects = [dicom_bytes(number=n) for n in (1, 2)]
    raw = dicom_mail(objects).as_bytes()
    files = [_file(tmp_path, f) for f in split_partial(raw, 3)]
    parsed = [(path, partial_of(path)) for path in reversed(files)]
    got: dict[int, Partial] = {p.number: p for _, p in parsed if p is not None}
    where = {p.number: (path, p.body_offset) for path, p in parsed if p is not None}
    assert sorted(got) == [1, 2, 3]
    assert len({p.id for p in got.values()}) == 1
    assert is_complete(got)
    whole = reassemble(where, 3, tmp_path)
    assert whole.read_bytes() == raw
    assert _objects(_extract(tmp_path, whole.read_bytes())) == objects


def test_incomplete_partial_set(tmp_path: Path) -> None:
    files = [_file(tmp_path, f) for f in split_partial(dicom_mail([dicom_bytes()]).as_bytes(), 3)]
    got = {p.number: (path, p) for path in files[:2] if (p := partial_of(path)) is not None}
    assert not is_complete({n: p for n, (_, p) in got.items()})
    with pytest.raises(Refused) as err:
        reassemble({n: (path, p.body_offset) for n, (path, p) in got.items()}, 3, tmp_path)
    assert err.value.reason == QuarantineReason.INCOMPLETE_PARTIAL
    start = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
    timeout = dt.timedelta(hours=1)
    assert not partial_expired(start, start + dt.timedelta(minutes=59), timeout)
    assert partial_expired(start, start + timeout, timeout)


def test_partial_with_bad_parameters_is_malformed(tmp_path: Path) -> None:
    raw = b'Content-Type: message/partial; id="x"; number=0; total=3\r\n\r\nabc'
    with pytest.raises(Refused) as err:
        partial_of(_file(tmp_path, raw))
    assert err.value.reason == QuarantineReason.MALFORMED
    assert partial_of(_file(tmp_path, dicom_mail([dicom_bytes()]).as_bytes())) is None


@pytest.mark.parametrize("block", [7, 64, 1024 * 1024])
@pytest.mark.parametrize("linesep", ["\r\n", "\n"])
def test_streamed_parts_equal_the_stdlib_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, linesep: str
) -> None:
    """The block-wise reader decodes every leaf exactly as :mod:`email` does — with boundaries, "\\r\\n--" and
    "--" lines that are not boundaries falling across block edges (block sizes down to 7 bytes)."""
    import email
    import email.policy

    from tumorboard.imaging.mail import mime

    monkeypatch.setattr(mime, "_BLOCK", block)
    msg = dicom_mail([dicom_bytes(number=1), b"--not a boundary\r\n--\r\n" * 50])
    msg.add_attachment(
        "Befund -- Zeile\n--\nÄrztlicher Text " * 40, subtype="plain", filename="a.txt", cte="quoted-printable"
    )
    nested = dicom_mail([dicom_bytes(number=2)], related=True)
    msg.attach(nested)
    raw = msg.as_bytes(policy=email.policy.default.clone(linesep=linesep))
    work = tmp_path / "work"
    work.mkdir()
    headers, leaves = split(_file(tmp_path, raw), work)
    expected = [
        part.get_payload(decode=True)
        for part in email.message_from_bytes(raw, policy=email.policy.default).walk()
        if not part.is_multipart()
    ]
    assert headers.get_content_type() == "multipart/mixed"
    assert [leaf.path.read_bytes() for leaf in leaves] == expected
    assert len(leaves) == 6
