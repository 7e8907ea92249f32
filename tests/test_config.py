from __future__ import annotations

from pathlib import Path

import pytest

from tumorboard.config import CHECKOUT, Settings
from tumorboard.errors import ConfigurationError


def test_production_refuses_to_start_without_secret_key():
    with pytest.raises(ConfigurationError, match="TUMORBOARD_SECRET_KEY"):
        Settings.from_env({})
    with pytest.raises(ConfigurationError):
        Settings.from_env({"TUMORBOARD_SECRET_KEY": "short"})


def test_defaults():
    s = Settings.from_env({"TUMORBOARD_SECRET_KEY": "k" * 40})
    assert s.instance_path == CHECKOUT / "instance"
    assert s.database_url == f"sqlite:///{CHECKOUT / 'instance' / 'tumorboard.sqlite'}"
    assert s.horizon_weeks == 12 and s.is_production


def test_environment_overrides(tmp_path: Path):
    s = Settings.from_env(
        {
            "TUMORBOARD_ENV": "development",
            "TUMORBOARD_INSTANCE_PATH": str(tmp_path),
            "TUMORBOARD_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1/x",
            "TUMORBOARD_HORIZON_WEEKS": "20",
        }
    )
    assert s.instance_path == tmp_path and s.database_url.startswith("postgresql") and s.horizon_weeks == 20
    assert not s.cookie_secure and len(s.secret_key) >= 32


@pytest.mark.parametrize(
    "env",
    [
        {"TUMORBOARD_ENV": "staging"},
        {"TUMORBOARD_ENV": "development", "TUMORBOARD_HORIZON_WEEKS": "zwölf"},
        {"TUMORBOARD_ENV": "development", "TUMORBOARD_HORIZON_WEEKS": "0"},
    ],
)
def test_bad_configuration(env):
    with pytest.raises(ConfigurationError):
        Settings.from_env(env)
