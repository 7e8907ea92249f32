"""``tumorboard mail …``: the DICOM E-Mail poller."""

from __future__ import annotations

import signal
import threading

import click

from tumorboard.cli_support import handles_errors, runtime


@click.group()
def mail() -> None:
    """DICOM E-Mail intake: mailbox polling."""


@mail.command("poll")
@click.option("--once", is_flag=True, help="one pass over every mailbox, then exit")
@handles_errors
def poll(once: bool) -> None:
    """Fetch DICOM E-Mails from the configured mailboxes (TUMORBOARD_MAIL_IMAP_URLS) in the foreground."""
    from tumorboard.cases.documents import DocumentStore
    from tumorboard.imaging.mail.intake import MailIntake
    from tumorboard.imaging.mail.poller import run_poller

    rt = runtime()
    if not rt.mail.mailboxes:
        raise click.UsageError("TUMORBOARD_MAIL_IMAP_URLS ist leer: kein Postfach konfiguriert")
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    intake = MailIntake(
        rt.session_factory,
        rt.clock,
        rt.store,
        rt.mail,
        DocumentStore(rt.settings.instance_path / "documents"),
        index_timeout=float(rt.imaging.index_timeout_s),
    )
    try:
        run_poller(rt.session_factory, rt.clock, intake, rt.mail, once=once, stop=stop)
    except KeyboardInterrupt:
        pass
    finally:
        intake.close()
