"""The byte path for C-STORE (tumorboard/imaging/dicom/cstore.py) writes and reads exactly what pynetdicom's own
encoders and decoders do, and hands everything else back to pynetdicom. Pure logic: both sides are the real
pynetdicom/pydicom code; the listener tests (tests/imaging/test_listener.py, test_differential.py) run the path
end to end with DCMTK's storescu."""

from __future__ import annotations

import struct
from io import BytesIO

import pytest
from pydicom.uid import generate_uid
from pynetdicom.dimse_messages import C_STORE_RQ, C_STORE_RSP
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import decode

from tumorboard.imaging.dicom.cstore import (
    file_meta,
    pynetdicom_file_meta,
    read_store_request,
    store_response,
)

CT = "1.2.840.10008.5.1.4.1.1.2"
UIDS = [CT, "1.2.3", "1.2.34", "1.2.840.10008.5.1.4.1.1.4", "9" * 64, "1." + "2" * 62, generate_uid(), generate_uid()]
SYNTAXES = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.201"]


def pynetdicom_request(message_id: int, sop_class: str, sop_instance: str, priority: int = 2) -> bytes:
    primitive = C_STORE()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = sop_class
    primitive.AffectedSOPInstanceUID = sop_instance
    primitive.Priority = priority
    primitive.DataSet = BytesIO(b"\x08\x00\x05\x00")
    message = C_STORE_RQ()
    message.primitive_to_message(primitive)
    (pdata,) = [p for p in message.encode_msg(1, 0) if p.presentation_data_value_list[0][1][0] & 1]
    return bytes(pdata.presentation_data_value_list[0][1][1:])


def pynetdicom_response(message_id: int, status: int, sop_class: str, sop_instance: str) -> bytes:
    primitive = C_STORE()
    primitive.MessageIDBeingRespondedTo = message_id
    primitive.AffectedSOPClassUID = sop_class
    primitive.AffectedSOPInstanceUID = sop_instance
    primitive.Status = status
    message = C_STORE_RSP()
    message.primitive_to_message(primitive)
    (pdata,) = list(message.encode_msg(1, 0))
    return bytes(pdata.presentation_data_value_list[0][1][1:])


@pytest.mark.parametrize("sop_class", UIDS[:4])
@pytest.mark.parametrize("sop_instance", UIDS)
def test_a_response_is_byte_for_byte_pynetdicoms(sop_class: str, sop_instance: str) -> None:
    for message_id, status in [(1, 0x0000), (65535, 0xA700), (7, 0xC000), (300, 0xA900), (2, 0x0110)]:
        ours = store_response(
            message_id=message_id, status=status, sop_class_uid=sop_class, sop_instance_uid=sop_instance
        )
        assert ours == pynetdicom_response(message_id, status, sop_class, sop_instance)


@pytest.mark.parametrize("sop_instance", UIDS)
@pytest.mark.parametrize("transfer_syntax", SYNTAXES)
def test_the_file_meta_is_byte_for_byte_pynetdicoms(sop_instance: str, transfer_syntax: str) -> None:
    for sop_class in UIDS[:4]:
        assert file_meta(sop_class, sop_instance, transfer_syntax) == pynetdicom_file_meta(
            sop_class, sop_instance, transfer_syntax
        )


@pytest.mark.parametrize("sop_instance", UIDS)
def test_a_request_reads_as_pynetdicom_reads_it(sop_instance: str) -> None:
    for message_id, priority in [(1, 0), (65535, 1), (42, 2)]:
        raw = pynetdicom_request(message_id, CT, sop_instance, priority)
        request = read_store_request(raw)
        assert request is not None
        expected = decode(BytesIO(raw), True, True)
        assert request.message_id == expected.MessageID
        assert request.sop_class_uid == expected.AffectedSOPClassUID
        assert request.sop_instance_uid == expected.AffectedSOPInstanceUID
        assert request.priority == expected.Priority
        assert request.data_set_type == expected.CommandDataSetType


def _element(group: int, element: int, value: bytes) -> bytes:
    return struct.pack("<HHI", group, element, len(value)) + value


def _command(*elements: bytes) -> bytes:
    body = b"".join(elements)
    return _element(0, 0, struct.pack("<I", len(body))) + body


def _store(sop_instance: bytes = b"1.2.3.4\x00", **replace: bytes) -> list[bytes]:
    parts = {
        "class": _element(0, 0x0002, b"1.2.840.10008.5.1.4.1.1.2\x00"),
        "command": _element(0, 0x0100, b"\x01\x00"),
        "id": _element(0, 0x0110, b"\x05\x00"),
        "priority": _element(0, 0x0700, b"\x00\x00"),
        "type": _element(0, 0x0800, b"\x01\x00"),
        "instance": _element(0, 0x1000, sop_instance),
    }
    parts.update(replace)
    return [p for p in parts.values() if p]


def test_a_hand_made_request_is_read_and_every_unusual_one_is_left_to_pynetdicom() -> None:
    assert read_store_request(_command(*_store())) is not None
    unusual = {
        "C-ECHO": _command(*_store(command=_element(0, 0x0100, b"\x30\x00"))),
        "no data set": _command(*_store(type=_element(0, 0x0800, b"\x01\x01"))),
        "priority 3": _command(*_store(priority=_element(0, 0x0700, b"\x03\x00"))),
        "empty UID": _command(*_store(b"")),
        "UID with a space": _command(*_store(b"1.2.3 ")),
        "UID with a leading zero": _command(*_store(b"1.02.3")),
        "UID of 65 characters": _command(*_store(b"1." + b"2" * 63)),
        "UID with two NULs": _command(*_store(b"1.2.3.4\x00\x00")),
        "two values": _command(*_store(b"1.2.3\\1.2.4\x00")),
        "Move Originator": _command(*_store(), _element(0, 0x1031, b"\x01\x00")),
        "missing instance": _command(*_store(instance=b"")),
        "US of 4 bytes": _command(*_store(id=_element(0, 0x0110, b"\x05\x00\x00\x00"))),
        "a repeated element": _command(*_store(), _element(0, 0x0110, b"\x05\x00")),
        "a wrong group length": _element(0, 0, b"\x00\x00\x00\x00") + b"".join(_store()),
        "a cut-off element": _command(*_store())[:-3],
        "a length past the end": _command(*_store())[:-8] + struct.pack("<HHI", 0, 0x1000, 200),
    }
    for name, raw in unusual.items():
        assert read_store_request(raw) is None, name


def test_a_response_with_an_error_comment_or_offending_element_is_left_to_pynetdicom() -> None:
    from tumorboard.imaging.dicom.cstore import _fast_response

    class Provider:
        class assoc:
            @staticmethod
            def get_handlers(event: object) -> list[object]:
                return []

    for extra in ({"ErrorComment": "Fehler"}, {"OffendingElement": [0x00100010]}):
        primitive = C_STORE()
        primitive.MessageIDBeingRespondedTo = 1
        primitive.AffectedSOPClassUID = CT
        primitive.AffectedSOPInstanceUID = "1.2.3"
        primitive.Status = 0xC000
        for key, value in extra.items():
            setattr(primitive, key, value)
        assert _fast_response(Provider, primitive) is None
    plain = C_STORE()
    plain.MessageIDBeingRespondedTo = 1
    plain.AffectedSOPClassUID = CT
    plain.AffectedSOPInstanceUID = "1.2.3"
    plain.Status = 0
    assert _fast_response(Provider, plain) == pynetdicom_response(1, 0, CT, "1.2.3")
