"""Tabular data at the boundaries: schemas, Parquet and CSV transport, class labels, prediction
checks.

DataFrames travel between client and hub as Parquet (types survive, nothing is unpickled).
A table that comes from outside is read within :class:`~.limits.DecodeLimits`: a Parquet file's
footer and page headers are checked before any data is decoded, a CSV file's size and header
before pandas parses it.
Class labels are kept as an ordered list of JSON scalars (ints or strings); every label array
is turned into indices into that list before anything is scored.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import pandas as pd

from ..domain import Column, ColumnType
from ..errors import InvalidEvalData, InvalidInput, InvalidPredictions
from .limits import DEFAULT_LIMITS, MIB, DecodeLimits, mib, over_limit

MAX_CATEGORIES = 200  # a string column with more distinct values is free text, not a category


def frame_to_parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def parquet_to_frame(
    data: bytes,
    what: str,
    error: type[InvalidInput] = InvalidInput,
    *,
    limits: DecodeLimits | None = None,
) -> pd.DataFrame:
    """A DataFrame from Parquet bytes, decoded within ``limits``.

    The footer is checked first (rows, columns, column types, uncompressed size), then every
    page header (what decompressing will really allocate, whatever the footer says); each row
    group's decoded size is worked out before it is read (a dictionary value counts once per
    row that repeats it), and a running total of what was actually decoded stops the read
    should an estimate ever fall short.

    Args:
        data: the file's bytes.
        what: how messages name the table (``"eval_features"``).
        error: the class raised (``InvalidEvalData``, ``InvalidPredictions``, …).
        limits: the bounds; the defaults when not given.

    Raises:
        error: not a Parquet table the hub reads, or over a limit (the message names the limit
            and its setting).
    """
    limits = limits or DEFAULT_LIMITS
    try:
        table = _BoundedParquet(data, what, error, limits).read()
        df = table.to_pandas()
    except InvalidInput:
        raise
    except Exception as e:  # pyarrow raises many types for corrupt input; all mean "not Parquet"
        raise error(f"{what} is not a readable Parquet table: {_first_line(e)}") from None
    attrs = (table.schema.metadata or {}).get(b"PANDAS_ATTRS")
    if attrs:  # what pandas.read_parquet restores too
        df.attrs = json.loads(attrs)
    return df


def csv_to_frame(
    data: bytes | IO[bytes],
    what: str,
    error: type[InvalidInput] = InvalidInput,
    *,
    limits: DecodeLimits | None = None,
    dtype: Any = None,
    keep_default_na: bool = True,
    na_values: Any = None,
) -> pd.DataFrame:
    """A DataFrame from a CSV file (its bytes or a binary file object), parsed within
    ``limits``: the size is checked before parsing, the header's column count before pandas
    reads a row, and pandas parses at most one row more than the limit.

    ``dtype``, ``keep_default_na`` and ``na_values`` are passed to :func:`pandas.read_csv`.

    Raises:
        error: the file does not parse (``"<what> does not parse: …"``, saying why in words,
            not pandas's), or is over a limit (the message names the limit and its setting).
    """
    limits = limits or DEFAULT_LIMITS
    cap = limits.bytes_of("max_csv_mb")
    mb = f"{limits.max_csv_mb:,g} MiB"
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if len(raw) > cap:
            raise error(over_limit(what, f"is {mib(len(raw))}", "max_csv_mb", mb))
    else:
        raw = data.read(cap + 1)
        if len(raw) > cap:
            raise error(over_limit(what, f"is larger than {mb}", "max_csv_mb", mb))
    newline = raw.find(b"\n")
    header = raw if newline < 0 else raw[:newline]
    n_columns = re.sub(rb'"[^"]*"', b"", header).count(b",") + 1  # commas outside quotes
    if n_columns > limits.max_table_columns:
        raise error(_too_many(what, n_columns, "columns", "max_table_columns", limits))
    try:
        frame = pd.read_csv(
            io.BytesIO(raw),
            dtype=dtype,
            keep_default_na=keep_default_na,
            na_values=na_values,
            nrows=limits.max_table_rows + 1,
        )
    except UnicodeDecodeError:
        raise error(f"{what} does not parse: it is not UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise error(f"{what} does not parse: it is empty") from None
    except pd.errors.ParserError:
        raise error(
            f"{what} does not parse: its rows have different numbers of fields, or a quote does not close"
        ) from None
    except ValueError:  # a value pandas cannot read as its column's type
        raise error(f"{what} does not parse: a value does not fit its column") from None
    if len(frame) > limits.max_table_rows:
        raise error(
            over_limit(
                what,
                f"has more than {limits.max_table_rows:,} rows",
                "max_table_rows",
                f"{limits.max_table_rows:,}",
            )
        )
    if frame.shape[1] > limits.max_table_columns:
        raise error(_too_many(what, frame.shape[1], "columns", "max_table_columns", limits))
    return frame


def _too_many(what: str, n: int, unit: str, limit: str, limits: DecodeLimits) -> str:
    return over_limit(what, f"has {n:,} {unit}", limit, f"{getattr(limits, limit):,}")


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


# --- Parquet within limits ------------------------------------------------------------------
#
# Compression is not the only way a Parquet file grows when decoded: a dictionary page holds a
# value once and every row may repeat it, so a few kilobytes can stand for gigabytes of strings.
# Hence three steps before data is decoded: the footer's claims, the page headers' sizes (they,
# not the footer, decide what decompression allocates), and for each row group the exact size
# of its dictionary-encoded text once expanded (read as dictionaries first, which is cheap).

# Bounds on the file's structure, far above anything a table within the limits needs, so that
# describing a table can never cost more than the table.
_MAX_FOOTER_BYTES = 16 * MIB
_MAX_COLUMN_CHUNKS = 200_000
_MAX_PAGES = 1_000_000
_MAX_PAGE_HEADER_BYTES = 16 * MIB  # Arrow's own bound
_DICTIONARY_PAGE = 2
# Rebuilds each value from a prefix of the one before: a few bytes can expand into a long string
# per row, and the writers clients use (pandas, pyarrow) never choose it.
_DELTA_BYTE_ARRAY = 7


@dataclass
class _ColumnPlan:
    fixed: float  # bytes per row in memory that do not depend on the values (offsets, numbers)
    var: bool  # holds strings or bytes whose size is the data's
    categorical: bool  # read as a dictionary (pandas categories): values are stored once


@dataclass
class _ChunkPages:
    decompressed: int = 0  # what the pages' headers say decompression allocates
    dictionary: bool = False  # a dictionary page: rows may repeat its values


@dataclass
class _RowGroupPlan:
    rows: int
    chunks: list[_ChunkPages] = field(default_factory=list)


class _BoundedParquet:
    """A Parquet file whose footer and page headers were checked as it was opened, and which
    :meth:`read` decodes row group by row group within the limits."""

    def __init__(self, data: bytes, what: str, error: type[InvalidInput], limits: DecodeLimits) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.data, self.what, self.error, self.limits = data, what, error, limits
        self.cap = limits.bytes_of("max_table_mb")
        self.view = memoryview(data)
        n = len(self.view)
        if n < 12 or self.view[:4] != b"PAR1":
            raise error(f"{what} is not a readable Parquet table: it does not start as Parquet does")
        if self.view[-4:] == b"PARE":
            raise error(f"{what} is an encrypted Parquet table; the hub reads plain ones")
        if self.view[-4:] != b"PAR1":
            raise error(f"{what} is not a readable Parquet table: it does not end as Parquet does")
        footer = int.from_bytes(self.view[-8:-4], "little")
        if footer > _MAX_FOOTER_BYTES:
            raise error(
                f"{what} is not a Parquet table the hub reads: its footer is {mib(footer)} "
                f"(at most {mib(_MAX_FOOTER_BYTES)})"
            )
        self.file = pq.ParquetFile(pa.BufferReader(data))
        self._as_dictionaries: Any = None  # the same file, text columns read as dictionaries
        self.columns = self._check_footer()
        self.row_groups = self._scan_pages()

    def _fail(self, has: str) -> InvalidInput:
        return self.error(over_limit(self.what, has, "max_table_mb", f"{self.limits.max_table_mb:,g} MiB"))

    def _check_footer(self) -> list[_ColumnPlan]:
        md, what, limits = self.file.metadata, self.what, self.limits
        row_groups = [md.row_group(i) for i in range(md.num_row_groups)]
        rows = max(md.num_rows, sum(rg.num_rows for rg in row_groups))
        if rows > limits.max_table_rows:
            raise self.error(_too_many(what, rows, "rows", "max_table_rows", limits))
        schema = self.file.schema_arrow
        n_columns = max(md.num_columns, len(schema))
        if n_columns > limits.max_table_columns:
            raise self.error(_too_many(what, n_columns, "columns", "max_table_columns", limits))
        if md.num_row_groups * md.num_columns > _MAX_COLUMN_CHUNKS:
            raise self.error(
                f"{what} is not a Parquet table the hub reads: {md.num_row_groups:,} row groups "
                f"of {md.num_columns:,} columns (at most {_MAX_COLUMN_CHUNKS:,} column chunks)"
            )
        columns = [_column_plan(f, what, self.error) for f in schema]
        if len(columns) != md.num_columns:  # a nested column the schema conversion hid
            raise self.error(f"{what} has nested columns, which the hub does not read")
        declared = sum(max(rg.total_byte_size, 0) for rg in row_groups)
        if declared > self.cap:
            raise self._fail(f"holds {mib(declared)} once decompressed")
        return columns

    def _scan_pages(self) -> list[_RowGroupPlan]:
        md = self.file.metadata
        pages = total = 0
        plans = []
        for i in range(md.num_row_groups):
            rg = md.row_group(i)
            plan = _RowGroupPlan(rows=rg.num_rows)
            plans.append(plan)
            if rg.num_rows <= 0:  # nothing of it is decoded
                plan.chunks = [_ChunkPages() for _ in self.columns]
                continue
            for j in range(rg.num_columns):
                cc = rg.column(j)
                start = cc.data_page_offset
                dict_offset = cc.dictionary_page_offset
                if cc.has_dictionary_page and dict_offset and 0 < dict_offset < (start or len(self.view)):
                    start = dict_offset
                end = start + cc.total_compressed_size
                if start < 4 or cc.total_compressed_size < 0 or end > len(self.view) - 8:
                    raise ValueError(f"column chunk {i}/{j} lies outside the file")
                chunk = _ChunkPages()
                pos = start
                while pos < end:
                    pos = self._page(pos, chunk)
                    pages += 1
                    if pages > _MAX_PAGES:
                        raise self.error(
                            f"{self.what} is not a Parquet table the hub reads: more than "
                            f"{_MAX_PAGES:,} pages"
                        )
                total += chunk.decompressed
                if total > self.cap:
                    raise self._fail(f"holds more than {mib(total)} once decompressed")
                plan.chunks.append(chunk)
        return plans

    def _page(self, pos: int, chunk: _ChunkPages) -> int:
        """Account for the page whose header starts at ``pos``; where the next page starts."""
        reader = _Thrift(self.view, pos, min(len(self.view), pos + _MAX_PAGE_HEADER_BYTES))
        header = reader.struct()
        kind, size, stored = header.get(1), header.get(2), header.get(3)
        if not (isinstance(size, int) and isinstance(stored, int)) or size < 0 or stored < 0:
            raise ValueError("a page header without sizes")
        v1, v2 = header.get(5), header.get(8)
        encoding = v1.get(2) if isinstance(v1, dict) else v2.get(4) if isinstance(v2, dict) else None
        if encoding == _DELTA_BYTE_ARRAY:
            raise self.error(
                f"{self.what} uses the DELTA_BYTE_ARRAY encoding, which the hub does not read; "
                "write it with pandas or pyarrow's defaults"
            )
        chunk.dictionary |= kind == _DICTIONARY_PAGE
        chunk.decompressed += size
        return reader.pos + stored

    def read(self) -> Any:
        import pyarrow as pa

        if not self.row_groups:
            return self.file.schema_arrow.empty_table()
        static = sum(self._bytes(plan) for plan in self.row_groups)
        if static > self.cap:
            raise self._fail(f"would take {mib(static)} in memory once decoded")
        estimated = decoded = 0
        tables = []
        for i, plan in enumerate(self.row_groups):
            estimated += self._bytes(plan, self._expanded(i, plan))
            if estimated > self.cap:
                raise self._fail(f"would take more than {mib(estimated)} in memory once decoded")
            table = self.file.read_row_group(i)
            decoded += table.nbytes
            if decoded > self.cap:  # the estimate above was short: stop here all the same
                raise self._fail(f"would take more than {mib(decoded)} in memory once decoded")
            tables.append(table)
        return pa.concat_tables(tables)

    def _bytes(self, plan: _RowGroupPlan, expanded: dict[int, int] | None = None) -> int:
        """Memory of one row group once decoded: fixed-width values and offsets by row count,
        text and bytes by their decompressed pages (or, given, their expanded size)."""
        total = 0.0
        for j, (column, chunk) in enumerate(zip(self.columns, plan.chunks, strict=True)):
            total += plan.rows * (column.fixed + 0.125)  # + the validity bitmap
            if column.var:
                total += (expanded or {}).get(j, chunk.decompressed)
        return int(total)

    def _expanded(self, i: int, plan: _RowGroupPlan) -> dict[int, int]:
        """Exact size of the row group's dictionary-encoded text columns once every row holds its
        own copy, from the row group read as dictionaries (indices and one copy of each value)."""
        import pyarrow.compute as pc

        wanted = [
            j
            for j, (column, chunk) in enumerate(zip(self.columns, plan.chunks, strict=True))
            if column.var and not column.categorical and chunk.dictionary
        ]
        if not wanted:
            return {}
        if self._as_dictionaries is None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            text = [j for j, c in enumerate(self.columns) if c.var and not c.categorical]
            self._as_dictionaries = pq.ParquetFile(pa.BufferReader(self.data), read_dictionary=text)
        table = self._as_dictionaries.reader.read_row_group(i, column_indices=wanted)
        sizes = {}
        for j, column in zip(wanted, table.columns, strict=True):
            size = 0
            for chunk in column.chunks:
                if hasattr(chunk, "dictionary"):
                    lengths = pc.binary_length(chunk.dictionary)
                    size += pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0
                else:
                    size += chunk.nbytes
            sizes[j] = size
        return sizes


def _column_plan(f: Any, what: str, error: type[InvalidInput]) -> _ColumnPlan:
    import pyarrow as pa

    t = f.type
    refused = (
        f"column {f.name!r} of {what} has type {t}, which the hub does not read; "
        "use numbers, booleans, strings or bytes"
    )
    if isinstance(t, pa.ExtensionType) or pa.types.is_nested(t):
        raise error(refused)
    if pa.types.is_dictionary(t):
        if isinstance(t.value_type, pa.ExtensionType) or pa.types.is_nested(t.value_type):
            raise error(refused)
        return _ColumnPlan(t.index_type.bit_width / 8, var=True, categorical=True)
    if pa.types.is_string(t) or pa.types.is_binary(t):
        return _ColumnPlan(4, var=True, categorical=False)
    if pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        return _ColumnPlan(8, var=True, categorical=False)
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        return _ColumnPlan(16, var=True, categorical=False)
    if pa.types.is_null(t):
        return _ColumnPlan(0, var=False, categorical=False)
    if pa.types.is_boolean(t):
        return _ColumnPlan(0.125, var=False, categorical=False)
    try:
        return _ColumnPlan(t.bit_width / 8, var=False, categorical=False)
    except ValueError:  # not fixed-width, and none of the above
        raise error(refused) from None


class _Thrift:
    """Just enough of Thrift's compact protocol to read a Parquet page header (``PageHeader``
    in parquet.thrift): integers and structs by field id, everything else skipped."""

    def __init__(self, buf: memoryview, pos: int, end: int) -> None:
        self.buf, self.pos, self.end = buf, pos, end
        self.budget = 10_000  # values one header may hold; real ones hold a few dozen

    def byte(self) -> int:
        if self.pos >= self.end:
            raise ValueError("a truncated page header")
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.end:
            raise ValueError("a truncated page header")
        self.pos += n

    def varint(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ValueError("a malformed page header")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def struct(self, depth: int = 0) -> dict[int, Any]:
        if depth > 8:
            raise ValueError("a page header nested too deeply")
        fields: dict[int, Any] = {}
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return fields
            kind, delta = head & 0x0F, head >> 4
            last = last + delta if delta else self.zigzag()
            fields[last] = self.value(kind, depth)

    def value(self, kind: int, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise ValueError("a page header with too many values")
        if kind in (1, 2):  # a boolean field carries its value in its type
            return kind == 1
        if kind in (4, 5, 6):
            return self.zigzag()
        if kind == 12:
            return self.struct(depth + 1)
        if kind == 3:
            self.skip(1)
        elif kind == 7:
            self.skip(8)
        elif kind == 8:
            self.skip(self.varint())
        elif kind in (9, 10):  # list, set
            head = self.byte()
            size = head >> 4 if head >> 4 != 15 else self.varint()
            for _ in range(size):
                self.element(head & 0x0F, depth)
        elif kind == 11:  # map
            size = self.varint()
            types = self.byte() if size else 0
            for _ in range(size):
                self.element(types >> 4, depth)
                self.element(types & 0x0F, depth)
        elif kind == 13:  # uuid
            self.skip(16)
        else:
            raise ValueError("a malformed page header")
        return None

    def element(self, kind: int, depth: int) -> None:
        """Skip one item of a list, set or map (where a boolean takes a byte of its own)."""
        if kind in (1, 2):
            self.budget -= 1
            self.skip(1)
        else:
            self.value(kind, depth + 1)


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
