"""``tumorboard imaging …``: the DICOM listener and the study index for admins."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from tumorboard.cli_support import handles_errors, runtime, unit_of_work

if TYPE_CHECKING:
    from tumorboard.imaging.models import ImagingStudy


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
    from tumorboard.imaging.dicom.listener import start_listener
    from tumorboard.partners.services import normalize_ae_title

    rt = runtime()
    settings = rt.imaging
    host = host or settings.host
    port = port or settings.port
    ae_title = normalize_ae_title(ae_title) if ae_title else settings.ae_title

    def worker_argv(number: int, control_fd: int, parent: int) -> list[str]:
        return [sys.executable, "-m", "tumorboard", "imaging", "worker", "--number", str(number),
                "--control-fd", str(control_fd), "--parent", str(parent), "--host", host, "--port", str(port),
                "--ae-title", ae_title]  # fmt: skip

    # SIGTERM (how `tumorboard run` and service managers stop it) ends it as Ctrl-C does: the workers are
    # stopped before it exits.
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        start_listener(
            rt.session_factory,
            rt.clock,
            settings.storage_path,
            host=host,
            port=port,
            ae_title=ae_title,
            min_free_bytes=settings.min_free_mb * 1024 * 1024,
            index_timeout=settings.index_timeout_s,
            limits=settings.limits,
            processes=settings.processes,
            worker_argv=worker_argv,
        )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@imaging.command("worker", hidden=True)
@click.option("--number", type=int, required=True)
@click.option("--control-fd", type=int, required=True)
@click.option("--parent", type=int, required=True)
@click.option("--host", required=True)
@click.option("--port", type=int, required=True)
@click.option("--ae-title", required=True)
@handles_errors
def worker(number: int, control_fd: int, parent: int, host: str, port: int, ae_title: str) -> None:
    """Internal: one of the listener's worker processes (started by ``imaging listen``, never by hand)."""
    from tumorboard.imaging.dicom.listener import serve_worker

    control = socket.socket(fileno=control_fd)
    rt = runtime()
    settings = rt.imaging
    with contextlib.suppress(KeyboardInterrupt):
        serve_worker(
            control,
            rt.session_factory,
            rt.clock,
            settings.storage_path,
            number=number,
            parent=parent,
            host=host,
            port=port,
            ae_title=ae_title,
            min_free_bytes=settings.min_free_mb * 1024 * 1024,
            index_timeout=settings.index_timeout_s,
            limits=settings.limits,
        )


@imaging.command("studies")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per study, as a JSON array")
@handles_errors
def studies(as_json: bool) -> None:
    """List received studies (contains patient data: for admins)."""
    from tumorboard.imaging.services import list_studies

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


def study_json(study: ImagingStudy) -> dict[str, Any]:
    """One study for ``tumorboard imaging studies --json`` (admins only: it carries patient data)."""
    return {
        "id": study.id,
        "study_uid": study.study_uid,
        # None, or the value received where the key above was generated (issue 12)
        "received_study_uid": study.received_study_uid,
        "series": [
            {
                "series_uid": s.series_uid,
                "received_series_uid": s.received_series_uid,
                "modality": s.modality,
                "description": s.series_description,
                "body_part": s.body_part,
                "instance_count": s.instance_count,
            }
            for s in study.series
        ],
        "patient_name": study.patient_name,
        "patient_id": study.patient_id,
        "issuer_of_patient_id": study.issuer_of_patient_id,
        "birth_date": study.birth_date.isoformat() if study.birth_date else None,
        "sex": study.sex,
        "accession_number": study.accession_number,
        "study_date": study.study_date.isoformat() if study.study_date else None,
        "study_description": study.study_description,
        "modalities": sorted({s.modality for s in study.series if s.modality}),
        "instance_count": study.instance_count,
        "state": study.state.value,
        "partner": study.partner.name,
        "case_id": study.case_id,
        "match_method": study.match_method.value if study.match_method else None,
        "first_received_at": study.first_received_at.isoformat(),
        "last_received_at": study.last_received_at.isoformat(),
    }
