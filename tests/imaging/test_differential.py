"""Differential acceptance test (issue 12, point 1): the same odd but real-world objects go to DCMTK's storescp
(the reference receiver, in its own network namespace) and to our listener, from the same senders — DCMTK storescu
for files, pynetdicom (tests/imaging/rawsend.py) for requests whose UIDs disagree with their data set. Each input
has its expected status at both receivers (EXPECTED); where they differ, DIFFERENCES says why, and README's
conformance section gives the same list."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from sqlalchemy import func, select

from tests.imaging.conftest import CHECKOUT
from tests.imaging.dicomfiles import DCMTK_ENV, STORESCU, ct_dataset, parse_storescu, storescu
from tests.imaging.rawsend import send_all
from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy

pytestmark = pytest.mark.skipif(
    shutil.which("storescp") is None or shutil.which("unshare") is None, reason="needs DCMTK storescp and unshare"
)

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
EXPLICIT = "1.2.840.10008.1.2.1"
STUDY = "1.2.826.0.1.3680043.9.7777.1"
OK = "success"
MISMATCH = "failure: 0xA900"  # Error: Data Set does not match SOP Class
CANNOT_UNDERSTAND = "failure: 0xC000"

#: input → (storescp's status, our status): the right value at each receiver, not just "no crash".
EXPECTED: dict[str, tuple[str, str]] = {
    "plain": (OK, OK),
    "leading_zero_uids": (OK, OK),
    "odd_length_uid_nul_padded": (OK, OK),
    "space_padded_uids": (OK, OK),
    "nul_padded_strings": (OK, OK),
    "empty_patient_name": (OK, OK),
    "empty_study_uid": (OK, OK),  # stored under a generated key
    "empty_series_uid": (OK, OK),  # stored under a generated key
    "huge_description": (OK, OK),
    "huge_patient_name": (OK, OK),
    "huge_private_element": (OK, OK),
    "huge_study_uid": (OK, OK),  # > 64 characters: stored under a generated key
    "huge_sop_instance_uid": (OK, OK),
    "utf8_chinese_name": (OK, OK),
    "latin1_name": (OK, OK),
    "no_study_uid": (OK, OK),  # stored under a generated key
    "letters_in_study_uid": (OK, OK),  # stored under a generated key
    "no_file_meta": (OK, OK),
    "meta_contradicts_data_set": (OK, OK),  # storescu takes the data set's UIDs; the file meta never travels
    "request_sop_instance_differs": (MISMATCH, MISMATCH),
    "request_sop_class_differs": (MISMATCH, MISMATCH),
    "no_sop_instance_in_data_set": (CANNOT_UNDERSTAND, OK),
    "file_meta_inside_data_set": (OK, OK),
}

#: Inputs on which we knowingly answer differently from storescp, with the reason (README: "Conformance").
DIFFERENCES = {
    "no_sop_instance_in_data_set": (
        "a data set without SOP Instance UID: storescp refuses it (0xC000), we store it under the request's "
        "Affected SOP Instance UID, which names the instance as well (pynetdicom's own SCP does not check either)"
    ),
}


@dataclass(frozen=True)
class Raw:
    """A C-STORE whose request says what the data set may contradict."""

    payload: Path
    sop_class: str
    sop_instance: str
    transfer_syntax: str = EXPLICIT
    #: Sent through pynetdicom's encoder (tests/imaging/rawsend.py: dataset_store), not from a file.
    as_dataset: bool = False


def _instance(number: int, **kw: object) -> Dataset:
    return ct_dataset(study_uid=STUDY, series_uid=STUDY + f".{number}", number=number, **kw)  # type: ignore[arg-type]


def _data_set_bytes(ds: Dataset, *, implicit: bool = False) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, implicit
    write_dataset(fp, ds)
    return fp.getvalue()


def _corpus(folder: Path) -> tuple[dict[str, Path], dict[str, Raw]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values we mean to send
        return _write_corpus(folder)


def _write_corpus(folder: Path) -> tuple[dict[str, Path], dict[str, Raw]]:
    cases: dict[str, Dataset] = {
        "plain": _instance(1),
        "leading_zero_uids": ct_dataset(
            study_uid="1.2.840.10008.05.1.77", series_uid="1.2.840.10008.05.1.77.01", number=2
        ),
        "odd_length_uid_nul_padded": ct_dataset(study_uid=STUDY + ".123", series_uid=STUDY + ".123.1", number=3),
        "space_padded_uids": _instance(4),
        "nul_padded_strings": _instance(5),
        "empty_patient_name": _instance(6, patient_name=""),
        "empty_study_uid": _instance(7),
        "empty_series_uid": _instance(8),
        "huge_description": _instance(9),
        "huge_patient_name": _instance(10),
        "huge_private_element": _instance(11),
        "huge_study_uid": _instance(12),
        "huge_sop_instance_uid": _instance(19),
        "utf8_chinese_name": _instance(13, patient_name="Wang^XiaoDong=王^小東"),
        "latin1_name": _instance(14, patient_name="Müller^Jürgen", charset="ISO_IR 100"),
        "no_study_uid": _instance(15),
        "letters_in_study_uid": ct_dataset(study_uid="1.2.3.abc", series_uid=STUDY + ".16", number=16),
        "no_file_meta": _instance(17),
        "meta_contradicts_data_set": _instance(18),
    }
    # Trailing padding: space after even-length UIDs, NUL after strings (both seen from older modalities).
    cases["space_padded_uids"].StudyInstanceUID = STUDY + ".44 "
    cases["space_padded_uids"].SeriesInstanceUID = STUDY + ".44.1 "
    cases["nul_padded_strings"].StudyInstanceUID = STUDY + ".55"
    cases["nul_padded_strings"].add(DataElement(0x00100010, "PN", "Testmann^Erika\0\0"))
    cases["nul_padded_strings"].add(DataElement(0x00100020, "LO", "P-100\0"))
    cases["empty_study_uid"].StudyInstanceUID = ""
    cases["empty_series_uid"].SeriesInstanceUID = ""
    cases["huge_description"].StudyDescription = "Sehr lange Beschreibung " * 400  # LO allows 64 characters
    cases["huge_patient_name"].StudyInstanceUID = STUDY + ".100"
    cases["huge_patient_name"].PatientName = "Testmann-" * 2000 + "^Erika"  # PN allows 64 per component
    cases["huge_private_element"].add_new(0x00090010, "LO", "TUMORBOARD TEST")
    cases["huge_private_element"].add_new(0x00091001, "OB", b"\x5a" * (4 * 1024 * 1024))  # 4 MiB
    cases["huge_study_uid"].StudyInstanceUID = "1." + "2" * 198  # UI allows 64
    cases["huge_sop_instance_uid"].SOPInstanceUID = "1." + "3" * 98
    del cases["no_study_uid"].StudyInstanceUID
    # The file meta says another class and instance than the data set: senders take the data set's.
    cases["meta_contradicts_data_set"].file_meta.MediaStorageSOPClassUID = MR
    cases["meta_contradicts_data_set"].file_meta.MediaStorageSOPInstanceUID = STUDY + ".9999"
    files = {}
    for name, ds in cases.items():
        files[name] = folder / f"{name}.dcm"
        if name == "no_file_meta":  # a bare data set (implicit VR), as old archives hold them
            del ds.file_meta
            files[name].write_bytes(_data_set_bytes(ds, implicit=True))
        else:
            ds.save_as(files[name], enforce_file_format=True)

    raw: dict[str, Raw] = {}

    def add_raw(
        name: str, ds: Dataset, *, sop_class: str = CT, sop_instance: str | None = None, head: bytes = b""
    ) -> None:
        raw[name] = Raw(
            folder / f"{name}.raw", sop_class, sop_instance or str(ds.SOPInstanceUID), as_dataset=bool(head)
        )
        raw[name].payload.write_bytes(head + _data_set_bytes(ds))

    add_raw("request_sop_instance_differs", _instance(20), sop_instance=STUDY + ".20.999")
    add_raw("request_sop_class_differs", _instance(21), sop_class=MR)
    nameless = _instance(22)
    sop_instance = str(nameless.SOPInstanceUID)
    del nameless.SOPInstanceUID
    add_raw("no_sop_instance_in_data_set", nameless, sop_instance=sop_instance)
    # File meta elements (group 0002) inside the data set, naming another SOP class and instance. (Another transfer
    # syntax there cannot be sent: pynetdicom's SCU would take it for the data set's own.)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MR
    meta.MediaStorageSOPInstanceUID = STUDY + ".23.999"
    meta.ImplementationVersionName = "OLD_MODALITY"
    add_raw("file_meta_inside_data_set", _instance(23), head=_data_set_bytes(Dataset(meta)))
    return files, raw


def _manifest(raw: dict[str, Raw], path: Path) -> Path:
    path.write_text(
        json.dumps(
            [
                {
                    "name": name,
                    "payload": str(item.payload),
                    "sop_class": item.sop_class,
                    "sop_instance": item.sop_instance,
                    "transfer_syntax": item.transfer_syntax,
                    "as_dataset": item.as_dataset,
                }
                for name, item in raw.items()
            ]
        )
    )
    return path


def _status(code: int) -> str:
    return OK if code == 0 else f"failure: 0x{code:04X}" if code >= 0 else "not sent"


def _storescp_statuses(files: list[Path], manifest: Path, work: Path) -> tuple[dict[str, str], dict[str, int]]:
    """storescp and both senders inside one `unshare --net` namespace: storescp listens on 0.0.0.0, which there
    is lo."""
    (work / "in").mkdir()
    script = work / "reference.sh"
    script.write_text(
        "set -u\n"
        "ip link set lo up\n"
        "export TCP_NODELAY=1\n"
        f"storescp --aetitle TBSCP --output-directory {work / 'in'} 11112 > {work / 'storescp.log'} 2>&1 &\n"
        "SCP=$!\n"
        "sleep 1\n"
        f"{STORESCU} -v -nh -aet PARTNER1 -aec TBSCP 127.0.0.1 11112 "
        + " ".join(map(str, files))
        + f" > {work / 'storescu.log'} 2>&1\n"
        f"{sys.executable} -m tests.imaging.rawsend 11112 TBSCP {manifest}"
        f" > {work / 'raw.json'} 2> {work / 'raw.err'}\n"
        'kill "$SCP"; wait "$SCP" 2>/dev/null\n'
    )
    subprocess.run(
        ["unshare", "--net", "bash", str(script)], capture_output=True, text=True, timeout=180, env=DCMTK_ENV,
        cwd=CHECKOUT, check=False,
    )  # fmt: skip
    return parse_storescu((work / "storescu.log").read_text()), json.loads((work / "raw.json").read_text())


def test_our_listener_answers_as_dcmtk_storescp_does(listener, listener_sessions, tmp_path):
    files, raw = _corpus(tmp_path)
    assert set(files) | set(raw) == set(EXPECTED)
    manifest = _manifest(raw, tmp_path / "manifest.json")
    reference_files, reference_raw = _storescp_statuses(list(files.values()), manifest, tmp_path)
    ours_run = storescu(listener.port, list(files.values()), extra=("-nh",))
    ours_files = parse_storescu(ours_run.stdout + ours_run.stderr)
    ours_raw = send_all(listener.port, "TUMORBOARD", json.loads(manifest.read_text()))
    table = {name: (reference_files.get(str(path)), ours_files.get(str(path))) for name, path in files.items()}
    table |= {name: (_status(reference_raw[name]), _status(ours_raw[name])) for name in raw}
    assert table == EXPECTED
    assert {name for name, (ref, our) in EXPECTED.items() if ref != our} == set(DIFFERENCES)
    # What the accepted ones became in the index.
    with listener_sessions() as session:
        studies = {s.study_uid: s for s in session.scalars(select(ImagingStudy)).all()}
        series = {s.series_uid: s for s in session.scalars(select(ImagingSeries)).all()}
        instances = session.scalar(select(func.count(ImagingInstance.id)))
        renamed = session.execute(
            select(ImagingInstance.received_sop_instance_uid, ImagingInstance.sop_instance_uid).where(
                ImagingInstance.received_sop_instance_uid.is_not(None)
            )
        ).all()
    assert instances == sum(our == OK for _, our in EXPECTED.values())
    assert STUDY + ".44" in studies and STUDY + ".44.1" in series  # padding is not part of a UID
    assert (studies[STUDY + ".55"].patient_name, studies[STUDY + ".55"].patient_id) == ("Testmann^Erika", "P-100")
    assert len(studies[STUDY + ".100"].patient_name) == 400  # kept, cut to the column
    generated = {s.received_study_uid: s for s in studies.values() if s.received_study_uid is not None}
    assert set(generated) == {"", "1." + "2" * 198, "1.2.3.abc"}
    assert all(key.startswith("2.25.") for key in (s.study_uid for s in generated.values()))
    assert generated[""].instance_count == 2  # no and empty Study UID, one patient, accession and date: one study
    assert [s.received_series_uid for s in series.values() if s.received_series_uid is not None] == [""]
    # storescu put the first 64 characters of the 100 into the request; the key is made from all of them
    assert [(received, key[:5]) for received, key in renamed] == [("1." + "3" * 98, "2.25.")]
    assert listener.alive()
