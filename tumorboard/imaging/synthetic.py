"""Synthetic CT objects and storing them as if received — for the demo and the tests, never for real data.

:func:`ct_dataset` builds a Part 10 data set (invented patient, generated pixels); :func:`store_as_received`
takes a data set the way the listener takes a received one: its bytes into ``incoming/``, the header read by the
listener's parser, the file moved to its SHA-256 address, the index row written by ``ingest_instance``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from sqlalchemy.orm import Session

from tumorboard.auth.actors import Actor
from tumorboard.imaging.dicom.dataset import read_header
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.index import IngestResult, ingest_instance


def ct_dataset(
    *,
    study_uid: str,
    series_uid: str,
    number: int,
    pixels: np.ndarray,
    patient_name: str,
    patient_id: str,
    birth_date: str,
    sex: str = "F",
    accession: str = "",
    series_number: int = 1,
    series_description: str = "Thorax",
    body_part: str = "CHEST",
    study_date: str = "20261120",
    study_description: str = "CT Thorax/Abdomen",
    charset: str = "ISO_IR 192",
) -> Dataset:
    """A CT image (Explicit VR Little Endian, 12 of 16 bits, soft-tissue window); ``pixels`` are stored values
    (HU + 1024), their shape gives rows and columns. Dates in DICOM form (YYYYMMDD)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.PatientSex = sex
    ds.AccessionNumber = accession
    ds.StudyDate = study_date
    ds.StudyDescription = study_description
    ds.Modality = "CT"
    ds.BodyPartExamined = body_part
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.InstanceNumber = number
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    return ds


def store_as_received(
    session: Session,
    spool: Spool,
    ds: Dataset,
    *,
    partner_id: int,
    calling_ae_title: str,
    at: dt.datetime,
    actor: Actor,
    peer_address: str = "127.0.0.1",
) -> IngestResult:
    """Store and index ``ds`` the way the listener stores and indexes a received object."""
    temp = spool.incoming / f"{generate_uid()}.part"
    ds.save_as(temp, enforce_file_format=True)
    header = read_header(
        temp,
        sop_class_uid=str(ds.SOPClassUID),
        sop_instance_uid=str(ds.SOPInstanceUID),
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
    )
    stored = spool.place(temp)
    return ingest_instance(
        session,
        header,
        sha256=stored.sha256,
        size=stored.size,
        partner_id=partner_id,
        calling_ae_title=calling_ae_title,
        peer_address=peer_address,
        at=at,
        actor=actor,
    )
