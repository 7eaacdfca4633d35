"""Client-side conversion: scikit-learn to ONNX with parity, metadata of every pipeline step."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from aims_spaces.client.conversion import convert
from aims_spaces.core.onnx_model import OnnxModel
from aims_spaces.core.tabular import ClassIndex, class_list, clean_labels, infer_schema
from aims_spaces.domain import TaskType
from aims_spaces.errors import InvalidModel
from tests.conftest import signature


def _mixed(iris):
    X = iris["X_test"].copy()
    X["colour"] = np.where(X["sepal length (cm)"] > 5.8, "red", "blue")
    Xtr = iris["X_train"].copy()
    Xtr["colour"] = np.where(Xtr["sepal length (cm)"] > 5.8, "red", "blue")
    return Xtr, X


def test_pipeline_with_column_transformer_converts_with_exact_parity(iris):
    Xtr, X = _mixed(iris)
    numeric = [c for c in X.columns if c != "colour"]
    pipe = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), numeric),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["colour"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=1000, C=0.5)),
        ]
    ).fit(Xtr, iris["y_train"])
    schema = infer_schema(X)
    classes = class_list(clean_labels(iris["y_train"], "y"))
    out = convert(pipe, signature(schema, TaskType.CLASSIFICATION, classes), sample=X)
    assert out.framework == "sklearn" and out.model_type == "LogisticRegression"
    assert out.original is not None  # the skops file goes up beside the ONNX model

    model = OnnxModel(out.onnx, signature(schema, TaskType.CLASSIFICATION, classes)).load()
    res = model.run(X)
    assert model.index_.decode(res.indices) == list(pipe.predict(X))
    np.testing.assert_allclose(res.probabilities, pipe.predict_proba(X), atol=1e-6)

    meta = out.metadata
    assert meta["estimator"] == "LogisticRegression" and meta["estimator_type"] == "classifier"
    assert meta["params"]["clf"]["C"] == 0.5
    assert meta["params"]["prep.cat"]["handle_unknown"] == "ignore"
    assert "prep.num:StandardScaler" in meta["steps"]


def test_tree_models_keep_float32_for_exact_parity(iris):
    X, y = iris["X_test"], iris["y_test"]
    rf = RandomForestClassifier(n_estimators=30, random_state=0).fit(iris["X_train"], iris["y_train"])
    classes = class_list(clean_labels(iris["y_train"], "y"))
    schema = infer_schema(X)
    out = convert(rf, signature(schema, TaskType.CLASSIFICATION, classes), sample=X)
    model = OnnxModel(out.onnx, signature(schema, TaskType.CLASSIFICATION, classes)).load()
    res = model.run(X)
    np.testing.assert_allclose(res.probabilities, rf.predict_proba(X), atol=1e-6)
    assert len(y) == len(res.indices)


def test_regressor_parity(diabetes):
    X = diabetes["X_test"]
    gbr = GradientBoostingRegressor(random_state=0).fit(diabetes["X_train"], diabetes["y_train"])
    schema = infer_schema(X)
    out = convert(gbr, signature(schema, TaskType.REGRESSION, None), sample=X)
    res = OnnxModel(out.onnx, signature(schema, TaskType.REGRESSION)).load().run(X)
    np.testing.assert_allclose(res.values, gbr.predict(X), rtol=1e-5)


def test_conversion_refuses_what_it_cannot_do(iris):
    schema = infer_schema(iris["X_test"])
    with pytest.raises(InvalidModel, match="not fitted"):
        convert(LogisticRegression(), signature(schema, TaskType.CLASSIFICATION, ["a", "b"]))
    fitted = LogisticRegression().fit(iris["X_train"], iris["y_train"])
    with pytest.raises(InvalidModel, match="not a regressor"):
        convert(fitted, signature(schema, TaskType.REGRESSION, None))
    with pytest.raises(InvalidModel, match="cannot convert a builtins.dict"):
        convert({"weights": [1]}, signature(schema, TaskType.CLASSIFICATION, ["a"]))
    with pytest.raises(InvalidModel, match="not an ONNX model"):
        convert(b"definitely not onnx", signature(schema, TaskType.CLASSIFICATION, ["a"]))


def test_class_order_comes_from_the_model_metadata(iris):
    # The playground lists a class the model never saw; probabilities still line up by name.
    X = iris["X_test"]
    clf = LogisticRegression(max_iter=500).fit(iris["X_train"], iris["y_train"])
    classes = ["aardvark", *sorted(set(iris["y_train"]))]
    schema = infer_schema(X)
    out = convert(clf, signature(schema, TaskType.CLASSIFICATION, classes), sample=X)
    res = OnnxModel(out.onnx, signature(schema, TaskType.CLASSIFICATION, classes)).load().run(X)
    assert np.all(res.probabilities[:, 0] == 0)
    np.testing.assert_allclose(res.probabilities[:, 1:], clf.predict_proba(X), atol=1e-6)
    assert ClassIndex(classes).decode(res.indices) == list(clf.predict(X))


def test_pandas_string_columns_feed_as_strings():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "s": pd.array(["x", "y", None, "x"], dtype="string")})
    assert [c.dtype.value for c in infer_schema(X)] == ["float", "string"]
