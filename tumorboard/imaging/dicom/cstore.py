"""C-STORE messages read and written as bytes, without a pydicom data set per message (issue 16: CPU per instance).

pynetdicom turns every DIMSE command set into a pydicom ``Dataset`` and back: per received instance it decodes the
C-STORE-RQ command set (PS3.7 9.3.1.1), builds the File Meta Information of the stored file element by element
through pydicom's writer, and for the answer creates a C-STORE-RSP message whose command set is another
``Dataset`` of nine elements, encoded by pydicom again. A profile of four concurrent transfers put about a third of
the listener's CPU into these steps — under one GIL, where it caps the instances per second.

The command set is always Implicit VR Little Endian (PS3.7 6.3.1; PS3.5 7.1.2: tag, 32-bit length, value) and a
C-STORE's has a handful of fixed elements, so for the ordinary case both directions are a few ``struct`` calls:

- :func:`read_store_request` reads a command set that holds exactly the elements a C-STORE-RQ carries (PS3.7
  Table 9.3-1) with valid values; :func:`file_meta` writes the same File Meta Information (PS3.10 7.1) pynetdicom
  writes; :func:`store_response` writes the C-STORE-RSP command set (PS3.7 Table 9.3-2) for a status without
  Offending Element or Error Comment.
- Anything else — another command, an extra element, a Move Originator, a value that is not a plain UID — is
  handed to pynetdicom's own code unchanged, as are all messages of associations that bind handlers to the
  DIMSE-level events (``EVT_DIMSE_RECV``/``EVT_DIMSE_SENT``, which want pynetdicom's message objects).

The bytes are the same as pynetdicom's (``tests/imaging/test_cstore.py`` compares both encoders element for
element and byte for byte); pynetdicom is pinned, and :func:`install` replaces ``receive_primitive`` and
``send_msg`` of one acceptor association's DIMSE provider with copies of its 3.0.4 code that take this path first.
"""

from __future__ import annotations

import logging
import re
import struct
import threading
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from tempfile import NamedTemporaryFile
from typing import Any, cast

from pydicom.dataset import Dataset
from pydicom.filewriter import write_file_meta_info
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION, _config, evt
from pynetdicom.dimse_messages import _MESSAGE_TYPES, C_STORE_RQ, DIMSEMessage
from pynetdicom.dimse_primitives import C_CANCEL, C_STORE, N_EVENT_REPORT
from pynetdicom.dsutils import create_file_meta, decode
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.utils import make_target

__all__ = ["StoreRequest", "file_meta", "install", "read_store_request", "store_response"]

#: Command Field values (PS3.7 Table E.1-1).
C_STORE_REQUEST, C_STORE_RESPONSE = 0x0001, 0x8001
#: Command Data Set Type "no data set" (PS3.7 Table E.1-1).
NO_DATA_SET = 0x0101

# Command set tags (group 0000) of a C-STORE-RQ; the value is the element's VR.
_GROUP_LENGTH = 0x00000000
_SOP_CLASS = 0x00000002
_COMMAND_FIELD = 0x00000100
_MESSAGE_ID = 0x00000110
_RESPONDED_TO = 0x00000120
_PRIORITY = 0x00000700
_DATA_SET_TYPE = 0x00000800
_STATUS = 0x00000900
_SOP_INSTANCE = 0x00001000
_REQUEST_TAGS = {
    _GROUP_LENGTH: "UL",
    _SOP_CLASS: "UI",
    _COMMAND_FIELD: "US",
    _MESSAGE_ID: "US",
    _PRIORITY: "US",
    _DATA_SET_TYPE: "US",
    _SOP_INSTANCE: "UI",
}
_LENGTHS = {"UL": 4, "US": 2}
#: A UID as PS3.5 9.1 allows it, at most 64 characters; anything else goes to pynetdicom, which decides.
_UID = re.compile(rb"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")
_HEADER = struct.Struct("<HHI")
_US = struct.Struct("<HHIH")
_UL = struct.Struct("<HHII")


@dataclass(frozen=True)
class StoreRequest:
    """The parameters of a C-STORE-RQ command set (PS3.7 Table 9.3-1) without Move Originator."""

    message_id: int
    sop_class_uid: str
    sop_instance_uid: str
    priority: int
    data_set_type: int


def read_store_request(command_set: bytes) -> StoreRequest | None:
    """The C-STORE-RQ in an Implicit VR Little Endian ``command_set``, or None when it is anything else: another
    command, a missing, repeated or extra element, a length that does not fit its VR, a group length that does not
    match, a Priority outside 0–2, no data set, or a SOP Class/Instance UID that is not a plain UID of at most 64
    characters (optionally padded with one NUL)."""
    values: dict[int, bytes] = {}
    offset, end = 0, len(command_set)
    while offset < end:
        if end - offset < 8:
            return None
        group, element, length = _HEADER.unpack_from(command_set, offset)
        tag = (group << 16) | element
        offset += 8
        vr = _REQUEST_TAGS.get(tag)
        if vr is None or tag in values or offset + length > end or _LENGTHS.get(vr, length) != length:
            return None
        values[tag] = command_set[offset : offset + length]
        offset += length
    if len(values) != len(_REQUEST_TAGS):
        return None
    if int.from_bytes(values[_GROUP_LENGTH], "little") != end - 12:
        return None
    (command,) = struct.unpack("<H", values[_COMMAND_FIELD])
    (message_id,) = struct.unpack("<H", values[_MESSAGE_ID])
    (priority,) = struct.unpack("<H", values[_PRIORITY])
    (data_set_type,) = struct.unpack("<H", values[_DATA_SET_TYPE])
    if command != C_STORE_REQUEST or priority > 2 or data_set_type == NO_DATA_SET:
        return None
    sop_class, sop_instance = _uid(values[_SOP_CLASS]), _uid(values[_SOP_INSTANCE])
    if sop_class is None or sop_instance is None:
        return None
    return StoreRequest(message_id, sop_class, sop_instance, priority, data_set_type)


def _uid(value: bytes) -> str | None:
    if value.endswith(b"\x00"):
        value = value[:-1]
    if not 0 < len(value) <= 64 or not _UID.fullmatch(value):
        return None
    return value.decode("ascii")


def _ui(tag: int, value: str) -> bytes:
    raw = value.encode("ascii")
    if len(raw) % 2:
        raw += b"\x00"
    return _HEADER.pack(tag >> 16, tag & 0xFFFF, len(raw)) + raw


def _us(tag: int, value: int) -> bytes:
    return _US.pack(tag >> 16, tag & 0xFFFF, 2, value)


def store_response(*, message_id: int, status: int, sop_class_uid: str, sop_instance_uid: str) -> bytes:
    """The Implicit VR Little Endian command set of a C-STORE-RSP (PS3.7 Table 9.3-2) without Offending Element
    and Error Comment, elements in tag order as pynetdicom writes them. ``message_id`` and ``status`` are 16-bit
    unsigned; the UIDs plain ASCII (the request's). Raises ValueError for values outside these."""
    if not (0 <= message_id <= 0xFFFF and 0 <= status <= 0xFFFF):
        raise ValueError("message id and status are 16-bit unsigned")
    body = b"".join(
        (
            _ui(_SOP_CLASS, sop_class_uid),
            _us(_COMMAND_FIELD, C_STORE_RESPONSE),
            _us(_RESPONDED_TO, message_id),
            _us(_DATA_SET_TYPE, NO_DATA_SET),
            _us(_STATUS, status),
            _ui(_SOP_INSTANCE, sop_instance_uid),
        )
    )
    return _UL.pack(0, 0, 4, len(body)) + body


# --- File Meta Information (PS3.10 7.1), Explicit VR Little Endian ---------------------------------------------
_SHORT = struct.Struct("<HH2sH")
_LONG = struct.Struct("<HH2s2xI")
_meta_lock = threading.Lock()
_meta_cache: dict[tuple[str, str], bytes] = {}


def _explicit(tag: int, vr: bytes, value: bytes) -> bytes:
    group, element = tag >> 16, tag & 0xFFFF
    if vr in (b"OB", b"UN", b"SQ", b"UT", b"UC", b"UR", b"OW"):
        return _LONG.pack(group, element, vr, len(value)) + value
    return _SHORT.pack(group, element, vr, len(value)) + value


def _padded(value: str, pad: bytes) -> bytes:
    raw = value.encode("ascii")
    return raw + pad if len(raw) % 2 else raw


def file_meta(sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str) -> bytes:
    """The 128-byte preamble, ``DICM`` and the File Meta Information group pynetdicom writes before a received data
    set (``create_file_meta`` + pydicom's ``write_file_meta_info``): group length, version 00 01, Media Storage SOP
    Class/Instance UID, Transfer Syntax UID, pynetdicom's Implementation Class UID and Version Name. The UIDs are
    ASCII (checked by the caller)."""
    key = (sop_class_uid, transfer_syntax_uid)
    with _meta_lock:
        head = _meta_cache.get(key)
    if head is None:
        head = _explicit(0x00020002, b"UI", _padded(sop_class_uid, b"\x00"))
        with _meta_lock:
            if len(_meta_cache) < 1024:
                _meta_cache[key] = head
    tail = _explicit(0x00020010, b"UI", _padded(transfer_syntax_uid, b"\x00")) + _IMPLEMENTATION
    body = (
        _explicit(0x00020001, b"OB", b"\x00\x01")
        + head
        + _explicit(0x00020003, b"UI", _padded(sop_instance_uid, b"\x00"))
        + tail
    )
    return b"\x00" * 128 + b"DICM" + _explicit(0x00020000, b"UL", struct.pack("<I", len(body))) + body


_IMPLEMENTATION = _explicit(0x00020012, b"UI", _padded(str(PYNETDICOM_IMPLEMENTATION_UID), b"\x00")) + _explicit(
    0x00020013, b"SH", _padded(PYNETDICOM_IMPLEMENTATION_VERSION, b" ")
)


def pynetdicom_file_meta(sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str) -> bytes:
    """What pynetdicom 3.0.4 writes (``decode_msg``): the reference :func:`file_meta` is compared with."""
    out = BytesIO()
    out.write(b"\x00" * 128)
    out.write(b"DICM")
    write_file_meta_info(
        out,  # type: ignore[arg-type]
        create_file_meta(
            sop_class_uid=cast(Any, sop_class_uid),
            sop_instance_uid=cast(Any, sop_instance_uid),
            transfer_syntax=cast(Any, transfer_syntax_uid),
        ),
    )
    return out.getvalue()


# --- the DIMSE provider's two methods ----------------------------------------------------------------------------
class _FastStoreRQ(C_STORE_RQ):  # decode_msg: see the end of the module
    """A C-STORE-RQ read by :func:`read_store_request`: its primitive is built from the parsed parameters."""

    request: StoreRequest

    def message_to_primitive(self) -> Any:
        primitive = C_STORE()
        primitive.MessageID = self.request.message_id
        primitive.AffectedSOPClassUID = self.request.sop_class_uid
        primitive.AffectedSOPInstanceUID = self.request.sop_instance_uid
        primitive.Priority = self.request.priority
        primitive.DataSet = cast(BytesIO, self.data_set)
        primitive._context_id = self.context_id
        primitive._dataset_path = self._data_set_path
        primitive._dataset_file = self._data_set_file
        return primitive


class _Message(DIMSEMessage):
    """pynetdicom 3.0.4 ``DIMSEMessage.decode_msg`` that reads a plain C-STORE-RQ with :func:`read_store_request`
    and writes its file meta with :func:`file_meta`; everything else as pynetdicom does it."""

    def __init__(self) -> None:
        # DIMSEMessage.__init__ looks up the command set keywords by class name, which only its own classes have
        self.context_id: int | None = None
        self.encoded_command_set = BytesIO()
        self.data_set: BytesIO | None = BytesIO()
        self.command_set = Dataset()
        self._data_set_path: Path | tuple[Path, int] | None = None
        self._data_set_file: Any = None

    def decode_msg(self, primitive: P_DATA, assoc: Any = None) -> bool:
        if primitive.__class__ != P_DATA or primitive is None:
            return False
        for context_id, data in primitive.presentation_data_value_list:
            control_header_byte = data[0]
            if control_header_byte & 1:
                self.encoded_command_set.write(data[1:])
                if control_header_byte & 2:
                    self.context_id = context_id
                    request = None
                    if _config.STORE_RECV_CHUNKED_DATASET:
                        request = read_store_request(self.encoded_command_set.getvalue())
                    if request is None:
                        self.command_set = decode(self.encoded_command_set, True, True)
                        self.__class__ = _MESSAGE_TYPES[cast(int, self.command_set.CommandField)][1]  # type: ignore[assignment]
                        if self.command_set.CommandDataSetType == NO_DATA_SET:
                            return True
                        if _config.STORE_RECV_CHUNKED_DATASET and isinstance(self, C_STORE_RQ):
                            cs = self.command_set
                            _open_data_set_file(
                                self,
                                assoc,
                                context_id,
                                str(cs.AffectedSOPClassUID),
                                str(cs.AffectedSOPInstanceUID),
                                True,
                            )
                    else:
                        self.__class__ = _FastStoreRQ  # type: ignore[assignment]
                        cast(_FastStoreRQ, self).request = request
                        _open_data_set_file(
                            self, assoc, context_id, request.sop_class_uid, request.sop_instance_uid, False
                        )
            else:
                if self._data_set_file:
                    self._data_set_file.write(memoryview(data)[1:])
                    self._data_set_file.file.flush()
                else:
                    cast(BytesIO, self.data_set).write(memoryview(data)[1:])
                if control_header_byte & 2 != 0:
                    return True
        return False


# The data set fragments after the command set arrive at the message whose class is now _FastStoreRQ: they are
# written by the same decode_msg (memoryview slices: no copy of each 128 kB fragment).
_FastStoreRQ.decode_msg = _Message.decode_msg  # type: ignore[method-assign,assignment]


def _open_data_set_file(
    message: Any, assoc: Any, context_id: int, sop_class: str, sop_instance: str, as_pynetdicom: bool
) -> None:
    """As pynetdicom does for a chunked C-STORE-RQ: a temp file in ``incoming/`` starting with the file meta."""
    handle = NamedTemporaryFile(delete=False, mode="wb", suffix=".dcm")  # noqa: SIM115 - pynetdicom closes it
    message._data_set_file = handle
    message._data_set_path = Path(handle.name)
    transfer_syntax = str(assoc._accepted_cx[context_id].transfer_syntax[0])
    encode = pynetdicom_file_meta if as_pynetdicom else file_meta
    handle.write(encode(sop_class, sop_instance, transfer_syntax))


def receive_primitive(self: Any, primitive: P_DATA) -> None:
    """pynetdicom 3.0.4 ``DIMSEServiceProvider.receive_primitive`` whose messages are :class:`_Message` s."""
    if self.message is None:
        self.message = _Message() if not self.assoc.get_handlers(evt.EVT_DIMSE_RECV) else DIMSEMessage()
    if self.message.decode_msg(primitive, self.assoc):
        evt.trigger(self.assoc, evt.EVT_DIMSE_RECV, {"message": self.message})
        context_id = cast(int, self.message.context_id)
        try:
            d_primitive = self.message.message_to_primitive()
        except Exception as exc:
            _LOGGER.error("Received an invalid DIMSE message")
            _LOGGER.exception(exc)
            self.dul.event_queue.put("Evt19")
            return
        if isinstance(d_primitive, C_CANCEL) and len(self.cancel_req) < 10:
            self.cancel_req[cast(int, d_primitive.MessageIDBeingRespondedTo)] = d_primitive
        elif isinstance(d_primitive, N_EVENT_REPORT) and d_primitive.is_valid_request:
            t = threading.Thread(target=make_target(self.assoc._serve_request), args=(d_primitive, context_id))
            t.start()
        else:
            self.msg_queue.put((context_id, d_primitive))
        self.message.encoded_command_set = BytesIO()
        self.message.data_set = BytesIO()
        self.message._data_set_file = None
        self.message._data_set_path = None
        self.message = None


def send_msg(self: Any, primitive: Any, context_id: int) -> None:
    """pynetdicom 3.0.4 ``DIMSEServiceProvider.send_msg``; a plain C-STORE-RSP is written by
    :func:`store_response` (one P-DATA, as pynetdicom sends a command set that fits the PDU)."""
    encoded = _fast_response(self, primitive)
    if encoded is None:
        _SEND_MSG(self, primitive, context_id)
        return
    if self.maximum_pdu_size and len(encoded) + 7 > self.maximum_pdu_size:
        _SEND_MSG(self, primitive, context_id)
        return
    pdata = P_DATA()
    pdata.presentation_data_value_list.append((context_id, b"\x03" + encoded))
    self.dul.send_pdu(pdata)


def _fast_response(provider: Any, primitive: Any) -> bytes | None:
    if type(primitive) is not C_STORE or primitive.MessageIDBeingRespondedTo is None:
        return None
    if primitive.OffendingElement is not None or primitive.ErrorComment is not None or primitive.Status is None:
        return None
    if provider.assoc.get_handlers(evt.EVT_DIMSE_SENT):
        return None
    sop_class, sop_instance = primitive.AffectedSOPClassUID, primitive.AffectedSOPInstanceUID
    if sop_class is None or sop_instance is None:
        return None
    if (
        _uid(str(sop_class).encode("ascii", "replace")) is None
        or _uid(str(sop_instance).encode("ascii", "replace")) is None
    ):
        return None
    return store_response(
        message_id=int(primitive.MessageIDBeingRespondedTo),
        status=int(primitive.Status),
        sop_class_uid=str(sop_class),
        sop_instance_uid=str(sop_instance),
    )


def install(assoc: Any) -> None:
    """Let one (not yet started) acceptor association's DIMSE provider take the byte path for plain C-STOREs."""
    dimse = assoc.dimse
    dimse.receive_primitive = receive_primitive.__get__(dimse)
    dimse.send_msg = send_msg.__get__(dimse)


def _original_send_msg() -> Any:
    from pynetdicom.dimse import DIMSEServiceProvider

    return DIMSEServiceProvider.send_msg


_SEND_MSG = _original_send_msg()
_LOGGER = logging.getLogger("pynetdicom.dimse")
