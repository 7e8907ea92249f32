"""Reading what the index needs from a received object, trusting nothing in it."""

from __future__ import annotations

import datetime as dt
import mmap
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

#: DICOM UID: components of digits separated by dots, no leading zeros, at most 64 characters (PS3.5 9.1).
#: Digits and dots, at least two components. PS3.5 9.1 forbids leading zeros in a component, but older modality
#: software sends them ("1.2.840.10008.05.1") and DCMTK storescp and pynetdicom accept them; refusing them lost a
#: partner's whole study (issue 12). They are used as database keys only, never in a path.
UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)+$")


WANTED = [
    "SpecificCharacterSet",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyDate",
    "StudyDescription",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "BodyPartExamined",
    "InstanceNumber",
]


class BadDataset(Exception):
    """The object cannot be indexed; ``reason`` is safe to log (no patient data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def valid_uid(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 64 and UID_RE.match(value) is not None


def clean_uid(value: str) -> str:
    """A UID as received, without the NUL or space padding some senders leave (PS3.5 pads UI with one NUL)."""
    return value.strip(" \x00")


@dataclass(frozen=True)
class Header:
    sop_class_uid: str
    sop_instance_uid: str
    study_uid: str
    series_uid: str
    transfer_syntax_uid: str
    patient_name: str
    patient_id: str
    issuer_of_patient_id: str
    birth_date: dt.date | None
    sex: str
    accession_number: str
    study_date: dt.date | None
    study_description: str
    character_set: str
    modality: str
    series_number: int | None
    series_description: str
    body_part: str
    instance_number: int | None


def read_header(
    path: Path | BinaryIO | mmap.mmap, *, sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str
) -> Header:
    """Parse the object at ``path`` up to the pixel data. The UIDs from the C-STORE command must be valid and
    agree with the dataset's own."""
    for uid in (sop_class_uid, sop_instance_uid, transfer_syntax_uid):
        if not valid_uid(uid):
            raise BadDataset("invalid UID in the C-STORE request")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about many harmless deviations in real data
            # Only the elements the index needs are decoded (the rest is skipped over), up to the pixel data.
            if isinstance(path, Path):
                with path.open("rb") as fp:
                    ds = _read(fp, transfer_syntax_uid)
            else:
                ds = _read(cast(BinaryIO, path), transfer_syntax_uid)
            values = _values(ds)
    except BadDataset:
        raise
    except Exception as err:
        raise BadDataset(f"undecodable dataset ({type(err).__name__})") from None
    for key in ("study_uid", "series_uid", "sop_instance_uid"):
        values[key] = clean_uid(values[key])
    for key in ("study_uid", "series_uid"):
        if not valid_uid(values[key]):
            raise BadDataset(f"missing or malformed {key}")
    own = values.pop("sop_instance_uid")
    if own and own != sop_instance_uid:
        raise BadDataset("SOP Instance UID of dataset and request differ")
    return Header(
        sop_class_uid=sop_class_uid,
        sop_instance_uid=sop_instance_uid,
        transfer_syntax_uid=transfer_syntax_uid,
        **values,
    )


_WANTED_TAGS: list[BaseTag | int] = [Tag(keyword) for keyword in WANTED]
_PIXELS = (0x7FE00008, 0x7FE00009, 0x7FE00010)  # Float, Double Float and Pixel Data


def _read(fp: BinaryIO, transfer_syntax_uid: str) -> Dataset:
    """The data set up to the pixel data. A received object, as pynetdicom writes it, is a Part 10 file whose
    file meta pynetdicom made itself and whose transfer syntax is the presentation context's: then the data set
    is read directly after the file meta (a quarter of dcmread's time, and the sender waits for every instance).
    Anything else — no DICM prefix, a deflated data set, a transfer syntax pydicom does not know — goes through
    dcmread."""
    start = _data_set_offset(fp)
    syntax = UID(transfer_syntax_uid)
    if start is None or not syntax.is_transfer_syntax or syntax.is_deflated:
        fp.seek(0)
        return dcmread(fp, stop_before_pixels=True, force=True, specific_tags=WANTED)
    fp.seek(start)
    return read_dataset(
        fp,
        is_implicit_VR=syntax.is_implicit_VR,
        is_little_endian=syntax.is_little_endian,
        stop_when=lambda tag, vr, length: tag in _PIXELS,
        specific_tags=_WANTED_TAGS,
    )


def _data_set_offset(fp: BinaryIO) -> int | None:
    """Where the data set begins after a 128-byte preamble, "DICM" and a file meta group that starts with its
    group length (0002,0000) UL, explicit VR little endian — or None."""
    fp.seek(0)
    head = fp.read(144)
    if len(head) < 144 or head[128:132] != b"DICM" or head[132:138] != b"\x02\x00\x00\x00UL":
        return None
    return 144 + int.from_bytes(head[140:144], "little")


def _values(ds: Dataset) -> dict[str, Any]:
    if len(ds) == 0:
        raise BadDataset("empty or not a DICOM dataset")
    return {
        "study_uid": _text(ds, "StudyInstanceUID", 64),
        "series_uid": _text(ds, "SeriesInstanceUID", 64),
        "sop_instance_uid": _text(ds, "SOPInstanceUID", 64),
        "patient_name": _text(ds, "PatientName", 400),
        "patient_id": _text(ds, "PatientID", 64),
        "issuer_of_patient_id": _text(ds, "IssuerOfPatientID", 64),
        "birth_date": _date(ds, "PatientBirthDate"),
        "sex": _text(ds, "PatientSex", 16),
        "accession_number": _text(ds, "AccessionNumber", 64),
        "study_date": _date(ds, "StudyDate"),
        "study_description": _text(ds, "StudyDescription", 200),
        "character_set": _charset(ds),
        "modality": _text(ds, "Modality", 16),
        "series_number": _int(ds, "SeriesNumber"),
        "series_description": _text(ds, "SeriesDescription", 200),
        "body_part": _text(ds, "BodyPartExamined", 64),
        "instance_number": _int(ds, "InstanceNumber"),
    }


def _text(ds: Dataset, keyword: str, limit: int) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    # NFC: a partner's decomposed "Mu\u0308ller" must match the "Müller" typed here (issue 12).
    return unicodedata.normalize("NFC", str(value).strip().replace("\x00", ""))[:limit]


def _charset(ds: Dataset) -> str:
    value = ds.get("SpecificCharacterSet")
    if value is None:
        return ""
    if isinstance(value, str):
        return value[:200]
    return "\\".join(str(v) for v in value)[:200]


def _date(ds: Dataset, keyword: str) -> dt.date | None:
    raw = _text(ds, keyword, 20).replace(".", "")  # ACR-NEMA style 1990.01.01 occurs in old files
    if len(raw) < 8 or not raw[:8].isdigit():
        return None
    try:
        return dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        return None


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
