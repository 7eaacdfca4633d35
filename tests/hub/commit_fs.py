"""A filesystem that behaves like the Hugging Face Hub's (``HfFileSystem``) where it matters to the
hub's storage: every write is a commit that appears whole when it is made, there is no rename,
and folders exist only through the files in them.

The Hub itself cannot be reached from the test machines; the eval-data repo and the artifact store
run their whole flow on this instead, and the tests read its commit log.
"""

from __future__ import annotations

import io
import threading
from typing import Any

from fsspec import AbstractFileSystem


class _Upload(io.BytesIO):
    """A file being written: nothing is visible until it is closed, which commits it whole."""

    def __init__(self, fs: CommitFileSystem, path: str) -> None:
        super().__init__()
        self.fs, self.path = fs, path

    def close(self) -> None:
        if not self.closed:
            self.fs._commit("put", self.path, self.getvalue())
        super().close()


class CommitFileSystem(AbstractFileSystem):
    """Files in a dict, a log of commits, and no ``mv``: a caller that renames fails."""

    protocol = "commitfs"
    root_marker = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.files: dict[str, bytes] = {}
        self.commits: list[tuple[str, str]] = []  # (operation, path)
        self._lock = threading.Lock()

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        path = str(path)
        if path.startswith("commitfs://"):
            path = path[len("commitfs://") :]
        return path.strip("/")

    def _commit(self, operation: str, path: str, data: bytes | None) -> None:
        path = self._strip_protocol(path)
        with self._lock:
            if data is None:
                self.files.pop(path, None)
            else:
                self.files[path] = data
            self.commits.append((operation, path))

    # --- what callers use ---------------------------------------------------------------

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        path = self._strip_protocol(path)
        if "r" in mode:
            if path not in self.files:
                raise FileNotFoundError(path)
            return io.BytesIO(self.files[path])
        if "w" in mode:
            return _Upload(self, path)
        raise ValueError(f"mode {mode!r} is not offered by this store")

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        self._commit("put", path, bytes(value))

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        path = self._strip_protocol(path)
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path][start:end]

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        self._commit("copy", path2, self.cat_file(path1))

    def _rm(self, path: str) -> None:
        path = self._strip_protocol(path)
        if path in self.files:
            self._commit("delete", path, None)
        elif not self._children(path):
            raise FileNotFoundError(path)

    def rm_file(self, path: str) -> None:
        path = self._strip_protocol(path)
        if path not in self.files:
            raise FileNotFoundError(path)
        self._commit("delete", path, None)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        path = self._strip_protocol(path)
        if path in self.files:
            self._commit("delete", path, None)
            return
        inside = [p for p in list(self.files) if p.startswith(path + "/")]
        if not inside:
            raise FileNotFoundError(path)
        if not recursive:
            raise IsADirectoryError(path)
        with self._lock:  # one commit deletes a folder, as on the Hub
            for p in inside:
                self.files.pop(p, None)
            self.commits.append(("delete", path))

    def mv(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("this store has no rename: every write is a commit of its own")

    rename = move = mv

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        pass  # folders exist through their files

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        pass

    def _children(self, path: str) -> dict[str, str]:
        prefix = f"{path}/" if path else ""
        children: dict[str, str] = {}
        for p in list(self.files):
            if p.startswith(prefix):
                head, _, rest = p[len(prefix) :].partition("/")
                children[prefix + head] = "directory" if rest else "file"
        return children

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        if path in self.files:
            entries = [{"name": path, "type": "file", "size": len(self.files[path])}]
        else:
            children = self._children(path)
            if not children and path:
                raise FileNotFoundError(path)
            entries = [
                {"name": name, "type": kind, "size": len(self.files.get(name, b""))}
                for name, kind in sorted(children.items())
            ]
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        if path in self.files:
            return {"name": path, "type": "file", "size": len(self.files[path])}
        if self._children(path):
            return {"name": path, "type": "directory", "size": 0}
        raise FileNotFoundError(path)
