"""Content-addressed artifact store.

Blobs are named by their sha256 and written under a temporary name first, then renamed, so a
crash never leaves a half-written file under a real name. Local paths are the default; any
fsspec URL (``s3://bucket/prefix``, ``memory://x``) selects another backend.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ..errors import NotFound

log = logging.getLogger(__name__)

_HEX = set("0123456789abcdef")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
        self.fs.makedirs(f"{self.root}/tmp", exist_ok=True)

    def path(self, digest: str) -> str:
        _check_digest(digest)
        return f"{self.root}/{digest[:2]}/{digest[2:4]}/{digest}"

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self.path(digest)))

    def put(self, data: bytes) -> tuple[str, bool]:
        """Store ``data``; return its digest and whether this call created the blob."""
        digest = sha256_hex(data)
        final = self.path(digest)
        if self.fs.exists(final):
            return digest, False
        tmp = f"{self.root}/tmp/{uuid.uuid4().hex}"
        with self.fs.open(tmp, "wb") as f:
            f.write(data)
            if self._local:
                f.flush()
                os.fsync(f.fileno())
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        if self._local:
            os.replace(tmp, final)  # atomic on one filesystem
        else:
            self.fs.mv(tmp, final)
        return digest, True

    def get(self, digest: str) -> bytes:
        try:
            with self.fs.open(self.path(digest), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise NotFound(f"artifact {digest} is missing from the store") from None

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
        for path in self.fs.ls(f"{self.root}/tmp", detail=False):
            self.fs.rm(path)
            removed += 1
        if removed:
            log.info("removed %d half-written artifact(s) left by an earlier crash", removed)
        return removed
