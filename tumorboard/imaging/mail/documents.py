"""PDF findings that came by DICOM E-Mail: onto the case their study is matched to.

The intake keeps each finding in the document store with the Study Instance UID of the mail's objects
(:class:`~tumorboard.imaging.mail.models.MailDocument`) and attaches it at once when that study already has a
case; one whose study is still in the triage inbox is attached by the ``imaging.attach_mail_documents`` job once
a coordinator has matched it. Attaching is a case document like an upload (kind "Befund", audited as
``case:document:add`` with the mail's row id), so the case page shows it to whoever may see the case."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.auth.actors import Actor
from tumorboard.cases.documents import add_received_document
from tumorboard.cases.models import Case
from tumorboard.imaging.mail.models import MailDocument
from tumorboard.imaging.models import ImagingStudy


def attach_mail_documents(
    session: Session, documents: Sequence[MailDocument] | None = None, *, at: dt.datetime, actor: Actor
) -> int:
    """Attach ``documents`` (default: every one not attached yet) whose study has a case; returns how many."""
    if documents is None:
        documents = session.scalars(
            select(MailDocument).where(MailDocument.case_document_id.is_(None)).order_by(MailDocument.id)
        ).all()
    attached = 0
    for doc in documents:
        if doc.case_document_id is not None:
            continue
        case_id = session.scalar(select(ImagingStudy.case_id).where(ImagingStudy.study_uid == doc.study_uid))
        case = session.get(Case, case_id) if case_id is not None else None
        if case is None:
            continue
        made = add_received_document(
            session,
            case,
            stored_name=doc.stored_name,
            original_name=doc.name,
            size=doc.size_bytes,
            sha256=doc.sha256,
            source={"mail_message_id": doc.mail_message_id},
            at=at,
            actor=actor,
        )
        doc.case_document_id = made.id
        attached += 1
    session.flush()
    return attached
