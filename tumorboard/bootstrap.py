"""The composition root: every process (web, scheduler, CLI) starts from :func:`bootstrap`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tumorboard.clock import Clock, SystemClock
from tumorboard.config import Settings
from tumorboard.db import make_engine, make_session_factory
from tumorboard.exports import archive
from tumorboard.exports.rendering import ExportTemplates


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    #: The export Jinja environments (PDF agendas, protocols, attendance lists), one per locale.
    templates: ExportTemplates


def bootstrap(settings: Settings | None = None, **overrides: Any) -> Runtime:
    """Build settings, engine, session factory, clock and the export templates. ``overrides`` replace any of them
    (tests)."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    engine = overrides.pop("engine", None)
    if engine is None:
        if settings.database_url.startswith("sqlite"):
            settings.instance_path.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.database_url)
    session_factory = overrides.pop("session_factory", None) or make_session_factory(engine)
    clock = overrides.pop("clock", None) or SystemClock()
    templates = overrides.pop("templates", None) or ExportTemplates()
    if overrides:
        raise TypeError(f"unknown overrides: {sorted(overrides)}")
    archive.install(session_factory, templates=templates, imaging_storage=lambda: _imaging_storage(settings))
    return Runtime(settings=settings, engine=engine, session_factory=session_factory, clock=clock, templates=templates)


def _imaging_storage(settings: Settings) -> Path | None:
    from tumorboard.imaging.config import ImagingSettings

    return ImagingSettings.from_env(settings).storage_path


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # WeasyPrint logs every rendering step at INFO; fontTools every subset; APScheduler two lines per job run (one
    # job runs every 10 s). Their warnings and errors still show; our jobs log what they did themselves.
    for noisy in ("weasyprint", "fontTools", "apscheduler.executors"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
