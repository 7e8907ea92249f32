"""The composition root: every process (web, scheduler, CLI) starts from :func:`bootstrap`."""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from tumorboard.clock import Clock, SystemClock
from tumorboard.cme.config import EivSettings
from tumorboard.config import Settings
from tumorboard.db import make_engine, make_session_factory, read_only_engine
from tumorboard.dbfaults import install_log_scrubber
from tumorboard.exports import archive
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.imaging.config import ImagingSettings
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.mail.config import MailSettings
from tumorboard.registry.config import RegistrySettings


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
    #: The export Jinja environments (PDF agendas, protocols, attendance lists), one per locale.
    templates: ExportTemplates
    #: Sessions that only read (on SQLite: no write lock; a write in them fails). Tests that pass their own
    #: ``session_factory`` get it here too.
    read_session_factory: sessionmaker[Session] | None = None
    #: The oBDS export's reporter and sender (``TUMORBOARD_OBDS_*``); not configured: the export refuses to run.
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    #: The chambers' EIV client (``TUMORBOARD_EIV_*``); off until a base URL and a password file are configured.
    eiv: EivSettings = field(default_factory=EivSettings)

    def read_sessions(self) -> sessionmaker[Session]:
        return self.read_session_factory or self.session_factory


def bootstrap(settings: Settings | None = None, **overrides: Any) -> Runtime:
    """Build settings, engine, session factories, clock, the export templates, the imaging settings and the image
    store. ``overrides`` replace any of them (tests)."""
    settings = settings or Settings.from_env()
    imaging = overrides.pop("imaging", None) or ImagingSettings.from_env(settings)
    mail = overrides.pop("mail", None) or MailSettings.from_env(settings)
    registry = overrides.pop("registry", None) or RegistrySettings.from_env(settings)
    eiv = overrides.pop("eiv", None) or EivSettings.from_env(settings)
    configure_logging(settings.log_level)
    engine = overrides.pop("engine", None)
    if engine is None:
        if settings.database_url.startswith("sqlite"):
            prepare_sqlite_file(settings)
        engine = make_engine(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    session_factory = overrides.pop("session_factory", None)
    read_session_factory = None
    if session_factory is None:
        session_factory = make_session_factory(engine)
        read_session_factory = make_session_factory(read_only_engine(engine))
    clock = overrides.pop("clock", None) or SystemClock()
    templates = overrides.pop("templates", None) or ExportTemplates()
    if overrides:
        raise TypeError(f"unknown overrides: {sorted(overrides)}")
    store = Spool(imaging.storage_path)
    archive.install(session_factory, templates=templates, imaging_store=lambda: store)
    return Runtime(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        clock=clock,
        imaging=imaging,
        mail=mail,
        store=store,
        templates=templates,
        read_session_factory=read_session_factory,
        registry=registry,
        eiv=eiv,
    )


def private_folder(path: Path) -> None:
    """Create ``path`` readable by the service's own user only (0700), and tighten it if it exists — except a
    shared folder with the sticky bit (``/tmp``, ``/var/tmp``): a database file placed there must not take the
    folder away from every other user of the machine (it did: ``sqlite:////tmp/x.sqlite`` made /tmp 0700)."""
    existed = path.is_dir()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if existed and path.stat().st_mode & stat.S_ISVTX:
        return
    os.chmod(path, 0o700)


def prepare_sqlite_file(settings: Settings) -> None:
    """The instance folder 0700 and the SQLite file 0600 (patient data), created before SQLite would create it
    with the process umask (usually 0644). SQLite gives its -wal and -shm files the mode of the database file."""
    private_folder(settings.instance_path)
    database = make_url(settings.database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    private_folder(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


def configure_logging(level: str) -> None:
    install_log_scrubber()  # no database error message reaches a log with the values that were written
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # WeasyPrint logs every rendering step at INFO; fontTools every subset; APScheduler two lines per job run (one
    # job runs every 10 s). Their warnings and errors still show; our jobs log what they did themselves.
    for noisy in ("weasyprint", "fontTools", "apscheduler.executors"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
