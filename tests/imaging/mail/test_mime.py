from __future__ import annotations

import datetime as dt
import zipfile

import pytest

from tests.imaging.mail.mails import dicom_bytes, dicom_mail, split_partial, zip_bytes, zip_mail
from tumorboard.imaging.mail.mime import (
    Partial,
    QuarantineReason,
    Refused,
    ZipLimits,
    extract,
    is_complete,
    parse,
    partial_expired,
    partial_of,
    reassemble,
)


def _refused(raw: bytes, limits: ZipLimits | None = None) -> QuarantineReason:
    with pytest.raises(Refused) as err:
        extract(parse(raw), limits)
    return err.value.reason


def test_application_dicom_parts_in_mixed_and_related() -> None:
    objects = [dicom_bytes(number=n) for n in (1, 2)]
    for related in (False, True):
        msg = dicom_mail(objects, related=related)
        assert msg.get_content_type() == ("multipart/related" if related else "multipart/mixed")
        found = extract(parse(msg.as_bytes()))
        assert found.objects == objects
        assert found.documents == []


def test_octet_stream_only_with_the_dicm_preamble() -> None:
    data = dicom_bytes()
    assert extract(parse(dicom_mail([data], ctype="application/octet-stream").as_bytes())).objects == [data]
    assert _refused(dicom_mail([b"\0" * 200], ctype="application/octet-stream").as_bytes()) == "not_dicom"


def test_pdf_findings_are_documents_beside_the_objects() -> None:
    msg = dicom_mail([dicom_bytes()])
    msg.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename="../Befund.pdf")
    found = extract(parse(msg.as_bytes()))
    assert len(found.objects) == 1
    assert found.documents == [("Befund.pdf", "application/pdf", b"%PDF-1.4 ...")]


def test_mail_without_dicom_is_refused() -> None:
    msg = dicom_mail([])
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="Befund.pdf")
    assert _refused(msg.as_bytes()) == QuarantineReason.NOT_DICOM


def test_dicom_zip_yields_its_dicom_entries_only() -> None:
    a, b = dicom_bytes(number=1), dicom_bytes(number=2)
    archive = zip_bytes({"DICOMDIR": b"\0" * 300, "DICOM/IM0001": a, "DICOM/IM0002": b})
    assert extract(parse(zip_mail(archive).as_bytes())).objects == [a, b]


@pytest.mark.parametrize("name", ["../../x.dcm", "/etc/x.dcm", "C:/x.dcm", "DICOM/../../x.dcm", "..\\x.dcm"])
def test_zip_path_tricks_are_refused(name: str) -> None:
    archive = zip_bytes({"DICOM/IM0001": dicom_bytes(), name: dicom_bytes(number=2)})
    assert _refused(zip_mail(archive).as_bytes()) == QuarantineReason.ARCHIVE_PATH


def test_zip_bomb_is_refused_by_ratio_before_it_is_inflated() -> None:
    archive = zip_bytes({"DICOM/IM0001": dicom_bytes(), "DICOM/BOMB": b"\0" * (50 * 1024 * 1024)})
    assert len(archive) < 200_000
    assert _refused(zip_mail(archive).as_bytes()) == QuarantineReason.ARCHIVE_RATIO


def test_zip_over_the_size_limit_is_refused() -> None:
    archive = zip_bytes({"DICOM/IM0001": dicom_bytes()}, compression=zipfile.ZIP_STORED)
    assert _refused(zip_mail(archive).as_bytes(), ZipLimits(max_total=1000)) == QuarantineReason.ARCHIVE_TOO_LARGE


def test_forged_zip_directory_understating_the_size_is_refused() -> None:
    data = dicom_bytes()
    archive = bytearray(zip_bytes({"DICOM/IM0001": data}, compression=zipfile.ZIP_STORED))
    # Patch the uncompressed size in the central directory (offset 24 in its record) to 10 bytes.
    central = archive.rfind(b"PK\x01\x02")
    archive[central + 24 : central + 28] = (10).to_bytes(4, "little")
    reason = _refused(zip_mail(bytes(archive)).as_bytes())
    assert reason in (QuarantineReason.ARCHIVE_TOO_LARGE, QuarantineReason.ARCHIVE_BROKEN)


def test_broken_zip_is_refused() -> None:
    assert _refused(zip_mail(b"PK\x03\x04 not really").as_bytes()) == QuarantineReason.ARCHIVE_BROKEN


def test_partials_reassemble_to_the_enclosed_message_in_any_order() -> None:
    objects = [dicom_bytes(number=n) for n in (1, 2)]
    raw = dicom_mail(objects).as_bytes()
    fragments = split_partial(raw, 3)
    parsed = [partial_of(f, parse(f)) for f in reversed(fragments)]
    got: dict[int, Partial] = {p.number: p for p in parsed if p is not None}
    assert sorted(got) == [1, 2, 3]
    assert len({p.id for p in got.values()}) == 1
    assert is_complete(got)
    whole = reassemble({n: p.body for n, p in got.items()}, 3)
    assert whole == raw
    assert extract(parse(whole)).objects == objects


def test_incomplete_partial_set() -> None:
    fragments = split_partial(dicom_mail([dicom_bytes()]).as_bytes(), 3)
    got = {p.number: p for f in fragments[:2] if (p := partial_of(f, parse(f))) is not None}
    assert not is_complete(got)
    with pytest.raises(Refused) as err:
        reassemble({n: p.body for n, p in got.items()}, 3)
    assert err.value.reason == QuarantineReason.INCOMPLETE_PARTIAL
    start = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
    timeout = dt.timedelta(hours=1)
    assert not partial_expired(start, start + dt.timedelta(minutes=59), timeout)
    assert partial_expired(start, start + timeout, timeout)


def test_partial_with_bad_parameters_is_malformed() -> None:
    raw = b'Content-Type: message/partial; id="x"; number=0; total=3\r\n\r\nabc'
    with pytest.raises(Refused) as err:
        partial_of(raw, parse(raw))
    assert err.value.reason == QuarantineReason.MALFORMED
    plain = dicom_mail([dicom_bytes()]).as_bytes()
    assert partial_of(plain, parse(plain)) is None
