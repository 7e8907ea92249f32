"""Receipts: Message Disposition Notifications (RFC 8098) for processed mails, sent through the configured SMTP
server only after the mail's objects are durable and indexed, and at most once per mail: the row is marked sent
*before* the SMTP transaction (a crash in between loses a receipt instead of sending it twice); a refused SMTP
transaction clears the mark so that the next poll tries again. Nothing patient-related in subject or text."""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tumorboard.clock import Clock
from tumorboard.imaging.mail.config import MailSettings, Smtp
from tumorboard.imaging.mail.intake import RawStore
from tumorboard.imaging.mail.mime import read_headers
from tumorboard.imaging.mail.models import MailMessage, MailState

log = logging.getLogger(__name__)


def build_mdn(original: EmailMessage, *, our_address: str, to: str) -> EmailMessage:
    """``multipart/report; report-type=disposition-notification`` for ``original`` (processed automatically)."""
    report = EmailMessage()
    report["From"] = our_address
    report["To"] = to
    report["Subject"] = "Empfangsbestätigung (MDN)"
    report["Date"] = formatdate(localtime=False)
    report["Message-ID"] = make_msgid(domain=our_address.rpartition("@")[2] or "localhost")
    report["Auto-Submitted"] = "auto-replied"
    original_id = " ".join(str(original.get("Message-ID", "") or "").split())  # unfolded
    report.set_content("Die Nachricht wurde empfangen und verarbeitet.\nThe message was received and processed.\n")
    fields = [
        "Reporting-UA: tumorboard; mail intake",
        f"Final-Recipient: rfc822;{our_address}",
    ]
    if original_id:
        fields.append(f"Original-Message-ID: {original_id}")
    fields.append("Disposition: automatic-action/MDN-sent-automatically; processed")
    notification = EmailMessage()
    notification.set_content(
        ("\r\n".join(fields) + "\r\n").encode(),
        maintype="message",
        subtype="disposition-notification",
        cte="7bit",
    )
    report.make_mixed()
    report.attach(notification)
    report.set_type("multipart/report")
    report.set_param("report-type", "disposition-notification")
    return report


def recipient_of(original: EmailMessage) -> str:
    """Where the sender asked for the receipt (Disposition-Notification-To), else its From address."""
    for header in ("Disposition-Notification-To", "From"):
        address = parseaddr(str(original.get(header, "") or ""))[1]
        if address:
            return address
    return ""


def send_receipts(session_factory: sessionmaker[Session], clock: Clock, settings: MailSettings, raw: RawStore) -> int:
    """Send the receipt of every processed mail that has none yet; returns how many were sent."""
    if settings.smtp is None:
        return 0
    sent = 0
    with session_factory() as session, contextlib.ExitStack() as stack:
        due = session.scalars(
            select(MailMessage)
            .where(MailMessage.state == MailState.PROCESSED, MailMessage.mdn_sent_at.is_(None))
            .order_by(MailMessage.id)
        ).all()
        client: smtplib.SMTP | None = None
        for row in due:
            original = read_headers(raw.path(row.sha256))  # the headers only: a mail may be 50 MB
            to = recipient_of(original)
            row.mdn_sent_at = clock.now()
            session.commit()  # marked before sending: at most once
            if not to:
                continue
            try:
                if client is None:
                    client = stack.enter_context(_connect(settings.smtp, settings))
                client.send_message(build_mdn(original, our_address=settings.from_address, to=to))
            except (OSError, smtplib.SMTPException) as err:
                log.warning("receipt for mail %s not sent (%s); retried next poll", row.id, type(err).__name__)
                row.mdn_sent_at = None
                session.commit()
                break
            sent += 1
    return sent


def _connect(smtp: Smtp, settings: MailSettings) -> smtplib.SMTP:
    """One SMTP session for all receipts that are due (one connection per receipt cost more than the rest)."""
    context = ssl.create_default_context(cafile=str(settings.cafile) if settings.cafile else None)
    client: smtplib.SMTP
    if smtp.security == "tls":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, context=context, timeout=30)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=30)
    if smtp.security == "starttls":
        client.starttls(context=context)
    if smtp.user:
        client.login(smtp.user, smtp.password)
    return client
