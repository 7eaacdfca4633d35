"""Content-addressed artifact store, and the one way this hub writes an object to a store.

Blobs are named by their sha256 and written whole (:func:`put_object`), so a crash never leaves
a half-written file under a real name. Local paths are the default; any fsspec URL
(``s3://bucket/prefix``, ``hf://datasets/<owner>/<repo>``, ``memory://x``) selects another
backend.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from ..errors import NotFound

log = logging.getLogger(__name__)

_HEX = set("0123456789abcdef")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put_object(fs: AbstractFileSystem, path: str, data: bytes, tmp_dir: str | None = None) -> None:
    """Write ``data`` to ``path`` whole or not at all.

    On a local disk: a temp file (in ``tmp_dir``, on the same filesystem; default: beside
    ``path``, named ``.tmp-*``), flushed to disk, then ``os.replace``. On a store (S3, GCS, the
    Hugging Face Hub) one upload, which the store makes visible only once complete (a Hub upload
    is one commit); such stores have no rename, and need none.
    """
    if isinstance(fs, LocalFileSystem):
        write_file(path, data, tmp_dir=tmp_dir)
    else:
        fs.pipe_file(path, data)


def private_folder(path: str | os.PathLike[str]) -> None:
    """Create a local folder readable by this user only, and tighten it if it exists open to
    others (a home or eval-data folder an earlier version made)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o700)


def write_file(
    path: str | os.PathLike[str], data: bytes, *, tmp_dir: str | None = None, mode: int = 0o600
) -> None:
    """Write a local file whole or not at all, readable by this user only (``mode``): a temp
    file (in ``tmp_dir``, on the same filesystem; default: beside ``path``, named ``.tmp-*``),
    flushed to disk, then ``os.replace``. The hub's own records (run.json, demos.json, the
    admin's credentials) are written this way too."""
    parent, name = os.path.split(os.fspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(tmp_dir or parent, f".tmp-{uuid.uuid4().hex}-{name}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on one filesystem
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _check_digest(digest: str) -> str:
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise NotFound(f"no artifact {digest!r}: not a sha256 digest")
    return digest


class ArtifactStore:
    """put/get/delete of immutable blobs keyed by sha256."""

    def __init__(self, url: str | Path) -> None:
        self.url = str(url)
        self.fs, root = fsspec.url_to_fs(self.url)
        self.root = root.rstrip("/")
        self._local = isinstance(self.fs, LocalFileSystem)
        if self._local:  # half-written blobs wait here, where clean_tmp finds them
            self.fs.makedirs(f"{self.root}/tmp", exist_ok=True)
        # Blobs a put in flight holds until the row naming them is committed (see delete_unused).
        self._pins: Counter[str] = Counter()
        self._pins_lock = threading.Lock()

    def path(self, digest: str) -> str:
        _check_digest(digest)
        return f"{self.root}/{digest[:2]}/{digest[2:4]}/{digest}"

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self.path(digest)))

    def put(self, data: bytes, *, pin: bool = False) -> tuple[str, bool]:
        """Store ``data``; return its digest and whether this call created the blob. With
        ``pin``, the blob is held from before its existence is checked until :meth:`unpin`: no
        :meth:`delete_unused` removes it meanwhile, while the row that will name it is not yet
        committed (the same bytes may belong to a submission being deleted at that moment)."""
        digest = sha256_hex(data)
        if pin:
            with self._pins_lock:
                self._pins[digest] += 1
        try:
            final = self.path(digest)
            if self.fs.exists(final):
                return digest, False
            put_object(self.fs, final, data, tmp_dir=f"{self.root}/tmp" if self._local else None)
            return digest, True
        except BaseException:
            if pin:
                self.unpin([digest])
            raise

    def unpin(self, digests: list[str]) -> None:
        """Release what :meth:`put` pinned (once per pinning put)."""
        with self._pins_lock:
            for digest in digests:
                self._pins[digest] -= 1
                if self._pins[digest] <= 0:
                    del self._pins[digest]

    def delete_unused(self, digest: str, in_use: Callable[[], bool]) -> str:
        """Remove a blob no row names: ``"busy"`` (a put in flight holds it: kept), ``"named"``
        (``in_use()`` found a row: kept) or ``"removed"``. The hold and ``in_use()`` are checked
        under the lock pinning takes, so a put of the same bytes cannot land between the check and
        the removal. The lock is this process's: the hub's submits and removals all run in it.
        A standalone single-playground app on the same home (``python -m apps.playground_app``)
        submits from a process of its own, which this lock does not cover."""
        with self._pins_lock:
            if self._pins.get(digest):
                return "busy"
            if in_use():
                return "named"
            self.delete(digest)
            return "removed"

    def get(self, digest: str) -> bytes:
        path = self.path(digest)
        for attempt in range(2):
            try:
                with self.fs.open(path, "rb") as f:
                    return f.read()
            except FileNotFoundError:
                if self._local or attempt:
                    break
                # A store's filesystem caches folder listings (HfFileSystem's never expire): a
                # blob written since this process listed its folder looks missing until then.
                self.fs.invalidate_cache(path.rsplit("/", 1)[0])
        raise NotFound(f"artifact {digest} is missing from the store")

    def size(self, digest: str) -> int:
        return int(self.fs.size(self.path(digest)))

    def delete(self, digest: str) -> None:
        try:
            self.fs.rm(self.path(digest))
        except FileNotFoundError:
            pass

    def clean_tmp(self) -> int:
        """Remove temporary files left by a crash mid-write. Returns how many were removed."""
        removed = 0
        if not self._local:  # a store's uploads are whole or absent
            return removed
        for path in self.fs.ls(f"{self.root}/tmp", detail=False):
            self.fs.rm(path)
            removed += 1
        if removed:
            log.info("removed %d half-written artifact(s) left by an earlier crash", removed)
        return removed
