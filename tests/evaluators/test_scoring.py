"""Scoring one submission from loaded inputs (no Ray, no files)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

from aims_spaces.client.conversion import convert
from aims_spaces.core.tabular import infer_schema
from aims_spaces.domain import Column, EvaluationJob, Metric, TaskType
from aims_spaces.hub.evaldata import EvalLabels
from evaluators.scoring import evaluate
from tests.conftest import signature


def _job(schema, classes, split=True, task=TaskType.CLASSIFICATION, metric=Metric.ACCURACY):
    return EvaluationJob(
        submission_id=1,
        playground="p",
        version=1,
        signature=signature(schema, task, classes),
        eval_metric=metric,
        eval_data_id="x",
        has_competition_split=split,
        model_sha256=None,
        predictions_sha256=None,
        artifact_url="",
        evaldata_dir="",
        bootstrap_samples=200,
    )


@pytest.fixture(scope="module")
def model(iris):
    clf = LogisticRegression(max_iter=500).fit(iris["X_train"], iris["y_train"])
    schema = infer_schema(iris["X_test"])
    classes = sorted(set(iris["y_train"]))
    onnx = convert(clf, signature(schema, TaskType.CLASSIFICATION, classes)).onnx
    return clf, onnx, schema, classes


def test_verified_scores_per_split_and_mismatch(iris, model):
    clf, onnx, schema, classes = model
    X, y = iris["X_test"], iris["y_test"]
    is_public = np.arange(len(y)) % 2 == 0
    labels = EvalLabels(np.array(list(y), dtype=object), is_public)
    wrong = pd.DataFrame({"prediction": ["setosa"] * len(y)})
    res = evaluate(_job(schema, classes), labels=labels, features=X, model_bytes=onnx, uploaded=wrong)
    assert res.ok and res.verified
    pred = clf.predict(X)
    assert res.scores["all"]["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert res.scores["public"]["accuracy"] == pytest.approx(accuracy_score(y[is_public], pred[is_public]))
    assert res.scores["private"]["accuracy"] == pytest.approx(accuracy_score(y[~is_public], pred[~is_public]))
    assert res.mismatch_fraction == pytest.approx(np.mean(pred != "setosa"))
    assert {"log_loss", "roc_auc"} <= set(res.scores["all"])
    lo, hi = res.intervals["all"]
    assert lo <= res.scores["all"]["accuracy"] <= hi
    assert res.onnx_metadata["operators"] and res.onnx_metadata["size_bytes"] == len(onnx)


def test_uploaded_predictions_alone_are_scored_unverified(iris, model):
    _, _, schema, classes = model
    y = iris["y_test"]
    labels = EvalLabels(np.array(list(y), dtype=object), np.ones(len(y), dtype=bool))
    res = evaluate(
        _job(schema, classes, split=False),
        labels=labels,
        features=None,
        model_bytes=None,
        uploaded=pd.DataFrame({"prediction": list(y)}),
    )
    assert res.ok and not res.verified
    assert res.scores["all"]["accuracy"] == 1.0
    assert "log_loss" not in res.scores["all"]


def test_a_model_that_gives_unknown_classes_fails_with_a_clear_message(iris, model):
    clf, onnx, schema, _ = model
    y = iris["y_test"]
    labels = EvalLabels(np.array(["x"] * len(y), dtype=object), np.ones(len(y), dtype=bool))
    res = evaluate(
        _job(schema, ["x", "z"], split=False),
        labels=labels,
        features=iris["X_test"],
        model_bytes=onnx,
        uploaded=None,
    )
    assert not res.ok
    assert "not classes of this playground" in res.error


def test_regression(diabetes):
    y = diabetes["y_test"].to_numpy()
    labels = EvalLabels(y.astype(float), np.ones(len(y), dtype=bool))
    schema = [Column(name=c, dtype="float") for c in diabetes["X_test"].columns]
    res = evaluate(
        _job(schema, None, split=False, task=TaskType.REGRESSION, metric=Metric.RMSE),
        labels=labels,
        features=None,
        model_bytes=None,
        uploaded=pd.DataFrame({"prediction": y + 1.0}),
    )
    assert res.scores["all"]["rmse"] == pytest.approx(1.0)
    assert res.scores["all"]["mae"] == pytest.approx(1.0)
