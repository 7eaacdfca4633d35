"""The private eval-data repo: one `datasets` dataset per playground, on local disk.

Layout under the repo root, per playground (keyed by a random ``eval_data_id``, never by name)::

    <id>/labels/     label, is_public      -- private: read only by evaluators
    <id>/features/   the eval features     -- members may download
    <id>/example/    a few example rows    -- members may download

Each playground's folder is built under a temporary name and renamed into place, so a crash
never leaves a half-written dataset that looks complete.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import NotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalLabels:
    labels: np.ndarray  # object array (classification) or float64 (regression)
    is_public: np.ndarray  # bool


def _dataset_from_frame(df: pd.DataFrame) -> Any:
    import datasets
    from datasets import Dataset

    datasets.disable_progress_bars()  # a hub log is not a terminal

    return Dataset.from_pandas(df, preserve_index=False)


def _frame_from_disk(path: Path) -> pd.DataFrame:
    from datasets import load_from_disk

    return load_from_disk(str(path)).to_pandas()


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

    def clean_tmp(self) -> None:
        for path in self.root.glob(".tmp-*"):
            shutil.rmtree(path, ignore_errors=True)
