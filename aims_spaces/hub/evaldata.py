"""The private eval-data repo: one `datasets` dataset per playground, behind an fsspec URL.

The URL may be a local folder (the default, ``<home>/evaldata``), an object store
(``s3://bucket/evaldata``) or a private Hugging Face dataset repo (``hf://datasets/<owner>/<repo>``):
the same code writes and reads all three, and the evaluators on any node of a cluster read the
data through the URL their job carries, never through a path on the hub's disk.

Layout under the root, per playground (keyed by a random ``eval_data_id``, never by name)::

    <id>/labels.parquet     label, is_public   -- private: read only by evaluators
    <id>/features.parquet   the eval features  -- members may download
    <id>/example.parquet    a few example rows -- members may download
    <id>/manifest.json      written last: the id is complete
    <id>/train-<uuid>.parquet  training data the owner hands out -- members may download
    <id>/train.json         which train file is current, its target, columns and size

Each part is one object written whole (:func:`~aims_spaces.hub.storage.put_object`: temp file
and rename on a disk, one upload or one commit on a store, none of which has a rename), and an
id counts only once its manifest exists, so a crash never leaves a half-written dataset that
looks complete. Training data is replaced by writing a new file and then ``train.json``, which
names it: readers see the old data or the new, never a mix. What a crash leaves behind (an id
without a manifest, a train file no ``train.json`` names) is removed at the hub's start
(:meth:`EvalDataRepo.clean_tmp`).

The parts are Parquet files written by `datasets` (its features kept in the schema), so a Hub
repo holding them loads with ``datasets.load_dataset`` as well.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd

from ..errors import NotFound
from .storage import private_folder, put_object

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
TRAIN_POINTER = "train.json"
_TRAIN_PREFIX = "train-"
_PARTS = ("labels", "features", "example")
# What the hub names things in the repo: ids (uuid4().hex), train files, its own temp files.
# Nothing else under the root is touched, whatever else the folder or bucket holds.
_ID = re.compile(r"[0-9a-f]{32}")
_TRAIN_FILE = re.compile(r"train-[0-9a-f]{32}\.parquet")


@dataclass(frozen=True)
class EvalLabels:
    labels: np.ndarray  # object array (classification) or float64 (regression)
    is_public: np.ndarray  # bool


@dataclass(frozen=True)
class TrainingMeta:
    """What the repo keeps beside a playground's training data (``train_columns.json``)."""

    rows: int
    columns: list[tuple[str, str]]  # (name, dtype as the stored dataset has it)
    target: str | None
    data_bytes: int  # what the upload counted toward its owner's storage limit
    updated_at: datetime
    descriptions: dict[str, str] = field(default_factory=dict)


def _parquet_from_frame(df: pd.DataFrame) -> tuple[bytes, Any]:
    """``df`` as Parquet bytes written by `datasets` (its features in the schema), and the
    dataset's features."""
    import datasets
    from datasets import Dataset

    datasets.disable_progress_bars()  # a hub log is not a terminal
    dataset = Dataset.from_pandas(df, preserve_index=False)
    buffer = io.BytesIO()
    dataset.to_parquet(buffer)
    return buffer.getvalue(), dataset


def _frame_from_parquet(data: bytes) -> pd.DataFrame:
    import pyarrow.parquet as pq
    from datasets import Dataset
    from datasets.table import InMemoryTable

    # Through `datasets`, which restores its features from the schema, as load_from_disk did.
    return Dataset(InMemoryTable(pq.read_table(io.BytesIO(data)))).to_pandas()


def _dtype_name(feature: Any) -> str:
    """A column's type as `datasets` names it (``float64``, ``string``, ``binary``, ...); Arrow's
    64-bit-offset variants by their plain names (pandas' ``str`` columns arrive as
    ``large_string``)."""
    name = str(getattr(feature, "dtype", None) or type(feature).__name__)
    return name.removeprefix("large_")


def ensure_private_hf_repo(repo_id: str, api: Any = None) -> None:
    """Create the Hugging Face dataset repo ``repo_id`` private if it is missing, and refuse one
    that is public: the repo holds the hidden labels. The token comes from the usual Hugging
    Face settings (``HF_TOKEN``, ``huggingface-cli login``)."""
    from huggingface_hub import HfApi

    api = api or HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=True, exist_ok=True)
    if not api.repo_info(repo_id, repo_type="dataset").private:
        raise ValueError(
            f"the eval-data repo {repo_id} on Hugging Face is public: hidden labels must not be "
            "published; make it private or choose another AIMS_EVALDATA_URL"
        )


class EvalDataRepo:
    """The playgrounds' private eval data: labels and the secret public/private row split (read
    only by evaluators), eval features and example rows (members may download them), and the
    training data owners hand out.

    Args:
        url: an fsspec URL or a local path. Constructing touches nothing; the hub calls
            :meth:`prepare` once at its start (evaluators only read).
    """

    def __init__(self, url: str | Path) -> None:
        self.fs, root = fsspec.url_to_fs(str(url))
        self.root = root.rstrip("/")
        # Local paths travel absolute: an evaluator resolves them in a worker's own folder.
        self.url = self.root if self._local else str(url)

    def prepare(self) -> None:
        """Make the root (a private repo on the Hugging Face Hub), and bring data an earlier
        version kept in the old layout into this one."""
        if "hf" in _protocols(self.fs):
            parts = self.root.split("/")
            if len(parts) < 3 or parts[0] != "datasets":
                raise ValueError(f"AIMS_EVALDATA_URL {self.url!r}: expected hf://datasets/<owner>/<repo>")
            ensure_private_hf_repo("/".join(parts[1:3]))
        if self._local:
            private_folder(self.root)  # the hub's user's alone, wherever it is: the labels live here
            _migrate_folders(self)
        else:
            self.fs.makedirs(self.root, exist_ok=True)

    @property
    def _local(self) -> bool:
        return "file" in _protocols(self.fs)

    def _dir(self, eval_data_id: str) -> str:
        if not eval_data_id or not eval_data_id.isalnum():
            raise NotFound(f"no eval data {eval_data_id!r}")
        return f"{self.root}/{eval_data_id}"

    def _has(self, path: str) -> bool:
        """Whether ``path`` exists. Only "not found" means no: fsspec's ``exists`` says no on any
        error (a store's 429 or 5xx included), which here would make a complete id look
        unfinished."""
        try:
            self.fs.info(path)
        except FileNotFoundError:
            return False
        return True

    def _complete(self, eval_data_id: str) -> str:
        """The folder of a complete id (its manifest written), else NotFound."""
        folder = self._dir(eval_data_id)
        if not self._has(f"{folder}/{MANIFEST}"):
            raise NotFound(f"no eval data {eval_data_id!r}")
        return folder

    def _put(self, path: str, data: bytes) -> None:
        put_object(self.fs, path, data)

    def _read(self, path: str) -> bytes | None:
        try:
            return bytes(self.fs.cat_file(path))
        except FileNotFoundError:
            return None

    def save(
        self,
        *,
        labels: np.ndarray,
        is_public: np.ndarray,
        features: pd.DataFrame | None,
        example: pd.DataFrame | None,
        eval_data_id: str | None = None,
    ) -> str:
        """Write a playground's eval data under ``eval_data_id`` (default: a new one, see
        :meth:`new_id`); return the id. The manifest goes last: until it is written, the id does
        not exist for any reader."""
        eval_data_id = eval_data_id or self.new_id()
        folder = self._dir(eval_data_id)
        label_col = (
            labels if labels.dtype.kind == "f" else [str(v) if isinstance(v, str) else v for v in labels]
        )
        frames = {
            "labels": pd.DataFrame({"label": label_col, "is_public": is_public.astype(bool)}),
            "features": features,
            "example": example,
        }
        written = []
        try:
            self.fs.makedirs(folder, exist_ok=True)
            for part, frame in frames.items():
                if frame is not None:
                    self._put(f"{folder}/{part}.parquet", _parquet_from_frame(frame)[0])
                    written.append(part)
            manifest = {"parts": written, "created_at": datetime.now(UTC).isoformat()}
            self._put(f"{folder}/{MANIFEST}", json.dumps(manifest).encode())
        except BaseException:
            self._remove(folder)
            raise
        return eval_data_id

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def delete(self, eval_data_id: str) -> None:
        folder = self._dir(eval_data_id)
        # The manifest first: a delete cut short leaves an incomplete id, which no reader takes
        # and the next start removes.
        try:
            self.fs.rm_file(f"{folder}/{MANIFEST}")
        except FileNotFoundError:
            pass
        self._remove(folder)

    def _remove(self, folder: str) -> None:
        try:
            self.fs.rm(folder, recursive=True)
        except FileNotFoundError:
            pass

    def _remove_file(self, path: str) -> None:
        """Remove one file; a failure is logged (the next start's clean-up finishes it)."""
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            log.warning("could not remove %s (%s); the next start removes it", path.rsplit("/", 1)[-1], e)

    def labels(self, eval_data_id: str) -> EvalLabels:
        df = self._load(eval_data_id, "labels")
        labels = df["label"].to_numpy()
        if labels.dtype.kind not in "f":
            labels = np.array(df["label"].tolist(), dtype=object)
        return EvalLabels(labels=labels, is_public=df["is_public"].to_numpy(dtype=bool))

    def features(self, eval_data_id: str) -> pd.DataFrame | None:
        return self._load(eval_data_id, "features", optional=True)

    def example(self, eval_data_id: str) -> pd.DataFrame | None:
        return self._load(eval_data_id, "example", optional=True)

    def _load(self, eval_data_id: str, part: str, optional: bool = False) -> pd.DataFrame:
        data = self._read(f"{self._complete(eval_data_id)}/{part}.parquet")
        if data is None:
            if optional:
                return None  # type: ignore[return-value]
            raise NotFound(f"eval data {eval_data_id} has no {part}")
        return _frame_from_parquet(data)

    # --- training data --------------------------------------------------------------------

    def _pointer(self, folder: str) -> dict[str, Any] | None:
        """``train.json`` of ``folder``: which train file is current and what it holds."""
        data = self._read(f"{folder}/{TRAIN_POINTER}")
        if data is None:
            return None
        try:
            doc = json.loads(data)
        except ValueError:  # written whole, so unreadable only if someone edited it
            log.warning("training data in %s has no readable %s", folder.rsplit("/", 1)[-1], TRAIN_POINTER)
            return None
        if not isinstance(doc, dict) or not _TRAIN_FILE.fullmatch(str(doc.get("file"))):
            # Only ever a name the hub gave: never a path that reaches past the train file.
            log.warning("training data in %s names no train file", folder.rsplit("/", 1)[-1])
            return None
        return doc

    def save_training(
        self,
        eval_data_id: str,
        frame: pd.DataFrame,
        descriptions: dict[str, str] | None = None,
        *,
        target: str | None = None,
        data_bytes: int = 0,
    ) -> TrainingMeta:
        """Store ``frame`` as the playground's training data, replacing any earlier one.

        The new data goes to a file of its own, then ``train.json`` is replaced to name it, then
        the old file is deleted: a reader sees the old data or the new, and a failure before
        ``train.json`` is replaced leaves the old data in place.

        Args:
            descriptions: column name -> description (checked by the caller).
            target: the column participants predict, if the data has one.
            data_bytes: what the upload counts toward its owner's storage limit, kept so that
                replacing or deleting it can give those bytes back.
        """
        folder = self._complete(eval_data_id)
        before = self._pointer(folder)
        meta = self._write_training(folder, frame, target, data_bytes, datetime.now(UTC), descriptions or {})
        if before is not None:
            self._remove_file(f"{folder}/{before['file']}")
        return meta

    def _write_training(
        self,
        folder: str,
        frame: pd.DataFrame,
        target: str | None,
        data_bytes: int,
        updated_at: datetime,
        descriptions: dict[str, str],
    ) -> TrainingMeta:
        """Write ``frame`` to a train file of its own, then ``train.json`` naming it."""
        name = f"{_TRAIN_PREFIX}{uuid.uuid4().hex}.parquet"
        data, dataset = _parquet_from_frame(frame)
        meta = TrainingMeta(
            rows=int(dataset.num_rows),
            columns=[(str(col), _dtype_name(f)) for col, f in dataset.features.items()],
            target=target,
            data_bytes=int(data_bytes),
            updated_at=updated_at,
            descriptions=dict(descriptions),
        )
        try:
            self._put(f"{folder}/{name}", data)
            self._put(f"{folder}/{TRAIN_POINTER}", json.dumps(_pointer_doc(name, meta)).encode())
        except BaseException:
            self._remove_file(f"{folder}/{name}")
            raise
        return meta

    def training(self, eval_data_id: str) -> pd.DataFrame | None:
        """The playground's training data, or None when its owner has given none."""
        folder = self._complete(eval_data_id)
        pointer = self._pointer(folder)
        data = self._read(f"{folder}/{pointer['file']}") if pointer else None
        return _frame_from_parquet(data) if data is not None else None

    def training_meta(self, eval_data_id: str) -> TrainingMeta | None:
        """Rows, columns, target, size and column descriptions of the training data, or None
        when there is none."""
        doc = self._pointer(self._complete(eval_data_id))
        if doc is None:
            return None
        return TrainingMeta(
            rows=int(doc.get("rows", 0)),
            columns=[(str(c[0]), str(c[1])) for c in doc.get("columns", [])],
            target=doc.get("target"),
            data_bytes=int(doc.get("data_bytes", 0)),
            updated_at=datetime.fromisoformat(doc["updated_at"]),
            descriptions={str(k): str(v) for k, v in doc.get("descriptions", {}).items()},
        )

    def training_descriptions(self, eval_data_id: str) -> dict[str, str]:
        """Column name -> description of the training data (empty when there is none)."""
        meta = self.training_meta(eval_data_id)
        return dict(meta.descriptions) if meta is not None else {}

    def delete_training(self, eval_data_id: str) -> TrainingMeta | None:
        """Delete the training data; return what it was (None when there was none)."""
        folder = self._complete(eval_data_id)
        meta = self.training_meta(eval_data_id)
        pointer = self._pointer(folder)
        if meta is None or pointer is None:
            return None
        self.fs.rm_file(f"{folder}/{TRAIN_POINTER}")
        self._remove_file(f"{folder}/{pointer['file']}")
        return meta

    def carry_training(self, from_id: str, to_id: str) -> None:
        """Copy the training data to another eval-data id of the same playground (its eval data
        is being replaced under a new id; the training data stays what it was). The first id
        keeps its copy until it is deleted, so a replacement that fails loses nothing."""
        source, target = self._complete(from_id), self._complete(to_id)
        pointer = self._pointer(source)
        if pointer is None:
            return
        if self._pointer(target) is not None:
            raise FileExistsError(f"eval data {to_id} already has training data")
        self.fs.cp_file(f"{source}/{pointer['file']}", f"{target}/{pointer['file']}")
        self._put(f"{target}/{TRAIN_POINTER}", json.dumps(pointer).encode())

    def clean_tmp(self) -> None:
        """Remove what a crash left half-done (run at the hub's start, before any request): ids
        without a manifest, train files ``train.json`` does not name, temp files. Only names the
        hub gives are looked at; whatever else the folder or bucket holds is left alone."""
        try:
            entries = self.fs.ls(self.root, detail=True)
        except FileNotFoundError:  # a store's folder exists only once something is in it
            return
        for entry in entries:
            path = entry["name"].rstrip("/")
            name = path.rsplit("/", 1)[-1]
            if name.startswith(".tmp-") and entry["type"] != "directory":  # put_object's
                self._remove_file(path)
                continue
            if entry["type"] != "directory" or not _ID.fullmatch(name):
                continue
            # The listing, not exists(): an error while listing stops the clean-up, where
            # exists() would have said "no manifest" and the id would have gone.
            children = {c.rstrip("/").rsplit("/", 1)[-1]: c for c in self.fs.ls(path, detail=False)}
            if MANIFEST not in children:
                log.info("removing eval data %s, left unfinished by an earlier crash", name)
                self._remove(path)
                continue
            pointer = self._pointer(path) if TRAIN_POINTER in children else None
            if TRAIN_POINTER in children and pointer is None:
                continue  # unreadable: which train file is current is unknown, so none goes
            current = pointer["file"] if pointer else None
            for child_name, child in children.items():
                unnamed_train = _TRAIN_FILE.fullmatch(child_name) and child_name != current
                if unnamed_train or child_name.startswith(".tmp-"):
                    self._remove_file(child)


def _pointer_doc(name: str, meta: TrainingMeta) -> dict[str, Any]:
    return {
        "file": name,
        "rows": meta.rows,
        "columns": [list(c) for c in meta.columns],
        "target": meta.target,
        "data_bytes": meta.data_bytes,
        "updated_at": meta.updated_at.isoformat(),
        "descriptions": meta.descriptions,
    }


def _protocols(fs: Any) -> set[str]:
    protocol = fs.protocol
    return {protocol} if isinstance(protocol, str) else set(protocol)


def _migrate_folders(repo: EvalDataRepo) -> None:
    """Rewrite ids kept by earlier versions as `datasets` folders on disk (``labels/``,
    ``features/``, ``example/``, ``train/`` + ``train_columns.json``) in this layout. Runs before
    :meth:`EvalDataRepo.clean_tmp`, which would take such a folder for an unfinished id."""
    import shutil

    root = Path(repo.root)
    for folder in root.iterdir():
        if not folder.is_dir() or not (folder / "labels" / "state.json").exists():
            continue  # not the old layout
        if not (folder / MANIFEST).exists():  # else moved already, and stopped before the clean-up
            _migrate_folder(repo, folder)
        for old_part in [*_PARTS, "train"]:
            shutil.rmtree(folder / old_part, ignore_errors=True)
        for leftover in folder.glob("*"):
            if leftover.name == "train_columns.json" or leftover.name.startswith((".tmp-", ".old-train-")):
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        log.info("eval data %s moved to the Parquet layout", folder.name)


def _migrate_folder(repo: EvalDataRepo, folder: Path) -> None:
    """Write one id of the old layout in this one; its manifest last."""
    from datasets import load_from_disk

    aside = sorted(folder.glob(".old-train-*"))
    if aside and not (folder / "train").exists():  # a swap stopped between its two renames
        aside[0].rename(folder / "train")
    for part in _PARTS:
        if (folder / part).is_dir():
            frame = load_from_disk(str(folder / part)).to_pandas()
            repo._put(f"{folder}/{part}.parquet", _parquet_from_frame(frame)[0])
    if (folder / "train").is_dir():
        frame = load_from_disk(str(folder / "train")).to_pandas()
        try:
            old = json.loads((folder / "train_columns.json").read_text())
        except (OSError, ValueError):
            old = {}
        repo._write_training(
            str(folder),
            frame,
            old.get("target"),
            int(old.get("data_bytes", 0)),
            datetime.fromisoformat(old["updated_at"]) if "updated_at" in old else datetime.now(UTC),
            {str(k): str(v) for k, v in old.get("descriptions", {}).items()},
        )
    parts = [p for p in _PARTS if (folder / f"{p}.parquet").exists()]
    manifest = {"parts": parts, "created_at": datetime.now(UTC).isoformat(), "migrated": True}
    repo._put(f"{folder}/{MANIFEST}", json.dumps(manifest).encode())
