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

from tests.imaging.conftest import Listener
from tests.imaging.rawpdu import COMMAND, LAST, RawAssociation, instance, pdata, pdu, pdv, store_command
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
