"""``python -m tests.imaging.rawsend PORT CALLED_AE MANIFEST``: send each data set of a JSON manifest as its own
C-STORE with pynetdicom as the SCU (request UIDs as the manifest says, data set bytes as they are) and print
``{name: status}`` as JSON (-1: no association, -2: the sender itself failed). The differential test runs it inside
the reference receiver's network namespace, so both receivers get the same bytes from the same sender."""

from __future__ import annotations

import io
import json
import sys
import warnings
from pathlib import Path

from tests.imaging.dicomfiles import raw_store


def send_all(port: int, aec: str, manifest: list[dict[str, str]]) -> dict[str, int]:
    statuses = {}
    for item in manifest:
        payload = Path(item["payload"]).read_bytes()
        try:
            if item.get("as_dataset"):
                statuses[item["name"]] = dataset_store(port, payload, aec=aec, sop_class=item["sop_class"])
            else:
                statuses[item["name"]] = raw_store(
                    port,
                    payload,
                    aec=aec,
                    sop_class=item["sop_class"],
                    sop_instance=item["sop_instance"],
                    transfer_syntax=item["transfer_syntax"],
                )
        except Exception as err:  # a sender that cannot send this input: reported, the others still go
            print(f"{item['name']}: {type(err).__name__}: {err}", file=sys.stderr)
            statuses[item["name"]] = -2
    return statuses


def dataset_store(port: int, payload: bytes, *, aec: str, sop_class: str, aet: str = "PARTNER1") -> int:
    """Send explicit VR little endian data set bytes through pynetdicom's encoder instead of from a file: the only
    way to send file meta elements (group 0002) inside the data set, which a file would merge into its own meta."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.filereader import read_dataset
    from pydicom.uid import ExplicitVRLittleEndian
    from pynetdicom import AE

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read_dataset(io.BytesIO(payload), is_implicit_VR=False, is_little_endian=True)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ae = AE(ae_title=aet)
        ae.add_requested_context(sop_class, ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", port, ae_title=aec)
        if not assoc.is_established:
            return -1
        try:
            status = assoc.send_c_store(ds)
            return int(status.Status) if status else -1
        finally:
            assoc.release()


if __name__ == "__main__":
    port, aec, manifest = int(sys.argv[1]), sys.argv[2], json.loads(Path(sys.argv[3]).read_text())
    print(json.dumps(send_all(port, aec, manifest)))
