"""Start-up reconciliation of the image store with the index: run by the listener before it accepts associations.

After it, every object file in ``objects/`` has a live index row and every live index row has its file:

- an object file without any row (renamed into place, then the process died before its commit — its sender
  never got a success) is indexed under its series' or study's partner; when neither is known (the first
  instance of a new study), nobody can say which partner sent it, so it is moved to ``quarantine/`` for an
  administrator and the partner's resend indexes it;
- an object file whose rows are all deleted (a retention purge that died between its commit and the file
  removal) is removed, finishing the purge;
- a live row whose file is gone (lost outside our control) is removed with its counts, so a resend indexes the
  instance again.

Each repair is logged by internal ids only and audited (``imaging:store:reconcile``). The caller commits, then
removes the files returned in :attr:`Reconciled.remove_after_commit`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pydicom.filereader import read_file_meta_info
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.imaging.dicom.dataset import read_header
from tumorboard.imaging.dicom.spool import Spool, file_digest
from tumorboard.imaging.index import ingest_instance
from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Reconciled:
    #: Instance ids of object files that had no row and were indexed.
    indexed: tuple[int, ...] = ()
    #: How many object files without a row could not be indexed and went to ``quarantine/``.
    quarantined: int = 0
    #: Instance ids of live rows whose file was missing (removed).
    missing: tuple[int, ...] = ()
    #: Store paths of purged instances' files, to remove once the caller has committed.
    remove_after_commit: tuple[str, ...] = ()

    @property
    def repaired(self) -> bool:
        return bool(self.indexed or self.quarantined or self.missing or self.remove_after_commit)


def reconcile_store(session: Session, store: Spool, *, at: dt.datetime, actor: Actor) -> Reconciled:
    """Bring store and index into agreement (see the module docstring); flushes and audits, never commits."""
    on_disk = _object_files(store)
    live: dict[str, list[int]] = {}
    purged: set[str] = set()
    for instance_id, sha256, deleted_at in session.execute(
        select(ImagingInstance.id, ImagingInstance.sha256, ImagingInstance.deleted_at)
    ).all():
        if deleted_at is None:
            live.setdefault(sha256, []).append(instance_id)
        else:
            purged.add(sha256)

    indexed: list[int] = []
    quarantined = 0
    remove: list[str] = []
    for sha256, path in sorted(on_disk.items()):
        if sha256 in live:
            continue
        if sha256 in purged:
            remove.append(store.object_relative(sha256))
            continue
        new_id = _index_orphan(session, store, path, sha256, at=at, actor=actor)
        if new_id is None:
            store.quarantine(sha256)
            quarantined += 1
        else:
            indexed.append(new_id)

    missing = [i for sha256, ids in live.items() if sha256 not in on_disk for i in ids]
    if missing:
        _remove_rows(session, missing)

    result = Reconciled(tuple(indexed), quarantined, tuple(sorted(missing)), tuple(remove))
    if result.repaired:
        record_event(
            session,
            actor=actor,
            tag=Tag.IMAGING_STORE_RECONCILE,
            subject_type=SubjectType.IMAGING_STORE,
            subject_id="-",
            at=at,
            after={
                "indexed_instance_ids": list(result.indexed),
                "quarantined_files": quarantined,
                "missing_instance_ids": list(result.missing),
                "purged_files_removed": len(remove),
            },
        )
        log.warning(
            "store reconciled: %d files indexed (instances %s), %d quarantined, %d rows without file removed "
            "(instances %s), %d purged files removed",
            len(result.indexed),
            list(result.indexed),
            quarantined,
            len(result.missing),
            list(result.missing),
            len(remove),
        )
    session.flush()
    return result


def _object_files(store: Spool) -> dict[str, Path]:
    """sha256 → path of every object file in the shape we write (anything else is not ours to judge)."""
    found: dict[str, Path] = {}
    if not store.objects.is_dir():
        return found
    for folder in os.scandir(store.objects):
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder.path):
            sha256 = entry.name.removesuffix(".dcm")
            if entry.name.endswith(".dcm") and _SHA256.match(sha256) and folder.name == sha256[:2]:
                found[sha256] = Path(entry.path)
    return found


def _index_orphan(
    session: Session, store: Spool, path: Path, sha256: str, *, at: dt.datetime, actor: Actor
) -> int | None:
    """Index an object file that has no row, under the partner that sent its series or study; ``None`` when the
    file is unreadable, not the bytes its name says, or of a study nobody sent before."""
    try:
        if file_digest(path) != sha256:
            return None
        meta = read_file_meta_info(path)
        header = read_header(
            path,
            sop_class_uid=str(meta.MediaStorageSOPClassUID),
            sop_instance_uid=str(meta.MediaStorageSOPInstanceUID),
            transfer_syntax_uid=str(meta.TransferSyntaxUID),
        )
    except Exception as err:  # BadDataset, OSError, and the many errors pydicom raises for broken files
        log.warning("store reconciliation: object file %s… not indexable (%s)", sha256[:12], type(err).__name__)
        return None
    partner_id = session.scalar(
        select(ImagingStudy.partner_id)
        .join(ImagingSeries, ImagingSeries.study_id == ImagingStudy.id)
        .where(ImagingSeries.series_uid == header.series_uid)
    ) or session.scalar(select(ImagingStudy.partner_id).where(ImagingStudy.study_uid == header.study_uid))
    if partner_id is None:
        return None
    result = ingest_instance(
        session,
        header,
        sha256=sha256,
        size=path.stat().st_size,
        partner_id=partner_id,
        calling_ae_title="",
        peer_address="",
        at=at,
        actor=actor,
    )
    return result.instance_id


def _remove_rows(session: Session, instance_ids: list[int]) -> None:
    """Remove rows whose file is gone, and their share of the series' and studies' counts."""
    rows = session.execute(
        select(ImagingInstance.id, ImagingInstance.series_id, ImagingInstance.conflicting, ImagingSeries.study_id)
        .join(ImagingSeries, ImagingSeries.id == ImagingInstance.series_id)
        .where(ImagingInstance.id.in_(instance_ids))
    ).all()
    for _, series_id, conflicting, study_id in rows:
        if conflicting:
            continue  # a conflicting copy was never counted
        session.execute(
            update(ImagingSeries)
            .where(ImagingSeries.id == series_id)
            .values(instance_count=ImagingSeries.instance_count - 1)
        )
        session.execute(
            update(ImagingStudy)
            .where(ImagingStudy.id == study_id)
            .values(instance_count=ImagingStudy.instance_count - 1)
        )
    session.execute(delete(ImagingInstance).where(ImagingInstance.id.in_(instance_ids)))
