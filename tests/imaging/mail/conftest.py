from __future__ import annotations

from pathlib import Path

import pytest

from tests.imaging.mail.keys import Party, introduce, make_party


@pytest.fixture(scope="session")
def pgp_parties(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Party]:
    """us (the tumor board), nordstadt (a registered partner), stranger (a valid key nobody pinned)."""
    root: Path = tmp_path_factory.mktemp("gnupg")
    parties = {
        "us": make_party(root / "us", "tumorboard@klinik.example"),
        "nordstadt": make_party(root / "nordstadt", "pacs@nordstadt.example"),
        "stranger": make_party(root / "stranger", "pacs@fremd.example"),
    }
    introduce(parties["us"], parties["nordstadt"])
    introduce(parties["us"], parties["stranger"])
    introduce(parties["nordstadt"], parties["stranger"])
    return parties
