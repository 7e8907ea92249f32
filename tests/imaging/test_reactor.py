"""The listener's own PDU reading (tumorboard/imaging/dicom/reactor.py) against peers that lie and break off: a
real listener process (the door and one worker), raw sockets speaking PS3.8 byte by byte (tests/imaging/rawpdu.py).
Invented data only."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.imaging.conftest import Listener
from tests.imaging.rawpdu import COMMAND, LAST, RawAssociation, associate_rq, instance, pdata, pdu, pdv, store_command
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.models import ImagingInstance

pytestmark = pytest.mark.db
#: What a PDU header claims in the memory test, and how much more the listener may hold for it.
CLAIMED, ALLOWED = 512 * 1024 * 1024, 64 * 1024 * 1024


def _rss(pids: list[int]) -> int:
    """Resident bytes of the listener's processes."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def test_a_pdu_length_costs_no_memory_before_its_bytes_arrive(listener: Listener) -> None:
    # Six bytes claiming a 512 MiB PDU, from a stranger (A-ASSOCIATE-RQ) and from a partner (P-DATA-TF): the
    # reader must not set aside what was only announced (16 strangers × 4 GiB would exhaust the machine).
    pids = [listener.pid(), *listener.workers()]
    before = _rss(pids)
    stranger = socket.create_connection(("127.0.0.1", listener.port), 5)
    partner = RawAssociation(listener.port)
    try:
        stranger.sendall(struct.pack(">BBI", 0x01, 0, CLAIMED) + b"\x00\x01")
        partner.establish()
        partner.send(struct.pack(">BBI", 0x04, 0, CLAIMED) + b"\x00")
        time.sleep(2)
        grown = _rss(pids) - before
    finally:
        stranger.close()
        partner.close()
    assert grown < ALLOWED, f"{grown >> 20} MiB for two announced PDUs"
    assert listener.alive()


def _store_in_one_pdu(a: RawAssociation, uid: str, data: bytes) -> str | int:
    a.send(pdata(pdv(1, COMMAND | LAST, store_command(1, uid)), pdv(1, 0, data[:100]), pdv(1, LAST, data[100:])))
    return a.outcome()


def _command_over_two_pdus(a: RawAssociation, uid: str, data: bytes) -> str | int:
    command = store_command(1, uid)
    a.send(pdata(pdv(1, COMMAND, command[:10])))
    a.send(pdata(pdv(1, COMMAND | LAST, command[10:])))
    a.send(pdata(pdv(1, LAST, data)))
    return a.outcome()


def _pipelined(a: RawAssociation, uid: str, data: bytes) -> str | int:
    a.store(uid, data, message_id=1)
    a.store(uid, data, message_id=2)  # the same instance again: a duplicate of the same bytes, stored once
    first, second = a.outcome(), a.outcome()
    return first if first == second else f"{first}, {second}"


def _then(*pdus: bytes) -> object:
    def attack(a: RawAssociation, uid: str, data: bytes) -> str | int:
        for raw in pdus:
            a.send(raw)
        return a.outcome()

    return attack


def _cut(a: RawAssociation, uid: str, data: bytes) -> str | int:
    a.send(pdata(pdv(1, COMMAND | LAST, store_command(1, uid))))
    whole = pdata(pdv(1, LAST, data))
    a.send(whole[: len(whole) // 2])
    a.sock.shutdown(socket.SHUT_WR)
    return a.outcome()


def _mid_data(final: bytes) -> object:
    def attack(a: RawAssociation, uid: str, data: bytes) -> str | int:
        a.send(pdata(pdv(1, COMMAND | LAST, store_command(1, uid))))
        a.send(pdata(pdv(1, 0, data[:200])))
        a.send(final)
        return a.outcome()

    return attack


#: name → (attack(association, SOP Instance UID, data set) → outcome, expected outcomes)
ATTACKS = {
    "command and data in one PDU": (_store_in_one_pdu, {0}),
    "command set over two PDUs": (_command_over_two_pdus, {0}),
    "two C-STOREs before the first response": (_pipelined, {0}),
    "P-DATA-TF without items": (_then(pdu(0x04, b"")), {"abort"}),
    "PDV item length 0": (_then(pdu(0x04, struct.pack(">I", 0))), {"abort"}),
    "PDV item length 1 (no control header)": (_then(pdu(0x04, struct.pack(">IB", 1, 1))), {"abort"}),
    "PDV item beyond its PDU": (_then(pdu(0x04, struct.pack(">IBB", 100, 1, 3) + b"x" * 10)), {"abort"}),
    "PDV item header cut short": (_then(pdu(0x04, struct.pack(">IBB", 4, 1, 3) + b"xx" + b"\0\0")), {"abort"}),
    "unknown presentation context": (
        lambda a, uid, data: _then(pdata(pdv(9, COMMAND | LAST, store_command(1, uid))))(a, uid, data),
        {"abort"},
    ),
    "data set before any command": (lambda a, uid, data: _then(pdata(pdv(1, LAST, data)))(a, uid, data), {"abort"}),
    "A-RELEASE-RQ in the middle of a data set": (_mid_data(pdu(0x05, bytes(4))), {"release"}),
    "A-ABORT in the middle of a data set": (_mid_data(pdu(0x07, bytes(4))), {"closed"}),
    "connection closed in the middle of a PDU": (_cut, {"closed"}),
    "connection closed in a PDU header": (_then(b"\x04\x00\x00"), {"closed"}),
    "unknown PDU type": (_then(pdu(0x09, b"abcd")), {"abort"}),
    "A-ASSOCIATE-RQ on an established association": (_then(associate_rq()), {"abort"}),
    "A-RELEASE-RP nobody asked for": (_then(pdu(0x06, bytes(4))), {"abort"}),
}


def test_malformed_p_data_gets_an_abort_never_a_false_success_and_leaves_no_temp_file(
    listener: Listener, listener_sessions: sessionmaker[Session]
) -> None:
    study, series = generate_uid(), generate_uid()
    outcomes: dict[str, object] = {}
    acknowledged = set()
    for number, (name, (attack, _)) in enumerate(ATTACKS.items(), start=1):
        uid, data = instance(study, series, number)
        association = RawAssociation(listener.port)
        try:
            association.establish()
            outcomes[name] = attack(association, uid, data)  # type: ignore[operator]
        finally:
            association.close()
        if outcomes[name] == 0:
            acknowledged.add(uid)
    assert {name: outcomes[name] for name in ATTACKS if outcomes[name] not in ATTACKS[name][1]} == {}
    assert listener.alive()
    with listener_sessions() as session:
        indexed = dict(session.execute(select(ImagingInstance.sop_instance_uid, ImagingInstance.sha256)).all())
    assert acknowledged <= indexed.keys()
    spool = Spool(listener.storage)
    assert all(spool.object_path(indexed[uid]).exists() for uid in acknowledged)
    listener.stop()
    listener.start()  # temp files of broken-off transfers are gone after the next start at the latest
    assert list((listener.storage / "incoming").iterdir()) == []
