"""A playground's training data from Python: the owner uploads it, members download it with a
sample submission (what a predictions file must look like).

Each function takes a :class:`~aims_spaces.client.playground.ModelPlayground`::

    upload_data(pg, train_df, target="species", descriptions={"species": "the iris species"})
    X = download_data(pg)                      # a DataFrame
    ds = download_data(pg, format="datasets")  # a datasets.Dataset (pip install datasets)
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..core.media import MEDIA_COLUMNS, frame_for
from ..core.tabular import frame_to_parquet, parquet_to_frame
from ..errors import InvalidEvalData, InvalidSpec

if TYPE_CHECKING:
    from .playground import ModelPlayground

FORMATS = ("pandas", "datasets")
_PARQUET = "application/vnd.apache.parquet"


def upload_data(
    pg: ModelPlayground,
    frame: pd.DataFrame,
    target: str | None = None,
    descriptions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Upload ``frame`` as the playground's training data (owner and co-owners), replacing any
    earlier one.

    Args:
        frame: tabular and text playgrounds: the eval features' columns plus ``target``. Image,
            audio and video playgrounds: the media column plus ``target``; its values may be
            paths of files on this machine, arrays, PIL images or encoded bytes.
        target: the column participants learn to predict.
        descriptions: column name -> what it holds (at most 1,000 characters each).

    Returns:
        The training data's description as the hub answers it (rows, columns, target, size).
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidSpec(f"upload_data takes a pandas DataFrame, got {type(frame).__name__}")
    if descriptions is not None and not isinstance(descriptions, dict):
        raise InvalidSpec("descriptions must be a dict of column name -> description")
    input_type = pg.info.input_type
    if input_type in MEDIA_COLUMNS:
        frame = _encoded(frame, input_type, target)
    files = [("data", ("train.parquet", frame_to_parquet(frame), _PARQUET))]
    form = {"target": target or "", "descriptions": json.dumps(descriptions or {})}
    answer: dict[str, Any] = pg.client.request("PUT", pg._path("/data"), data=form, files=files)
    return answer


def download_data(pg: ModelPlayground, format: str = "pandas") -> Any:
    """The playground's training data: a DataFrame (``format="pandas"``) or a
    ``datasets.Dataset`` (``format="datasets"``). Media columns hold the encoded files' bytes.

    Raises:
        InvalidInput: the owner has uploaded no training data yet.
    """
    if format not in FORMATS:
        raise InvalidSpec(f"format must be one of {list(FORMATS)}, got {format!r}")
    if format == "datasets":
        try:
            from datasets import Dataset  # type: ignore[import-untyped]
        except ImportError:
            raise InvalidSpec(
                "format='datasets' needs the datasets package: pip install datasets (or use format='pandas')"
            ) from None
    frame = parquet_to_frame(
        pg.client.request("GET", pg._path("/data/train.parquet"), raw=True), "training data"
    )
    if format == "datasets":
        return Dataset.from_pandas(frame, preserve_index=False)
    return frame


def get_sample_submission(pg: ModelPlayground) -> pd.DataFrame:
    """What a predictions file for the playground must look like: one ``prediction`` column,
    one valid value per eval row, in the eval features' order."""
    data = pg.client.request("GET", pg._path("/data/sample-submission.csv"), raw=True)
    classes = pg.info.classes or []
    if any(isinstance(c, str) for c in classes):  # "001" or "NA" stay the class they name
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    return pd.read_csv(io.BytesIO(data))


def get_data_info(pg: ModelPlayground) -> dict[str, Any] | None:
    """The training data's rows, columns (name, dtype, description), target, size and when it
    was uploaded; None when the owner has uploaded none yet."""
    answer: dict[str, Any] | None = pg.client.request("GET", pg._path("/data"))
    return answer


def _encoded(frame: pd.DataFrame, input_type: Any, target: str | None) -> pd.DataFrame:
    """The media column as encoded files (read here, from this machine), the target beside it."""
    features = frame.drop(columns=[target]) if target and target in frame.columns else frame
    if features.shape[1] != 1:
        raise InvalidEvalData(
            f"training data of a {input_type.value} playground holds one column of files plus the "
            f"target; found the columns {[str(c) for c in frame.columns][:20]}"
        )
    # The participant's own files, on their machine: paths are welcome here.
    out = frame_for(input_type, paths=True)(features, "training data", InvalidEvalData)
    if target and target in frame.columns:
        out[target] = frame[target].to_numpy()
    return out


__all__ = ["download_data", "get_data_info", "get_sample_submission", "upload_data"]
