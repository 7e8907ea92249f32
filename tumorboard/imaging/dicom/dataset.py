"""Reading what the index needs from a received object, trusting nothing in it."""

from __future__ import annotations

import datetime as dt
import mmap
import re
import unicodedata
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

#: DICOM UID usable as a key here: digits and dots, at least two components, at most 64 characters. PS3.5 9.1
#: forbids leading zeros in a component, but older modality
#: software sends them ("1.2.840.10008.05.1") and DCMTK storescp and pynetdicom accept them; refusing them lost a
#: partner's whole study (issue 12). They are used as database keys only, never in a path.
UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)+$")


WANTED = [
    "SpecificCharacterSet",
    "SOPClassUID",
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
    "StudyTime",
    "StudyID",
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


class DatasetMismatch(BadDataset):
    """The data set's SOP Class or SOP Instance UID differs from the C-STORE request's. DCMTK storescp answers
    0xA900 (Data Set does not match SOP Class) and so do we: which of the two is right cannot be told."""


#: Namespace of the server-generated keys. Fixed forever: a key is a UUID v5 of this namespace and the values
#: received, so the same values always give the same key (a resend is a duplicate, not a second study).
KEY_NAMESPACE = uuid.UUID("6f1d3c52-8b0e-5a47-9e21-3d4c7b2a9f10")

#: How much of a received value that could not be a key is kept for the record.
RECORD_LIMIT = 200

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def server_key(kind: str, *received: str) -> str:
    """A UID of our own for a study, series or instance whose UID cannot be a key: ``2.25.<UUID as a decimal
    integer>`` (PS3.5 B.2), the UUID derived (v5) from ``kind`` and the values received. Deterministic, so that
    every instance of one broken study, and every resend, gets the same key."""
    return f"2.25.{uuid.uuid5(KEY_NAMESPACE, chr(0x1F).join((kind, *received))).int}"


def record_value(value: str) -> str:
    """A received value that could not be used as a key, as it is kept for the record: at most
    :data:`RECORD_LIMIT` characters, control characters and backslashes written as escapes (PostgreSQL text
    cannot hold NUL; the value never goes into a path or a log)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value[:RECORD_LIMIT])


def valid_uid(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 64 and UID_RE.match(value) is not None


def clean_uid(value: str) -> str:
    """A UID as received, without the NUL or space padding some senders leave (PS3.5 pads UI with one NUL)."""
    return value.strip(" \x00")


@dataclass(frozen=True)
class Header:
    sop_class_uid: str
    #: The keys the index uses: the UIDs as received (without padding), or server-generated ones (see
    #: :func:`server_key`) where the received one could not be a key.
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
    #: Where a key was generated: the value received instead (:func:`record_value`; "" when none was sent);
    #: None where the key is the received UID.
    received_study_uid: str | None = None
    received_series_uid: str | None = None
    received_sop_instance_uid: str | None = None


def read_header(
    path: Path | BinaryIO | mmap.mmap, *, sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str
) -> Header:
    """Parse the object at ``path`` up to the pixel data. SOP Class and SOP Instance UID of the request (or the
    file meta) and of the data set must agree (:class:`DatasetMismatch`); a Study, Series or SOP Instance UID
    that is missing or cannot be a key is replaced by a server-generated key (:func:`keys`), never refused."""
    sop_class_uid, sop_instance_uid = clean_uid(sop_class_uid), clean_uid(sop_instance_uid)
    # The SOP class and transfer syntax were negotiated (pynetdicom accepts only the contexts we listed).
    for uid in (sop_class_uid, transfer_syntax_uid):
        if not valid_uid(uid):
            raise BadDataset("invalid SOP class or transfer syntax UID in the C-STORE request")
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
            uids = {keyword: _uid(ds, keyword) for keyword in _UIDS}
    except BadDataset:
        raise
    except Exception as err:
        raise BadDataset(f"undecodable dataset ({type(err).__name__})") from None
    own_class, own_instance = uids["SOPClassUID"], uids["SOPInstanceUID"]
    if own_class and own_class != sop_class_uid:
        raise DatasetMismatch("SOP Class UID of dataset and request differ")
    if own_instance and sop_instance_uid and own_instance != sop_instance_uid:
        # DCMTK's senders put at most 64 characters of a longer UID into the request (and storescp compares the
        # cut values): the same instance, named in full by its data set.
        if not (len(own_instance) > 64 and own_instance[:64] == sop_instance_uid):
            raise DatasetMismatch("SOP Instance UID of dataset and request differ")
        sop_instance_uid = own_instance
    found = keys(
        study=uids["StudyInstanceUID"],
        series=uids["SeriesInstanceUID"],
        instance=sop_instance_uid or own_instance,
        study_attributes=(
            values["patient_id"],
            values["issuer_of_patient_id"],
            values["accession_number"],
            values.pop("study_id"),
            values.pop("study_date_raw"),
            values.pop("study_time_raw"),
        ),
        series_attributes=(str(values["series_number"] or ""), values["modality"]),
        instance_attribute=str(values["instance_number"] or ""),
    )
    return Header(
        sop_class_uid=sop_class_uid,
        transfer_syntax_uid=transfer_syntax_uid,
        sop_instance_uid=found.sop_instance_uid,
        study_uid=found.study_uid,
        series_uid=found.series_uid,
        received_study_uid=found.received_study_uid,
        received_series_uid=found.received_series_uid,
        received_sop_instance_uid=found.received_sop_instance_uid,
        **values,
    )


@dataclass(frozen=True)
class Keys:
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    received_study_uid: str | None
    received_series_uid: str | None
    received_sop_instance_uid: str | None


def keys(
    *,
    study: str,
    series: str,
    instance: str,
    study_attributes: tuple[str, ...],
    series_attributes: tuple[str, ...],
    instance_attribute: str,
) -> Keys:
    """The index keys of one instance from its UIDs as received (without padding; "" when absent).

    A UID that is usable (:func:`valid_uid`) is its own key. One that is present but not usable (letters, longer
    than 64, several values) gets :func:`server_key` of itself, so every instance that carries it lands in the
    same study or series and a resend under the same key. A missing one gets the key of what the instances of
    one study (or series) have in common: a study the key of its patient ID, issuer, accession number, Study ID,
    date and time (or, if it carries none of them, of its series, else of its instance — then it stands alone);
    a series the key of its study's key, series number and modality; an instance (no UID in request or data
    set) cannot be told from any other and gets the key of its series and instance number."""
    study_key = _key("study", study, study_attributes if any(study_attributes) else None)
    if study_key is None:  # nothing in common to group by: with its series, else on its own
        study_key = server_key("study-of", series or instance)
    series_key = _key("series", series, (study_key, *series_attributes)) or ""
    instance_key = _key("instance", instance, (series_key, instance_attribute)) or ""
    return Keys(
        study_uid=study_key,
        series_uid=series_key,
        sop_instance_uid=instance_key,
        received_study_uid=_received(study, study_key),
        received_series_uid=_received(series, series_key),
        received_sop_instance_uid=_received(instance, instance_key),
    )


def _key(kind: str, received: str, missing_basis: tuple[str, ...] | None) -> str | None:
    if valid_uid(received):
        return received
    if received:
        return server_key(kind, received)
    if missing_basis is None:
        return None
    return server_key(f"{kind}-missing", *missing_basis)


def _received(received: str, key: str) -> str | None:
    return None if received == key else record_value(received)


_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def _uid(ds: Dataset, keyword: str) -> str:
    """A UID element as received, whole (a key is derived from all of it), without NUL/space padding; "" when
    absent or empty; several values joined by backslashes. Bytes that are not text are read as Latin-1."""
    try:
        value = ds.get(keyword)
    except Exception:  # not decodable as a UI value: its bytes
        raw = ds.get_item(keyword)
        value = raw.value.decode("latin-1") if raw is not None and isinstance(raw.value, bytes) else ""
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    return clean_uid(str(value))


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
        "patient_name": _text(ds, "PatientName", 400),
        "patient_id": _text(ds, "PatientID", 64),
        "issuer_of_patient_id": _text(ds, "IssuerOfPatientID", 64),
        "birth_date": _date(ds, "PatientBirthDate"),
        "sex": _text(ds, "PatientSex", 16),
        "accession_number": _text(ds, "AccessionNumber", 64),
        "study_date": _date(ds, "StudyDate"),
        "study_date_raw": _text(ds, "StudyDate", 64),
        "study_time_raw": _text(ds, "StudyTime", 64),
        "study_id": _text(ds, "StudyID", 64),
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
