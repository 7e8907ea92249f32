"""Atomic placement of received objects: temp file → fsync → rename into a content-addressed store.

File names come from the SHA-256 of the bytes we hold, never from values the peer sent (pynetdicom #823/#1092).
Layout under the imaging folder: ``incoming/`` (temporary, same filesystem), ``objects/ab/<sha256>.dcm``,
``previews/<series id>.png``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1024 * 1024


class OutOfSpace(Exception):
    """The store's filesystem is full (ENOSPC/EDQUOT): the listener answers 0xA700."""


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    #: Path relative to the store root, e.g. "objects/ab/ab12….dcm".
    relative: str
    #: False when an identical file was already in place (same bytes sent again).
    created: bool


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / "incoming"
        self.objects = root / "objects"
        self.previews = root / "previews"

    def prepare(self) -> int:
        """Create the folders and delete temp files a killed process left behind; returns how many."""
        for folder in (self.incoming, self.objects, self.previews):
            folder.mkdir(parents=True, exist_ok=True)
        removed = 0
        for leftover in self.incoming.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def use_for_temporary_files(self) -> None:
        # pynetdicom writes chunked datasets with NamedTemporaryFile() in the default temp folder; pointing it
        # at incoming/ keeps them on the store's filesystem (atomic rename, no copy) and lets prepare() clean up
        # after a crash. The listener is its own process, so the process-wide setting is ours to make.
        tempfile.tempdir = str(self.incoming)

    def path(self, relative: str) -> Path:
        return self.root / relative

    def place(self, temp: Path) -> Stored:
        """Hash and fsync ``temp`` (inside ``incoming/``), then move it to its content address."""
        digest = hashlib.sha256()
        size = 0
        try:
            with open(temp, "rb+") as fh:
                while block := fh.read(CHUNK):
                    digest.update(block)
                    size += len(block)
                os.fsync(fh.fileno())
            sha = digest.hexdigest()
            relative = f"objects/{sha[:2]}/{sha}.dcm"
            target = self.root / relative
            if target.exists():
                temp.unlink(missing_ok=True)
                return Stored(sha, size, relative, created=False)
            target.parent.mkdir(exist_ok=True)
            os.replace(temp, target)
            _fsync_dir(target.parent)
        except OSError as err:
            temp.unlink(missing_ok=True)
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise OutOfSpace from err
            raise
        return Stored(sha, size, relative, created=True)

    def write_temp(self, data: bytes) -> Path:
        """Write bytes to a new temp file in ``incoming/`` (the non-chunked path and tests)."""
        fd, name = tempfile.mkstemp(dir=self.incoming, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        except OSError as err:
            Path(name).unlink(missing_ok=True)
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise OutOfSpace from err
            raise
        return Path(name)

    def remove(self, relative: str) -> None:
        (self.root / relative).unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
