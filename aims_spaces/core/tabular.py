"""Tabular data at the boundaries: schemas, Parquet transport, class labels, prediction checks.

DataFrames travel between client and hub as Parquet (types survive, nothing is unpickled).
Class labels are kept as an ordered list of JSON scalars (ints or strings); every label array
is turned into indices into that list before anything is scored.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..domain import Column, ColumnType
from ..errors import InvalidEvalData, InvalidInput, InvalidPredictions

MAX_CATEGORIES = 200  # a string column with more distinct values is free text, not a category


def frame_to_parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def parquet_to_frame(data: bytes, what: str, error: type[InvalidInput] = InvalidInput) -> pd.DataFrame:
    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as e:  # pyarrow raises many types for corrupt input; all mean "not Parquet"
        raise error(f"{what} is not a readable Parquet table: {e}") from None


def to_frame(data: Any, what: str, error: type[InvalidInput] = InvalidInput) -> pd.DataFrame:
    """Accept a DataFrame, a 2-D array or a list of rows; name unnamed columns ``x0, x1, …``."""
    if isinstance(data, pd.DataFrame):
        df = data.reset_index(drop=True)
    else:
        arr = np.asarray(data)
        if arr.ndim != 2:
            raise error(
                f"{what} must be a 2-D table (a DataFrame or an array of rows), got shape {arr.shape}"
            )
        df = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    df.columns = [str(c) for c in df.columns]
    if len(set(df.columns)) != len(df.columns):
        dupes = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
        raise error(f"{what} has duplicate column names: {dupes}")
    return df


def to_1d(data: Any, what: str, error: type[InvalidInput] = InvalidInput) -> np.ndarray:
    """A 1-D numpy array from a Series, list, array or one-column DataFrame."""
    if isinstance(data, pd.DataFrame):
        if data.shape[1] != 1:
            raise error(f"{what} must have one column, got {data.shape[1]}")
        data = data.iloc[:, 0]
    if isinstance(data, pd.Series):
        if isinstance(data.dtype, pd.CategoricalDtype):
            data = data.astype(data.cat.categories.dtype)
        if pd.api.types.is_string_dtype(data.dtype) and not pd.api.types.is_object_dtype(data.dtype):
            arr = data.to_numpy(dtype=object, na_value=None)
        else:
            arr = data.to_numpy()
    else:
        arr = np.asarray(data)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise error(f"{what} must be one-dimensional, got shape {arr.shape}")
    return arr


def text_frame(data: Any, what: str, error: type[InvalidInput] = InvalidInput) -> pd.DataFrame:
    """Texts as a one-column table (column ``text`` unless a one-column DataFrame names it)."""
    if isinstance(data, pd.DataFrame):
        if data.shape[1] != 1:
            raise error(
                f"{what} of a text playground must be one column of strings, got {data.shape[1]} columns"
            )
        df = data.reset_index(drop=True)
        df.columns = [str(df.columns[0])]
    elif isinstance(data, (list, tuple)):
        df = pd.DataFrame({"text": pd.Series(list(data), dtype=object)})  # numpy would stringify numbers
    else:
        df = pd.DataFrame({"text": to_1d(data, what, error)})
    values = df.iloc[:, 0].tolist()
    bad = next((i for i, v in enumerate(values) if not isinstance(v, str)), None)
    if bad is not None:
        raise error(f"{what} must hold strings; row {bad} is {values[bad]!r}")
    df[df.columns[0]] = pd.Series(values, dtype=object)
    return df


def column_type(series: pd.Series) -> ColumnType | None:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return ColumnType.BOOL
    if pd.api.types.is_integer_dtype(dtype):
        return ColumnType.INT
    if pd.api.types.is_float_dtype(dtype):
        return ColumnType.FLOAT
    if pd.api.types.is_string_dtype(dtype):
        values = series.dropna()
        if all(isinstance(v, str) for v in values):
            return ColumnType.STRING
    return None


def infer_schema(df: pd.DataFrame, what: str = "eval_features", *, categorical: bool = True) -> list[Column]:
    """Column types of ``df``; string columns with few distinct values become categories
    (``categorical=False`` for free text)."""
    schema = []
    for name in df.columns:
        ctype = column_type(df[name])
        if ctype is None:
            raise InvalidEvalData(
                f"column {name!r} of {what} has dtype {df[name].dtype} that is not supported; "
                "use numbers, booleans or strings"
            )
        categories = None
        if ctype is ColumnType.STRING and categorical:
            seen = sorted({str(v) for v in df[name].dropna().unique()})
            categories = seen if len(seen) <= MAX_CATEGORIES else None
        schema.append(Column(name=str(name), dtype=ctype, categories=categories))
    return schema


def check_columns(df: pd.DataFrame, schema: Sequence[Column], what: str) -> None:
    expected = [c.name for c in schema]
    missing = [c for c in expected if c not in df.columns]
    extra = [c for c in df.columns if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {missing}")
        if extra:
            parts.append(f"unexpected column(s) {extra}")
        raise InvalidEvalData(f"{what} does not match the eval features: {'; '.join(parts)}")


# --- class labels -------------------------------------------------------------------------


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT


def _scalar(v: Any) -> Any:
    """A JSON-safe python scalar."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def clean_labels(values: Any, what: str) -> np.ndarray:
    """Classification labels as an object array of ints or strings; refuse NaN and floats."""
    arr = to_1d(values, what, InvalidEvalData)
    if arr.size == 0:
        raise InvalidEvalData(f"{what} is empty")
    missing = [i for i, v in enumerate(arr.tolist()) if _is_missing(v)]
    if missing:
        raise InvalidEvalData(
            f"{what} has {len(missing)} missing value(s) (NaN/None), first at row {missing[0]}"
        )
    if arr.dtype.kind == "O" and all(isinstance(v, (float, np.floating)) for v in arr.tolist()):
        arr = arr.astype(np.float64)
    if arr.dtype.kind == "f":
        if not np.all(np.mod(arr, 1) == 0):
            raise InvalidEvalData(
                f"{what} holds non-integer numbers such as {arr[np.mod(arr, 1) != 0][0]!r}; "
                "class labels must be integers or strings (did you mean task_type='regression'?)"
            )
        arr = arr.astype(np.int64)
    out = np.array([_scalar(v) for v in arr.tolist()], dtype=object)
    kinds = {type(v) for v in out}
    if kinds - {int, bool, str} or (str in kinds and len(kinds) > 1):
        raise InvalidEvalData(
            f"{what} mixes label types {sorted(k.__name__ for k in kinds)}; use all integers or all strings"
        )
    return out


def class_list(*label_arrays: np.ndarray) -> list[Any]:
    values = set()
    for arr in label_arrays:
        values.update(arr.tolist())
    return sorted(values)


def clean_targets(values: Any, what: str, error: type[InvalidInput] = InvalidEvalData) -> np.ndarray:
    """Regression targets or predictions as finite float64."""
    arr = to_1d(values, what, error)
    if arr.size == 0:
        raise error(f"{what} is empty")
    if arr.dtype.kind not in "iufb":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            example = next((v for v in arr.tolist() if not isinstance(v, (int, float))), arr[0])
            raise error(f"{what} must be numbers, got values such as {example!r}") from None
    arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise error(f"{what} has {bad.size} NaN or infinite value(s), first at row {int(bad[0])}")
    return arr


class ClassIndex:
    """Maps label values to their index in a playground's ordered class list."""

    def __init__(self, classes: Sequence[Any]) -> None:
        self.classes = list(classes)
        self.numeric = all(isinstance(c, (int, bool)) for c in self.classes)
        # A string never equals a number, so one dict serves both kinds of class (1.0 finds 1).
        self._index = {(c if isinstance(c, str) else int(c)): i for i, c in enumerate(self.classes)}

    def encode(self, values: Any, what: str, n_rows: int | None = None) -> np.ndarray:
        """Indices of ``values``; raise InvalidPredictions naming what is wrong."""
        arr = (
            values
            if type(values) is np.ndarray and values.ndim == 1
            else to_1d(values, what, InvalidPredictions)
        )
        if n_rows is not None and arr.shape[0] != n_rows:
            raise InvalidPredictions(f"{what} has {arr.shape[0]} rows but the eval data has {n_rows}")
        items = arr.tolist()
        if (self.numeric and arr.dtype.kind in "iub") or (not self.numeric and arr.dtype == object):
            # The usual case, every value a known class of the right kind: a plain lookup (an int
            # never finds a string class, nor the reverse). Anything else falls through to the
            # checks below, which say what is wrong.
            try:
                index = self._index
                return np.array([index[v] for v in items], dtype=np.int64)
            except (KeyError, TypeError):
                pass
        missing = [i for i, v in enumerate(items) if _is_missing(v)]
        if missing:
            raise InvalidPredictions(
                f"{what} has {len(missing)} missing value(s) (NaN/None), first at row {missing[0]}"
            )
        if self.numeric:
            bad = next((v for v in items if isinstance(v, str)), None)
            if bad is not None:
                raise InvalidPredictions(
                    f"{what} holds strings such as {bad!r} but this playground's classes are "
                    f"integers {self.classes[:10]}"
                )
            fraction = next((v for v in items if isinstance(v, float) and not float(v).is_integer()), None)
            if fraction is not None:
                raise InvalidPredictions(
                    f"{what} holds non-integer numbers such as {fraction!r}; submit class labels, "
                    f"one of {self.classes[:10]}"
                )
        else:
            bad = next((v for v in items if not isinstance(v, str)), None)
            if bad is not None:
                raise InvalidPredictions(
                    f"{what} holds {type(bad).__name__} values such as {bad!r} but this "
                    f"playground's classes are strings {self.classes[:10]}"
                )
        out = np.empty(len(items), dtype=np.int64)
        unseen: list[Any] = []
        for i, v in enumerate(items):
            idx = self._index.get(v)
            if idx is None:
                unseen.append(v)
                idx = -1
            out[i] = idx
        if unseen:
            shown = sorted(set(unseen), key=str)[:10]
            raise InvalidPredictions(
                f"{what} has {len(unseen)} value(s) that are not classes of this playground, "
                f"e.g. {shown}; the classes are {self.classes[:20]}"
            )
        return out

    def decode(self, indices: np.ndarray) -> list[Any]:
        return [self.classes[int(i)] for i in indices]
