"""The composition root builds and validates every setting a process needs once, at start."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tumorboard.bootstrap import bootstrap
from tumorboard.config import Settings
from tumorboard.errors import ConfigurationError

CHECKOUT = Path(__file__).resolve().parents[1]


def test_runtime_holds_the_imaging_settings_and_the_store(tmp_path):
    environ = {"TUMORBOARD_DICOM_AE_TITLE": "ONKO_SCP", "TUMORBOARD_IMAGING_PATH": str(tmp_path / "bilder")}
    rt = bootstrap(make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", **environ))
    try:
        assert rt.imaging.ae_title == "ONKO_SCP"
        assert rt.store.root == (tmp_path / "bilder").resolve() == rt.imaging.storage_path
        assert rt.store.object_path("ab" + "0" * 62) == rt.store.root / "objects" / "ab" / ("ab" + "0" * 62 + ".dcm")
        assert rt.store.preview_path(rt.store.preview_name(7)) == rt.store.root / "previews" / "7.png"
        assert not rt.store.root.exists()  # bootstrap writes no files into the store
    finally:
        rt.engine.dispose()


@pytest.mark.parametrize(
    ("name", "value"),
    [("TUMORBOARD_DICOM_AE_TITLE", "KEIN GUELTIGER TITEL!"), ("TUMORBOARD_DICOM_PORT", "nein")],
)
def test_bad_imaging_settings_fail_at_start(tmp_path, name, value):
    with pytest.raises(ConfigurationError) as raised:
        bootstrap(make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", **{name: value}))
    assert name in raised.value.message % raised.value.params


def test_a_bad_ae_title_stops_every_command_not_only_the_listener(tmp_path):
    """Listing sessions never touches imaging; with a bad AE title it still refuses to start (exit 2, German)."""
    env = {
        **os.environ,
        "TUMORBOARD_ENV": "test",
        "TUMORBOARD_SECRET_KEY": "t" * 48,
        "TUMORBOARD_INSTANCE_PATH": str(tmp_path),
        "TUMORBOARD_DICOM_AE_TITLE": "VIEL ZU LANGER AE TITEL",
    }
    done = subprocess.run(
        [sys.executable, "-m", "tumorboard", "sessions", "list", "--from", "2026-01-05", "--to", "2026-01-09"],
        cwd=CHECKOUT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "TUMORBOARD_DICOM_AE_TITLE ist kein gültiger AE-Titel." in done.stderr


def test_imaging_settings_are_read_only_by_the_composition_root():
    readers = sorted(
        str(path.relative_to(CHECKOUT))
        for path in (CHECKOUT / "tumorboard").rglob("*.py")
        if "ImagingSettings.from_env(" in path.read_text(encoding="utf-8")
    )
    assert readers == ["tumorboard/bootstrap.py"]


def test_only_the_configuration_module_reads_the_environment():
    """Issue 9: a bad value fails at start, in one place — the domains' settings come from ``Settings.environ``."""
    readers = sorted(
        str(path.relative_to(CHECKOUT))
        for path in (CHECKOUT / "tumorboard").rglob("*.py")
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text(encoding="utf-8"))
    )
    assert readers == ["tumorboard/config.py"]


def test_domain_settings_read_the_environment_the_settings_came_from():
    from tumorboard.imaging.config import ImagingSettings

    settings = Settings.from_env(
        {"TUMORBOARD_ENV": "test", "TUMORBOARD_SECRET_KEY": "t" * 48, "TUMORBOARD_DICOM_AE_TITLE": "ELSEWHERE"}
    )
    assert ImagingSettings.from_env(settings).ae_title == "ELSEWHERE"
