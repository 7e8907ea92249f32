"""Synthetic DICOM objects (invented patients only) and DCMTK helpers for the listener tests."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tumorboard.imaging.synthetic import ct_dataset as synthetic_ct

STORESCU = "/usr/bin/storescu"
ECHOSCU = "/usr/bin/echoscu"
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


def ct_dataset(
    *,
    study_uid: str,
    series_uid: str,
    number: int,
    patient_name: str = "Testmann^Erika",
    patient_id: str = "P-100",
    birth_date: str = "19600101",
    size: int = 32,
    **kw: Any,
) -> Dataset:
    """A small synthetic CT instance (a gradient that differs per instance number, so every instance has its own
    bytes); other keywords as for :func:`tumorboard.imaging.synthetic.ct_dataset`."""
    yy, xx = np.mgrid[0:size, 0:size]
    return synthetic_ct(
        study_uid=study_uid,
        series_uid=series_uid,
        number=number,
        pixels=(xx * 7 + yy * 3 + number) % 4096,
        patient_name=patient_name,
        patient_id=patient_id,
        birth_date=birth_date,
        **kw,
    )


def write_study(
    folder: Path, *, series: int = 2, per_series: int = 3, study_uid: str | None = None, **kw: object
) -> tuple[str, list[Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    paths = []
    for s in range(series):
        series_uid = generate_uid()
        for n in range(per_series):
            ds = ct_dataset(study_uid=study_uid, series_uid=series_uid, number=n + 1, series_number=s + 1, **kw)
            path = folder / f"s{s}_{n:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return study_uid, paths


def storescu(
    port: int,
    files: list[Path] | list[str],
    *,
    aet: str = "PARTNER1",
    aec: str = "TUMORBOARD",
    extra: tuple[str, ...] = (),
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STORESCU, "-v", "-aet", aet, "-aec", aec, *extra, "127.0.0.1", str(port), *map(str, files)],
        env=DCMTK_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def echoscu(port: int, *, aet: str = "PARTNER1", aec: str = "TUMORBOARD") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ECHOSCU, "-v", "-aet", aet, "-aec", aec, "127.0.0.1", str(port)],
        env=DCMTK_ENV,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def today() -> dt.date:
    return dt.date(2026, 11, 20)


#: storescu's option that proposes a file's transfer syntax (plus the uncompressed ones).
PROPOSE = {
    "1.2.840.10008.1.2.1": "-xe",
    "1.2.840.10008.1.2.2": "-xb",
    "1.2.840.10008.1.2": "-xi",
    "1.2.840.10008.1.2.1.99": "-xd",
    "1.2.840.10008.1.2.4.50": "-xy",
    "1.2.840.10008.1.2.4.51": "-xx",
    "1.2.840.10008.1.2.4.70": "-xs",
    "1.2.840.10008.1.2.4.80": "-xt",
    "1.2.840.10008.1.2.4.81": "-xu",
    "1.2.840.10008.1.2.4.90": "-xv",
    "1.2.840.10008.1.2.4.91": "-xw",
    "1.2.840.10008.1.2.5": "-xr",
}


def parse_storescu(output: str) -> dict[str, str]:
    """File → "success" | "failure: <status text>" from ``storescu -v`` output."""
    result: dict[str, str] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("I: Sending file: "):
            current = line.removeprefix("I: Sending file: ").strip()
        elif current and line.startswith("I: Received Store Response"):
            status = line.removeprefix("I: Received Store Response").strip(" ()")
            result[current] = "success" if status == "Success" else f"failure: {status}"
            current = None
        elif current and line.startswith("E: Store Failed"):
            result[current] = "not sent"
            current = None
    return result


def raw_store(
    port: int,
    payload: bytes,
    *,
    aet: str = "PARTNER1",
    aec: str = "TUMORBOARD",
    sop_class: str = "1.2.840.10008.5.1.4.1.1.7",
    transfer_syntax: str = "1.2.840.10008.1.2.1",
    sop_instance: str | None = None,
) -> int:
    """Send ``payload`` as the data set of a C-STORE, byte for byte (what a broken sender does), with pynetdicom
    as the SCU. Returns the DIMSE status, or -1 if the association failed."""
    import tempfile
    import warnings

    from pydicom.dataset import FileMetaDataset
    from pydicom.filewriter import write_file_meta_info
    from pynetdicom import AE, _config

    warnings.simplefilter("ignore")  # restored by catch_warnings below: broken UIDs are the point here
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance or generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    with tempfile.NamedTemporaryFile(suffix=".dcm", delete=False) as fh:
        fh.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(fh, meta, enforce_standard=True)
        fh.write(payload)
    path = Path(fh.name)
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        ae = AE(ae_title=aet)
        ae.add_requested_context(sop_class, transfer_syntax)
        assoc = ae.associate("127.0.0.1", port, ae_title=aec)
        if not assoc.is_established:
            return -1
        try:
            status = assoc.send_c_store(path)
            return int(status.Status) if status else -1
        finally:
            assoc.release()
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = False
        path.unlink()
