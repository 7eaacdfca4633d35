"""The private eval-data repo: one `datasets` dataset per playground, on local disk.

Layout under the repo root, per playground (keyed by a random ``eval_data_id``, never by name)::

    <id>/labels/     label, is_public      -- private: read only by evaluators
    <id>/features/   the eval features     -- members may download
    <id>/example/    a few example rows    -- members may download
    <id>/train/      training data the owner hands out -- members may download
    <id>/train_columns.json   its target, column descriptions and size

Each playground's folder is built under a temporary name and renamed into place, so a crash
never leaves a half-written dataset that looks complete. Training data can be replaced: the new
``train/`` is written beside the old one (``.tmp-train-*``) and swapped in by two renames; the
hub's start (:meth:`EvalDataRepo.clean_tmp`) puts the old one back should a crash fall between
them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import NotFound

log = logging.getLogger(__name__)

TRAIN = "train"
TRAIN_COLUMNS = "train_columns.json"
_TMP_TRAIN = ".tmp-train-"  # a new train/ being written: never complete, always removed
_OLD_TRAIN = ".old-train-"  # the replaced train/ during a swap: restored if train/ is missing
_DELETED_TRAIN = ".deleted-train-"  # a train/ being deleted: always removed


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


def _dataset_from_frame(df: pd.DataFrame) -> Any:
    import datasets
    from datasets import Dataset

    datasets.disable_progress_bars()  # a hub log is not a terminal

    return Dataset.from_pandas(df, preserve_index=False)


def _frame_from_disk(path: Path) -> pd.DataFrame:
    from datasets import load_from_disk

    return load_from_disk(str(path)).to_pandas()


def _dtype_name(feature: Any) -> str:
    """A column's type as `datasets` names it (``float64``, ``string``, ``binary``, ...); Arrow's
    64-bit-offset variants by their plain names (pandas' ``str`` columns arrive as
    ``large_string``)."""
    name = str(getattr(feature, "dtype", None) or type(feature).__name__)
    return name.removeprefix("large_")


def _write_json(path: Path, value: Any) -> None:
    """Write ``path`` whole or not at all: a temp file beside it, then ``os.replace``."""
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    try:
        tmp.write_text(json.dumps(value, ensure_ascii=False))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class EvalDataRepo:
    """The playgrounds' private eval data: labels and the secret public/private row split (read
    only by evaluators), eval features and example rows (members may download them)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, eval_data_id: str) -> Path:
        if not eval_data_id or not eval_data_id.isalnum():
            raise NotFound(f"no eval data {eval_data_id!r}")
        return self.root / eval_data_id

    def save(
        self,
        *,
        labels: np.ndarray,
        is_public: np.ndarray,
        features: pd.DataFrame | None,
        example: pd.DataFrame | None,
    ) -> str:
        """Write a playground's eval data; return its new id."""
        eval_data_id = uuid.uuid4().hex
        tmp = self.root / f".tmp-{eval_data_id}"
        try:
            label_col = (
                labels if labels.dtype.kind == "f" else [str(v) if isinstance(v, str) else v for v in labels]
            )
            _dataset_from_frame(
                pd.DataFrame({"label": label_col, "is_public": is_public.astype(bool)})
            ).save_to_disk(str(tmp / "labels"))
            if features is not None:
                _dataset_from_frame(features).save_to_disk(str(tmp / "features"))
            if example is not None:
                _dataset_from_frame(example).save_to_disk(str(tmp / "example"))
            tmp.rename(self._dir(eval_data_id))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return eval_data_id

    def delete(self, eval_data_id: str) -> None:
        shutil.rmtree(self._dir(eval_data_id), ignore_errors=True)

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
        path = self._dir(eval_data_id) / part
        if not path.exists():
            if optional:
                return None  # type: ignore[return-value]
            raise NotFound(f"eval data {eval_data_id} has no {part}")
        return _frame_from_disk(path)

    # --- training data --------------------------------------------------------------------

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

        The new dataset is written to ``<id>/.tmp-train-<uuid>``, then the old ``train/`` is
        renamed aside, the new one renamed into place, the metadata file replaced, and the old
        dataset deleted. A failure before the end puts the old dataset back.

        Args:
            descriptions: column name -> description (checked by the caller).
            target: the column participants predict, if the data has one.
            data_bytes: what the upload counts toward its owner's storage limit, kept so that
                replacing or deleting it can give those bytes back.
        """
        folder = self._dir(eval_data_id)
        if not folder.is_dir():
            raise NotFound(f"no eval data {eval_data_id!r}")
        train = folder / TRAIN
        tmp = folder / f"{_TMP_TRAIN}{uuid.uuid4().hex}"
        old = folder / f"{_OLD_TRAIN}{uuid.uuid4().hex}"
        placed = False
        try:
            dataset = _dataset_from_frame(frame)
            dataset.save_to_disk(str(tmp))
            meta = TrainingMeta(
                rows=int(dataset.num_rows),
                columns=[(str(name), _dtype_name(f)) for name, f in dataset.features.items()],
                target=target,
                data_bytes=int(data_bytes),
                updated_at=datetime.now(UTC),
                descriptions=dict(descriptions or {}),
            )
            if train.exists():
                train.rename(old)
            tmp.rename(train)
            placed = True
            _write_json(
                folder / TRAIN_COLUMNS,
                {
                    "rows": meta.rows,
                    "columns": [list(c) for c in meta.columns],
                    "target": meta.target,
                    "data_bytes": meta.data_bytes,
                    "updated_at": meta.updated_at.isoformat(),
                    "descriptions": meta.descriptions,
                },
            )
        except BaseException:
            if placed:  # the metadata could not follow: the new dataset goes too
                shutil.rmtree(train, ignore_errors=True)
            if old.exists() and not train.exists():
                old.rename(train)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return meta

    def training(self, eval_data_id: str) -> pd.DataFrame | None:
        """The playground's training data, or None when its owner has given none."""
        return self._load(eval_data_id, TRAIN, optional=True)

    def training_meta(self, eval_data_id: str) -> TrainingMeta | None:
        """Rows, columns, target, size and column descriptions of the training data, or None
        when there is none."""
        folder = self._dir(eval_data_id)
        if not (folder / TRAIN).exists():
            return None
        doc = self._read_columns(folder)
        return TrainingMeta(
            rows=int(doc.get("rows", 0)),
            columns=[(str(c[0]), str(c[1])) for c in doc.get("columns", [])],
            target=doc.get("target"),
            data_bytes=int(doc.get("data_bytes", 0)),
            updated_at=datetime.fromisoformat(doc["updated_at"])
            if "updated_at" in doc
            else datetime.fromtimestamp((folder / TRAIN).stat().st_mtime, UTC),
            descriptions={str(k): str(v) for k, v in doc.get("descriptions", {}).items()},
        )

    def training_descriptions(self, eval_data_id: str) -> dict[str, str]:
        """Column name -> description of the training data (empty when there is none)."""
        meta = self.training_meta(eval_data_id)
        return dict(meta.descriptions) if meta is not None else {}

    def delete_training(self, eval_data_id: str) -> TrainingMeta | None:
        """Delete the training data; return what it was (None when there was none)."""
        folder = self._dir(eval_data_id)
        meta = self.training_meta(eval_data_id)
        if meta is None:
            return None
        gone = folder / f"{_DELETED_TRAIN}{uuid.uuid4().hex}"
        (folder / TRAIN).rename(gone)
        (folder / TRAIN_COLUMNS).unlink(missing_ok=True)
        shutil.rmtree(gone, ignore_errors=True)
        return meta

    def carry_training(self, from_id: str, to_id: str) -> None:
        """Move the training data to another eval-data folder of the same playground (its eval
        data was replaced under a new id; the training data stays what it was)."""
        source, target = self._dir(from_id), self._dir(to_id)
        if not (source / TRAIN).exists():
            return
        if (target / TRAIN).exists():
            raise FileExistsError(f"eval data {to_id} already has training data")
        (source / TRAIN).rename(target / TRAIN)
        if (source / TRAIN_COLUMNS).exists():
            os.replace(source / TRAIN_COLUMNS, target / TRAIN_COLUMNS)

    def _read_columns(self, folder: Path) -> dict[str, Any]:
        try:
            doc = json.loads((folder / TRAIN_COLUMNS).read_text())
        except (OSError, ValueError):  # written by os.replace, so missing rather than torn
            log.warning("training data in %s has no readable %s", folder.name, TRAIN_COLUMNS)
            return {}
        return doc if isinstance(doc, dict) else {}

    def clean_tmp(self) -> None:
        """Remove what a crash left half-done (run at the hub's start, before any request)."""
        for path in self.root.glob(".tmp-*"):
            shutil.rmtree(path, ignore_errors=True)
        for folder in self.root.iterdir():
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            # A new train/ being written (.tmp-train-*), an unfinished train_columns.json
            # (.tmp-*), a train/ being deleted.
            for path in [*folder.glob(".tmp-*"), *folder.glob(f"{_DELETED_TRAIN}*")]:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            for path in sorted(folder.glob(f"{_OLD_TRAIN}*")):
                # The swap stopped between its two renames: the old dataset is still the
                # playground's (its metadata file was not replaced yet).
                if not (folder / TRAIN).exists():
                    path.rename(folder / TRAIN)
                else:
                    shutil.rmtree(path, ignore_errors=True)
