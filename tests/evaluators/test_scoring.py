"""Scoring one submission from loaded inputs (no Ray, no files)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    f1_score,
    matthews_corrcoef,
)

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
        evaldata_url="",
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


def _metric_names(task, probabilities=True):
    return {m.value for m in Metric if m.task_type is task and (probabilities or not m.needs_probabilities)}


def test_every_metric_of_the_task_is_scored_on_every_split(iris, model, diabetes):
    clf, onnx, schema, classes = model
    X, y = iris["X_test"], iris["y_test"]
    is_public = np.arange(len(y)) % 2 == 0
    labels = EvalLabels(np.array(list(y), dtype=object), is_public)
    res = evaluate(
        _job(schema, classes, metric=Metric.MCC), labels=labels, features=X, model_bytes=onnx, uploaded=None
    )
    assert res.ok
    pred = clf.predict(X)
    for split in ("all", "public", "private"):
        assert set(res.scores[split]) == _metric_names(TaskType.CLASSIFICATION)
    scores = res.scores["all"]
    assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert scores["mcc"] == pytest.approx(matthews_corrcoef(y, pred))
    assert scores["f1_weighted"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert scores["top_3_accuracy"] == 1.0  # iris has 3 classes
    assert 0 < scores["top_2_accuracy"] <= 1
    lo, hi = res.intervals["all"]  # the ranking metric's interval
    assert lo <= scores["mcc"] <= hi

    # Uploaded predictions alone: no probabilities, so no metric that needs them.
    unverified = evaluate(
        _job(schema, classes, split=False, metric=Metric.COHEN_KAPPA),
        labels=labels,
        features=None,
        model_bytes=None,
        uploaded=pd.DataFrame({"prediction": list(pred)}),
    )
    assert set(unverified.scores["all"]) == _metric_names(TaskType.CLASSIFICATION, probabilities=False)
    assert unverified.scores["public"] == unverified.scores["all"]
    assert unverified.intervals["public"] == unverified.intervals["all"]
    assert unverified.scores["all"]["cohen_kappa"] == pytest.approx(cohen_kappa_score(y, pred))

    # Regression.
    y = diabetes["y_test"].to_numpy()
    reg_labels = EvalLabels(y.astype(float), np.ones(len(y), dtype=bool))
    reg_schema = [Column(name=c, dtype="float") for c in diabetes["X_test"].columns]
    reg = evaluate(
        _job(reg_schema, None, split=False, task=TaskType.REGRESSION, metric=Metric.PINBALL_90),
        labels=reg_labels,
        features=None,
        model_bytes=None,
        uploaded=pd.DataFrame({"prediction": y + 1.0}),
    )
    assert set(reg.scores["all"]) == _metric_names(TaskType.REGRESSION)
    scores = reg.scores["all"]
    assert scores["median_ae"] == pytest.approx(1.0)
    assert scores["mape"] == pytest.approx(np.mean(1.0 / np.abs(y)))
    assert scores["explained_variance"] == pytest.approx(1.0)  # a constant offset
    assert scores["pinball_10"] == pytest.approx(0.9)  # every prediction is 1 too high
    assert scores["pinball_90"] == pytest.approx(0.1)
    assert reg.intervals["all"] == pytest.approx([0.1, 0.1])
