"""Differential acceptance test (issue 12, point 1): the same odd but real-world objects go to DCMTK's storescp
(the reference receiver, in its own network namespace) and to our listener; the statuses must agree, except
where README's conformance section says why not (DIFFERENCES below, the same list)."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from tests.imaging.dicomfiles import DCMTK_ENV, STORESCU, ct_dataset, parse_storescu, storescu

pytestmark = pytest.mark.skipif(
    shutil.which("storescp") is None or shutil.which("unshare") is None, reason="needs DCMTK storescp and unshare"
)

#: Inputs on which we knowingly answer differently from storescp, with the reason (README: "Conformance").
DIFFERENCES = {
    "no_study_uid": "no Study Instance UID: the index cannot group the instance; refused with 0xC000",
    "letters_in_study_uid": "a Study Instance UID with letters is not a UID; refused with 0xC000",
}


def _corpus(folder: Path) -> dict[str, Path]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values we mean to send
        return _write_corpus(folder)


def _write_corpus(folder: Path) -> dict[str, Path]:
    study = "1.2.826.0.1.3680043.9.7777.1"
    cases: dict[str, Dataset] = {
        "plain": ct_dataset(study_uid=study, series_uid=study + ".1", number=1),
        "leading_zero_uids": ct_dataset(
            study_uid="1.2.840.10008.05.1.77", series_uid="1.2.840.10008.05.1.77.01", number=2
        ),
        "odd_length_uid_nul_padded": ct_dataset(study_uid=study + ".123", series_uid=study + ".123.1", number=3),
        "empty_patient_name": ct_dataset(study_uid=study, series_uid=study + ".1", number=4, patient_name=""),
        "huge_description": ct_dataset(study_uid=study, series_uid=study + ".1", number=5),
        "utf8_chinese_name": ct_dataset(
            study_uid=study, series_uid=study + ".2", number=6, patient_name="Wang^XiaoDong=王^小東"
        ),
        "latin1_name": ct_dataset(study_uid=study, series_uid=study + ".3", number=7, patient_name="Müller^Jürgen"),
        "no_study_uid": ct_dataset(study_uid=study, series_uid=study + ".4", number=8),
        "letters_in_study_uid": ct_dataset(study_uid="1.2.3.abc", series_uid=study + ".5", number=9),
    }
    cases["huge_description"].StudyDescription = "Sehr lange Beschreibung " * 400  # LO allows 64 characters
    cases["utf8_chinese_name"].SpecificCharacterSet = "ISO_IR 192"
    cases["latin1_name"].SpecificCharacterSet = "ISO_IR 100"
    del cases["no_study_uid"].StudyInstanceUID
    paths = {}
    for name, ds in cases.items():
        paths[name] = folder / f"{name}.dcm"
        ds.save_as(paths[name], enforce_file_format=True)
    return paths


def _storescp_statuses(files: list[Path], work: Path) -> dict[str, str]:
    """storescp and storescu inside one `unshare --net` namespace: storescp listens on 0.0.0.0, which there is lo."""
    (work / "in").mkdir()
    script = work / "reference.sh"
    script.write_text(
        "set -u\n"
        "ip link set lo up\n"
        "export TCP_NODELAY=1\n"
        f"storescp --aetitle TBSCP --output-directory {work / 'in'} 11112 > {work / 'storescp.log'} 2>&1 &\n"
        "SCP=$!\n"
        "sleep 1\n"
        f"{STORESCU} -v -nh -aet PARTNER1 -aec TBSCP 127.0.0.1 11112 " + " ".join(map(str, files)) + " 2>&1\n"
        'kill "$SCP"; wait "$SCP" 2>/dev/null\n'
    )
    run = subprocess.run(
        ["unshare", "--net", "bash", str(script)], capture_output=True, text=True, timeout=120, env=DCMTK_ENV
    )
    return parse_storescu(run.stdout + run.stderr)


def test_our_listener_answers_as_dcmtk_storescp_does(listener, tmp_path):
    corpus = _corpus(tmp_path)
    files = list(corpus.values())
    reference = _storescp_statuses(files, tmp_path)
    ours_run = storescu(listener.port, files, extra=("-nh",))
    ours = parse_storescu(ours_run.stdout + ours_run.stderr)
    table = {name: (reference.get(str(path)), ours.get(str(path))) for name, path in corpus.items()}
    assert all(ref == "success" for ref, _ in table.values()), table  # storescp takes every one of them
    differences = {name for name, (ref, our) in table.items() if ref != our}
    assert differences == set(DIFFERENCES), table
    for name in DIFFERENCES:
        assert table[name][1] is not None and table[name][1].startswith("failure"), table[name]
    assert listener.alive()
