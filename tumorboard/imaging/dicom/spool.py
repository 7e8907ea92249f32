"""The image store: atomic placement of received objects (temp file → fsync → rename into a content-addressed
store) and the one place that knows where objects and previews live.

File names come from the SHA-256 of the bytes we hold, never from values the peer sent (pynetdicom #823/#1092).
Layout under the imaging folder: ``incoming/`` (temporary, same filesystem), ``objects/ab/<sha256>.dcm``,
``previews/<series id>.png``, ``quarantine/<sha256>.dcm`` (object files the start-up reconciliation could not
index).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import mmap
import os
import tempfile
from collections.abc import Callable, Iterator
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
    """The image store under one folder; every path into it comes from here."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / "incoming"
        self.objects = root / "objects"
        self.previews = root / "previews"

    def create_folders(self) -> None:
        """The store's folders, 0700 (the objects carry patient data; only the service's user reads them), including
        the 256 prefix folders of ``objects/`` once, made durable together: otherwise each of a new store's first
        few hundred instances pays a ``mkdir`` and an fsync of ``objects/`` while its sender waits."""
        for folder in (self.root, self.incoming, self.objects, self.previews):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
        made = False
        for n in range(256):
            prefix = self.objects / f"{n:02x}"
            if not prefix.is_dir():
                prefix.mkdir(mode=0o700, exist_ok=True)
                made = True
        if made:
            _fsync_dir(self.objects)

    def prepare(self, indexed: Callable[[str], bool] = lambda sha256: False, *, prefix: str = "") -> tuple[int, int]:
        """Create the folders and deal with the temp files a killed process left behind; returns how many were
        removed and how many recovered.

        A leftover is recovered — moved to its content address — when ``indexed(sha256)`` says the index has a
        row for its bytes while the object file is missing: the listener commits the row while the folder fsync
        after the rename is still running, so a crash in between can leave a committed row and a rename that
        did not reach the disk. Such a file was fsynced before the rename (and before the commit began), so its
        bytes are complete. Every other leftover (an interrupted transfer) is deleted.

        ``prefix``: only the temp files whose names begin with it (those of one dead worker process, while the
        others keep receiving)."""
        self.create_folders()
        removed = recovered = 0
        for leftover in self.incoming.iterdir():
            if not leftover.name.startswith(prefix):
                continue
            sha256 = file_digest(leftover)
            if not self.object_path(sha256).exists() and indexed(sha256):
                self.move(leftover, sha256, leftover.stat().st_size)
                recovered += 1
            else:
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed, recovered

    def use_for_temporary_files(self) -> None:
        # pynetdicom writes chunked datasets with NamedTemporaryFile() in the default temp folder; pointing it
        # at incoming/ keeps them on the store's filesystem (atomic rename, no copy) and lets prepare() clean up
        # after a crash. The listener is its own process, so the process-wide setting is ours to make.
        tempfile.tempdir = str(self.incoming)

    def path(self, relative: str) -> Path:
        return self.root / relative

    @staticmethod
    def object_relative(sha256: str) -> str:
        """Where the object with these bytes lives, relative to the store root: ``objects/ab/ab12….dcm``."""
        return f"objects/{sha256[:2]}/{sha256}.dcm"

    def object_path(self, sha256: str) -> Path:
        return self.root / self.object_relative(sha256)

    @staticmethod
    def preview_name(series_id: int) -> str:
        """The file name of a series' preview in ``previews/``."""
        return f"{series_id}.png"

    @staticmethod
    def preview_relative(name: str) -> str:
        return f"previews/{name}"

    def preview_path(self, name: str) -> Path:
        """The preview file of that name (a name of the shape :meth:`preview_name` gives; callers check)."""
        return self.root / self.preview_relative(name)

    def place(self, temp: Path) -> Stored:
        """Hash and fsync ``temp`` (inside ``incoming/``), then move it to its content address."""
        with _space_errors(temp):
            sha256, size = file_digest(temp), temp.stat().st_size
        self.sync(temp)
        return self.move(temp, sha256, size)

    # The listener runs the three steps of place() itself so that they overlap with its other work: sync() in a
    # worker thread as soon as the object has arrived, the hash over its memory map, move() once both are done.
    def sync(self, temp: Path) -> None:
        """Make the bytes of ``temp`` durable."""
        with _space_errors(temp):
            fd = os.open(temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def move(self, temp: Path, sha256: str, size: int, *, sync_folder: bool = True) -> Stored:
        """Move the already durable ``temp`` to the address of its SHA-256 (or drop it when identical bytes are
        already there) and make the new directory entry durable — unless ``sync_folder`` is False: then the
        caller runs :meth:`sync_folder` itself before it reports the object stored."""
        relative = self.object_relative(sha256)
        target = self.root / relative
        with _space_errors(temp):
            if target.exists():
                temp.unlink(missing_ok=True)
                return Stored(sha256, size, relative, created=False)
            try:
                os.replace(temp, target)
            except FileNotFoundError:
                if not temp.exists():
                    raise
                # First object of this prefix: its folder, made durable in objects/ before anything relies on it
                # (a mkdir per object cost a syscall under the folder lock on every instance).
                target.parent.mkdir(mode=0o700, exist_ok=True)
                _fsync_dir(self.objects)
                os.replace(temp, target)
            if sync_folder:
                _fsync_dir(target.parent)
        return Stored(sha256, size, relative, created=True)

    def sync_folder(self, stored: Stored) -> None:
        """Make the directory entry of a just moved object durable."""
        _fsync_dir((self.root / stored.relative).parent)

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

    def quarantine(self, sha256: str) -> Path:
        """Move an object file the index cannot take to ``quarantine/`` (kept for an administrator)."""
        folder = self.root / "quarantine"
        folder.mkdir(exist_ok=True)
        target = folder / f"{sha256}.dcm"
        os.replace(self.object_path(sha256), target)
        return target

    def remove(self, relative: str) -> None:
        (self.root / relative).unlink(missing_ok=True)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def digest(view: mmap.mmap | io.BytesIO) -> str:
    """SHA-256 of a memory-mapped (or in-memory) file; hashlib releases the GIL while it works on large buffers."""
    return hashlib.sha256(view.getbuffer() if isinstance(view, io.BytesIO) else view).hexdigest()


@contextlib.contextmanager
def _space_errors(temp: Path) -> Iterator[None]:
    """On any OS error: the temp file goes; a full filesystem becomes :class:`OutOfSpace`."""
    try:
        yield
    except OSError as err:
        temp.unlink(missing_ok=True)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OutOfSpace from err
        raise


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
