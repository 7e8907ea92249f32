"""The composition root: every process (web, scheduler, CLI) starts from :func:`bootstrap`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tumorboard.clock import Clock, SystemClock
from tumorboard.config import Settings
from tumorboard.db import make_engine, make_session_factory
from tumorboard.imaging.config import ImagingSettings
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.mail.config import MailSettings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    #: DICOM listener and image store settings, validated at start (a bad AE title stops every process).
    imaging: ImagingSettings
    #: The image store: owns the layout of ``incoming/``, ``objects/`` and ``previews/``.
    store: Spool
    #: DICOM E-Mail intake settings (mailboxes, GnuPG home, receipts).
    mail: MailSettings


def bootstrap(settings: Settings | None = None, **overrides: Any) -> Runtime:
    """Build settings, engine, session factory, clock, imaging settings and the image store. ``overrides``
    replace any of them (tests)."""
    settings = settings or Settings.from_env()
    imaging = overrides.pop("imaging", None) or ImagingSettings.from_env(settings)
    mail = overrides.pop("mail", None) or MailSettings.from_env(settings)
    configure_logging(settings.log_level)
    engine = overrides.pop("engine", None)
    if engine is None:
        if settings.database_url.startswith("sqlite"):
            settings.instance_path.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.database_url)
    session_factory = overrides.pop("session_factory", None) or make_session_factory(engine)
    clock = overrides.pop("clock", None) or SystemClock()
    if overrides:
        raise TypeError(f"unknown overrides: {sorted(overrides)}")
    return Runtime(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        clock=clock,
        imaging=imaging,
        store=Spool(imaging.storage_path),
        mail=mail,
    )


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # WeasyPrint logs every rendering step at INFO; fontTools every subset; APScheduler two lines per job run (one
    # job runs every 10 s). Their warnings and errors still show; our jobs log what they did themselves.
    for noisy in ("weasyprint", "fontTools", "apscheduler.executors"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
