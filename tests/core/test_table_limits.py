"""Tables against bombs: a Parquet or CSV file over a limit is refused before its data is
decoded (or, when its footer lies, before it grows far), with a message that names the limit and
its setting; ordinary tables read exactly as pandas reads them."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aims_spaces.core.limits import DecodeLimits
from aims_spaces.core.tabular import csv_to_frame, frame_to_parquet, parquet_to_frame
from aims_spaces.errors import InvalidEvalData, InvalidInput, InvalidPredictions
from tests.core.test_media_limits import decode_bombs


def parquet(table: pa.Table, **options: object) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **options)
    return buf.getvalue()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def footer_claiming_one_byte(data: bytes, size: int) -> bytes:
    """``data`` with every footer integer equal to ``size`` (the uncompressed sizes) rewritten
    to 1, padded to the same length: Thrift reads a varint with redundant continuation bytes."""
    length = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - length
    real = _varint(size * 2)  # zigzag
    claim = bytes([0x82, *([0x80] * (len(real) - 2)), 0x00])  # zigzag(1) == 2
    footer = data[start:-8]
    assert footer.count(real) >= 1
    return data[:start] + footer.replace(real, claim) + data[-8:]


def dictionary_bomb() -> bytes:
    """A million rows repeating one 2 KiB string: 200 KB on disk, 2 GB of text once decoded."""
    values = pa.DictionaryArray.from_arrays(pa.array(np.zeros(1_000_000, np.int32)), pa.array(["x" * 2048]))
    return parquet(pa.table({"s": values}), store_schema=False)  # read back as plain strings


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every bomb, decoded in one fresh interpreter with its peak memory measured."""
    rows = frame_to_parquet(pd.DataFrame({"x": np.zeros(5_000_000)}))
    wide = frame_to_parquet(pd.DataFrame(np.zeros((2, 3_000)), columns=[f"c{i}" for i in range(3_000)]))
    bombs = {
        "parquet_5m_rows": ("parquet_to_frame", rows, None),
        "parquet_3000_columns": ("parquet_to_frame", wide, None),
        "parquet_repeated_string": ("parquet_to_frame", dictionary_bomb(), None),
        "csv_too_many_rows": ("csv_to_frame", b"x\n" + b"0\n" * 1_000_001, None),
        "csv_too_many_columns": ("csv_to_frame", b",".join([b"c"] * 100_000) + b"\n" + b"0\n", None),
        "csv_too_large": ("csv_to_frame", b"x\n" + b"0\n" * 34_000_000, None),
    }
    return decode_bombs(tmp_path_factory.mktemp("bombs"), bombs)


# --- Parquet ----------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [False, None, True])
def test_ordinary_tables_read_exactly_as_pandas_reads_them(index):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "a": [1.0, np.nan, 3.0],
            "b": [1, 2, 3],
            "c": ["x", None, "z"],
            "d": [True, False, True],
            "e": pd.Categorical(["u", "v", "u"]),
            "f": [b"\x89PNG", b"", None],
            "g": pd.array([1, None, 3], dtype="Int64"),
            "h": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
            "i": pd.to_datetime(["2024-01-01"] * 3).tz_localize("Europe/Paris"),
            "j": np.float32([1, 2, 3]),
        },
        index=[5, 6, 7],
    )
    df.attrs = {"source": "test"}
    big = pd.DataFrame(
        {
            "n": rng.normal(size=200_000),
            "few": rng.choice(["cat", "dog", "cow"], 200_000),  # dictionary-encoded
            "many": [f"text {i}" for i in range(200_000)],  # dictionary, then plain pages
        }
    )
    for frame in (df, df.iloc[:0], big):
        buf = io.BytesIO()
        frame.to_parquet(buf, index=index)
        data = buf.getvalue()
        expected = pd.read_parquet(io.BytesIO(data))
        got = parquet_to_frame(data, "t")
        pd.testing.assert_frame_equal(got, expected)
        assert got.attrs == expected.attrs


def test_a_parquet_file_with_5_million_rows_is_refused_from_its_footer(refused):
    assert refused["parquet_5m_rows"] == (
        "row 0 has 5,000,000 rows; the hub takes at most 1,000,000 (AIMS_MAX_TABLE_ROWS)"
    )
    data = frame_to_parquet(pd.DataFrame({"x": np.zeros(10)}))
    with pytest.raises(InvalidEvalData) as e:
        parquet_to_frame(data, "eval_features", InvalidEvalData, limits=DecodeLimits(max_table_rows=5))
    assert e.value.message == "eval_features has 10 rows; the hub takes at most 5 (AIMS_MAX_TABLE_ROWS)"


def test_a_parquet_file_with_3000_columns_is_refused_from_its_footer(refused):
    assert refused["parquet_3000_columns"] == (
        "row 0 has 3,000 columns; the hub takes at most 2,000 (AIMS_MAX_TABLE_COLUMNS)"
    )


def test_a_repeated_string_is_counted_every_time_it_repeats(refused):
    message = refused["parquet_repeated_string"]
    assert message.startswith("row 0 would take more than 1,95")
    assert message.endswith("MiB in memory once decoded; the hub takes at most 512 MiB (AIMS_MAX_TABLE_MB)")
    small = parquet(pa.table({"s": ["x" * 100] * 1_000}), store_schema=False)
    assert len(parquet_to_frame(small, "t", limits=DecodeLimits(max_table_mb=0.2))) == 1_000
    with pytest.raises(InvalidInput, match=r"would take .* once decoded"):
        parquet_to_frame(small, "t", limits=DecodeLimits(max_table_mb=0.05))


def test_numbers_are_counted_by_rows_times_width():
    data = frame_to_parquet(pd.DataFrame({"x": np.zeros(200_000), "y": np.zeros(200_000)}))
    with pytest.raises(InvalidInput) as e:
        parquet_to_frame(data, "t", limits=DecodeLimits(max_table_mb=1))
    assert e.value.message == (
        "t would take 3.1 MiB in memory once decoded; the hub takes at most 1 MiB (AIMS_MAX_TABLE_MB)"
    )


def test_a_footer_that_lies_about_sizes_is_caught_by_the_page_headers():
    blob = b"\x00" * 1_000_000
    data = parquet(pa.table({"b": [blob] * 30}), use_dictionary=False, compression="zstd")
    size = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(0).total_uncompressed_size
    lying = footer_claiming_one_byte(data, size)
    claims = pq.ParquetFile(io.BytesIO(lying)).metadata.row_group(0)
    assert claims.total_byte_size == 1 and claims.column(0).total_uncompressed_size == 1
    assert len(pd.read_parquet(io.BytesIO(lying))) == 30  # Arrow goes by the pages, not the footer
    with pytest.raises(InvalidInput) as e:
        parquet_to_frame(lying, "eval_features", limits=DecodeLimits(max_table_mb=8))
    assert e.value.message == (
        "eval_features holds more than 29 MiB once decompressed; the hub takes at most 8 MiB "
        "(AIMS_MAX_TABLE_MB)"
    )


def test_types_and_encodings_the_hub_never_writes_are_refused():
    with pytest.raises(InvalidInput) as e:
        parquet_to_frame(parquet(pa.table({"l": [[1, 2], [3]]})), "t")
    assert e.value.message == (
        "column 'l' of t has type list<element: int64>, which the hub does not read; "
        "use numbers, booleans, strings or bytes"
    )
    delta = parquet(
        pa.table({"s": ["abc", "abd"] * 10}), use_dictionary=False, column_encoding={"s": "DELTA_BYTE_ARRAY"}
    )
    with pytest.raises(
        InvalidInput, match="t uses the DELTA_BYTE_ARRAY encoding, which the hub does not read"
    ):
        parquet_to_frame(delta, "t")


def test_what_is_not_parquet_is_refused():
    data = frame_to_parquet(pd.DataFrame({"x": [1, 2]}))
    wrong_length = data[:-8] + (len(data) * 2).to_bytes(4, "little") + b"PAR1"
    for bad in (b"", b"not parquet", wrong_length, data[: len(data) // 2] + data[-8:]):
        with pytest.raises(InvalidPredictions, match="predictions is not a readable Parquet table"):
            parquet_to_frame(bad, "predictions", InvalidPredictions)


# --- CSV --------------------------------------------------------------------------------------


def test_csv_reads_as_pandas_reads_it():
    text = b'x,n,colour\n1.5,2,red\n,3,"dark, blue"\nNA,4,\n'
    strings = {"colour": str}
    options = {"dtype": strings, "keep_default_na": False, "na_values": [""]}
    pd.testing.assert_frame_equal(
        csv_to_frame(text, "the CSV file", **options), pd.read_csv(io.BytesIO(text), **options)
    )
    pd.testing.assert_frame_equal(csv_to_frame(io.BytesIO(text), "f"), pd.read_csv(io.BytesIO(text)))
    for bad, why in (
        (b"", "it is empty"),
        (b"a,b\n1,2\n1,2,3,4\n", "its rows have different numbers of fields, or a quote does not close"),
        (b"a\n\xff\xfe\n", "it is not UTF-8 text"),
        (b"a\nx\n", "a value does not fit its column"),
    ):
        with pytest.raises(InvalidInput) as e:
            csv_to_frame(bad, "the CSV file", dtype={"a": float} if bad == b"a\nx\n" else None)
        assert e.value.message == f"the CSV file does not parse: {why}"


def test_csv_limits_are_checked_before_parsing(refused):
    assert refused["csv_too_many_rows"] == (
        "row 0 has more than 1,000,000 rows; the hub takes at most 1,000,000 (AIMS_MAX_TABLE_ROWS)"
    )
    assert refused["csv_too_many_columns"] == (
        "row 0 has 100,000 columns; the hub takes at most 2,000 (AIMS_MAX_TABLE_COLUMNS)"
    )
    assert refused["csv_too_large"] == "row 0 is 65 MiB; the hub takes at most 64 MiB (AIMS_MAX_CSV_MB)"
    limits = DecodeLimits(max_csv_mb=0.001)
    with pytest.raises(InvalidPredictions) as e:
        csv_to_frame(io.BytesIO(b"0\n" * 1_000), "the predictions file", InvalidPredictions, limits=limits)
    assert e.value.message == (
        "the predictions file is larger than 0.001 MiB; the hub takes at most 0.001 MiB (AIMS_MAX_CSV_MB)"
    )
    quoted = b'"a,b",c\n1,2\n'  # commas inside quotes are not columns
    assert csv_to_frame(quoted, "f", limits=DecodeLimits(max_table_columns=2)).shape == (1, 2)
