"""A DICOM association spoken byte by byte over a plain socket (PS3.8 9.3): for P-DATA-TF PDUs, PDV items and
command sets that no well-behaved sender produces. Invented data only."""

from __future__ import annotations

import socket
import struct
from io import BytesIO

from pydicom.dataset import Dataset
from pynetdicom.dsutils import decode, encode

from tests.imaging.dicomfiles import ct_dataset

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
VERIFICATION = "1.2.840.10008.1.1"
#: Message Control Header bits (PS3.8 E.2): command, last fragment.
COMMAND, LAST = 0x01, 0x02


def _item(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(payload)) + payload


def pdu(kind: int, body: bytes) -> bytes:
    return struct.pack(">BBI", kind, 0, len(body)) + body


def associate_rq(
    *, calling: str = "PARTNER1", called: str = "TUMORBOARD", contexts: tuple[tuple[int, str], ...] = ((1, CT),)
) -> bytes:
    body = struct.pack(">HH", 1, 0) + called.ljust(16).encode() + calling.ljust(16).encode() + bytes(32)
    body += _item(0x10, b"1.2.840.10008.3.1.1.1")
    for context_id, abstract in contexts:
        body += _item(
            0x20, bytes([context_id, 0, 0, 0]) + _item(0x30, abstract.encode()) + _item(0x40, EXPLICIT.encode())
        )
    body += _item(0x50, _item(0x51, struct.pack(">I", 65536)) + _item(0x52, b"1.2.826.0.1.3680043.9.9999"))
    return pdu(0x01, body)


def pdv(context_id: int, control: int, fragment: bytes) -> bytes:
    """One PDV item: item length, context id, message control header, fragment."""
    return struct.pack(">IBB", len(fragment) + 2, context_id, control) + fragment


def pdata(*items: bytes) -> bytes:
    return pdu(0x04, b"".join(items))


def _element(group: int, element: int, value: bytes) -> bytes:
    return struct.pack("<HHI", group, element, len(value)) + value


def _padded(uid: str) -> bytes:
    raw = uid.encode()
    return raw + b"\x00" if len(raw) % 2 else raw


def store_command(message_id: int, sop_instance: str, *, sop_class: str = CT, priority: int = 0) -> bytes:
    """A plain C-STORE-RQ command set (PS3.7 Table 9.3-1), Implicit VR Little Endian."""
    body = b"".join(
        (
            _element(0, 0x0002, _padded(sop_class)),
            _element(0, 0x0100, struct.pack("<H", 0x0001)),
            _element(0, 0x0110, struct.pack("<H", message_id)),
            _element(0, 0x0700, struct.pack("<H", priority)),
            _element(0, 0x0800, struct.pack("<H", 0x0000)),
            _element(0, 0x1000, _padded(sop_instance)),
        )
    )
    return _element(0, 0x0000, struct.pack("<I", len(body))) + body


def instance(study_uid: str, series_uid: str, number: int, sop_instance: str | None = None) -> tuple[str, bytes]:
    """(SOP Instance UID, Explicit VR Little Endian data set bytes) of a small invented CT instance."""
    ds = ct_dataset(study_uid=study_uid, series_uid=series_uid, number=number)
    if sop_instance is not None:
        ds.SOPInstanceUID = sop_instance
    data = encode(ds, False, True)
    assert data is not None
    return str(ds.SOPInstanceUID), data


class RawAssociation:
    """A requestor that writes whatever bytes it is given."""

    def __init__(self, port: int, *, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        #: The command set of the last DIMSE message received.
        self.last_command = b""

    def establish(self, **kw: object) -> None:
        self.sock.sendall(associate_rq(**kw))  # type: ignore[arg-type]
        kind, _ = self.read_pdu()
        assert kind == 0x02, f"A-ASSOCIATE-AC expected, got PDU type {kind:#x}"

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _exactly(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return bytes(out)

    def read_pdu(self) -> tuple[int, bytes]:
        kind, _, length = struct.unpack(">BBI", self._exactly(6))
        return kind, self._exactly(length)

    def outcome(self) -> str | int:
        """What the listener does next: a C-STORE-RSP status, ``"abort"``, ``"release"`` or ``"closed"``."""
        command = bytearray()
        try:
            while True:
                kind, body = self.read_pdu()
                if kind == 0x07:
                    return "abort"
                if kind == 0x06:
                    return "release"
                if kind != 0x04:
                    return f"pdu {kind:#x}"
                offset = 0
                while offset < len(body):
                    (length,) = struct.unpack_from(">I", body, offset)
                    control = body[offset + 5]
                    command += body[offset + 6 : offset + 4 + length]
                    offset += 4 + length
                    if control & (COMMAND | LAST) == COMMAND | LAST:
                        self.last_command = bytes(command)
                        status: Dataset = decode(BytesIO(self.last_command), True, True)
                        return int(status.Status)
        except (ConnectionError, OSError):
            return "closed"

    def store(self, sop_instance: str, data: bytes, *, message_id: int = 1, context_id: int = 1) -> None:
        self.send(pdata(pdv(context_id, COMMAND | LAST, store_command(message_id, sop_instance))))
        self.send(pdata(pdv(context_id, LAST, data)))

    def release(self) -> str | int:
        self.send(pdu(0x05, bytes(4)))
        return self.outcome()

    def close(self) -> None:
        self.sock.close()
