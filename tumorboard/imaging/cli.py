"""``tumorboard imaging …``: the DICOM listener and the study index for admins."""

from __future__ import annotations

import contextlib
import json

import click

from tumorboard.cli import handles_errors, runtime, unit_of_work


@click.group()
def imaging() -> None:
    """DICOM intake: listener and study index."""


@imaging.command("listen")
@click.option("--host", help="default: TUMORBOARD_DICOM_HOST or 127.0.0.1")
@click.option("--port", type=click.IntRange(1, 65535), help="default: TUMORBOARD_DICOM_PORT or 11112")
@click.option("--ae-title", help="default: TUMORBOARD_DICOM_AE_TITLE or TUMORBOARD")
@handles_errors
def listen(host: str | None, port: int | None, ae_title: str | None) -> None:
    """Run the DICOM Storage SCP (C-STORE, C-ECHO) in the foreground."""
    from tumorboard.imaging.config import ImagingSettings
    from tumorboard.imaging.dicom.listener import start_listener
    from tumorboard.partners.services import normalize_ae_title

    rt = runtime()
    settings = ImagingSettings.from_env(rt.settings)
    with contextlib.suppress(KeyboardInterrupt):
        start_listener(
            rt.session_factory,
            rt.clock,
            settings.storage_path,
            host=host or settings.host,
            port=port or settings.port,
            ae_title=normalize_ae_title(ae_title) if ae_title else settings.ae_title,
            min_free_bytes=settings.min_free_mb * 1024 * 1024,
            limits=settings.limits,
        )


@imaging.command("studies")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per study, as a JSON array")
@handles_errors
def studies(as_json: bool) -> None:
    """List received studies (contains patient data: for admins)."""
    from tumorboard.imaging.services import list_studies, study_json

    with unit_of_work() as (_, session):
        data = [study_json(s) for s in list_studies(session)]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for item in data:
        click.echo(
            f"{item['id']:>6}  {item['state']:<10} {item['instance_count']:>6}  {item['partner']:<30} "
            f"case {item['case_id'] or '-'}"
        )
