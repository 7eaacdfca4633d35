import numpy as np
import pandas as pd
import pytest

from aims_spaces.core.tabular import ClassIndex, class_list, clean_labels, clean_targets, infer_schema
from aims_spaces.domain import ColumnType
from aims_spaces.errors import InvalidEvalData, InvalidPredictions


def test_class_list_is_ordered_and_typed():
    labels = clean_labels(pd.Series(["b", "a", "c", "a"]), "y")
    assert class_list(labels) == ["a", "b", "c"]
    ints = clean_labels(np.array([2.0, 0.0, 1.0]), "y")
    assert class_list(ints) == [0, 1, 2]
    assert all(type(v) is int for v in ints)


@pytest.mark.parametrize(
    "values, message",
    [
        ([], "empty"),
        (["a", None], "missing"),
        ([0.5, 1.0], "non-integer"),
        (["a", 1], "mixes"),
    ],
)
def test_bad_labels_are_refused(values, message):
    with pytest.raises(InvalidEvalData, match=message):
        clean_labels(np.array(values, dtype=object) if values else np.array([]), "labels")


def test_class_index_names_what_is_wrong():
    idx = ClassIndex(["cat", "dog"])
    assert idx.encode(["dog", "cat"], "p").tolist() == [1, 0]
    with pytest.raises(InvalidPredictions, match="2 rows but the eval data has 3"):
        idx.encode(["dog", "cat"], "p", n_rows=3)
    with pytest.raises(InvalidPredictions, match="not classes.*'cow'"):
        idx.encode(["dog", "cow"], "p")
    with pytest.raises(InvalidPredictions, match="float values"):
        idx.encode([0.1, 0.2], "p")
    with pytest.raises(InvalidPredictions, match="missing"):
        idx.encode(["dog", None], "p")
    numeric = ClassIndex([0, 1, 2])
    assert numeric.encode(np.array([2.0, 0.0]), "p").tolist() == [2, 0]
    with pytest.raises(InvalidPredictions, match="strings"):
        numeric.encode(["0"], "p")


def test_regression_targets_must_be_finite_numbers():
    assert clean_targets([1, 2.5], "y").dtype == np.float64
    with pytest.raises(InvalidEvalData, match="NaN"):
        clean_targets([1.0, np.nan], "y")
    with pytest.raises(InvalidEvalData, match="numbers"):
        clean_targets(np.array(["a", "b"], dtype=object), "y")


def test_schema_inference_and_unsupported_columns():
    df = pd.DataFrame({"a": [1.0], "b": [1], "c": ["x"], "d": [True]})
    assert [c.dtype for c in infer_schema(df)] == [
        ColumnType.FLOAT,
        ColumnType.INT,
        ColumnType.STRING,
        ColumnType.BOOL,
    ]
    with pytest.raises(InvalidEvalData, match="'when'"):
        infer_schema(pd.DataFrame({"when": pd.to_datetime(["2024-01-01"])}))
