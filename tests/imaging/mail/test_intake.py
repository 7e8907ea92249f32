"""The canonical form of a mailed object (no database): the same instance gives the same bytes whether it came with
file meta or, as old archives hold them, without (issue 12, point 1: objects without file meta information)."""

from __future__ import annotations

import io

import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from tests.imaging.dicomfiles import ct_dataset
from tumorboard.imaging.dicom.dataset import BadDataset
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.mail.intake import canonical_object

STUDY = "1.2.826.0.1.3680043.9.7777.14"


def _bare(ds, *, implicit: bool) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, implicit
    write_dataset(fp, ds)
    return fp.getvalue()


def _with_meta(ds, syntax) -> bytes:
    ds.file_meta.TransferSyntaxUID = syntax
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True, implicit_vr=syntax == ImplicitVRLittleEndian, little_endian=True)
    return out.getvalue()


def _canonical(data: bytes, tmp_path, name: str):
    source = tmp_path / name
    source.write_bytes(data)
    spool = Spool(tmp_path / "images")
    spool.create_folders()
    obj = canonical_object(source, spool)
    return obj, obj.temp.read_bytes()


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
def test_a_data_set_without_file_meta_is_stored_as_the_same_object_with_it(syntax, tmp_path):
    ds = ct_dataset(study_uid=STUDY, series_uid=STUDY + ".1", number=1)
    bare, bare_bytes = _canonical(_bare(ds, implicit=syntax == ImplicitVRLittleEndian), tmp_path, "bare")
    full, full_bytes = _canonical(_with_meta(ds, syntax), tmp_path, "full")
    assert bare_bytes == full_bytes and bare_bytes[128:132] == b"DICM"
    assert bare.header == full.header
    assert (bare.header.sop_instance_uid, bare.header.study_uid) == (str(ds.SOPInstanceUID), STUDY)
    assert bare.header.transfer_syntax_uid == syntax


def test_bytes_that_are_no_data_set_are_still_refused(tmp_path):
    with pytest.raises(BadDataset):
        _canonical(b"%PDF-1.7 not a data set" * 20, tmp_path, "pdf")
    assert list((tmp_path / "images" / "incoming").iterdir()) == []  # no temp file left behind
