"""The export Jinja environments belong to the process's Runtime: bootstrap builds them, one per locale."""

from __future__ import annotations

import datetime as dt

import pytest

from tumorboard.exports.rendering import ExportTemplates

pytestmark = pytest.mark.db  # the runtime fixture opens the test database


def test_bootstrap_builds_one_environment_per_locale(runtime):
    templates = runtime.templates
    assert isinstance(templates, ExportTemplates)
    assert templates.environment("de").globals["locale"] == "de"
    assert templates.environment("en").globals["locale"] == "en"
    assert templates.environment("de") is templates.environment("de")  # built once, at start
    at = dt.datetime(2026, 11, 24, 13, 0, tzinfo=dt.UTC)
    assert templates.environment("de").from_string("{{ at | datetime }}").render(at=at) == "Di., 24.11.2026, 14:00"


def test_an_unknown_locale_or_a_missing_templates_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown locale"):
        ExportTemplates().environment("fr")
    with pytest.raises(ValueError, match="export templates not found"):
        ExportTemplates(tmp_path / "nowhere")


def test_time_filters_name_the_zone_only_for_the_hour_that_occurs_twice():
    import datetime as dt

    from tumorboard.exports.rendering import format_datetime_filter, format_time_filter

    first = dt.datetime(2027, 10, 31, 0, 30, tzinfo=dt.UTC)
    assert format_time_filter(first, locale="de") == "02:30 MESZ"
    assert format_time_filter(first + dt.timedelta(hours=1), locale="de") == "02:30 MEZ"
    assert format_time_filter(first + dt.timedelta(hours=1), locale="en") == "02:30 CET"
    assert format_time_filter(first + dt.timedelta(hours=2), locale="de") == "03:30"
    assert format_datetime_filter(first, locale="de") == "So., 31.10.2027, 02:30 MESZ"
