"""The user flow of the hub, through the public client only, against the real hub and Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, r2_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import aims_spaces
from aims_spaces import EvaluationFailed, ModelPlayground, OnnxPredictor, SubmissionStatus

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def iris_pg(users, iris):
    owner = users("olivia")
    pg = ModelPlayground(
        input_type="tabular", task_type="classification", private=False, name="iris-flow", client=owner
    )
    pg.create(
        eval_data=iris["y_test"],
        eval_features=iris["X_test"],
        example_data=iris["X_test"].head(5),
        y_train=iris["y_train"],
        public_fraction=0.5,
    )
    return pg


@pytest.fixture(scope="module")
def iris_models(iris):
    rf = RandomForestClassifier(n_estimators=40, max_depth=3, random_state=0).fit(
        iris["X_train"], iris["y_train"]
    )
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        iris["X_train"], iris["y_train"]
    )
    return rf, lr


def test_classification_flow(iris_pg, iris_models, iris):
    rf, lr = iris_models
    X, y = iris["X_test"], iris["y_test"]
    info = iris_pg.info
    assert info.classes == ["setosa", "versicolor", "virginica"]  # ordered, from y_train
    assert info.n_eval_rows == len(y) and info.has_eval_features

    sub = iris_pg.submit_model(
        model=rf, prediction_submission=rf.predict(X), submission_type="all", custom_metadata={"team": "a"}
    )
    assert sub.version == 1 and sub.status in (
        SubmissionStatus.QUEUED,
        SubmissionStatus.RUNNING,
        SubmissionStatus.SCORED,
    )
    sub.wait()
    assert sub.status is SubmissionStatus.SCORED
    assert sub.info.verified is True and sub.info.mismatch_fraction == 0.0
    # The owner sees all-rows scores; they are the model's own, computed by the hub.
    assert sub.scores["all"]["accuracy"] == pytest.approx(accuracy_score(y, rf.predict(X)))
    assert sub.scores["all"]["f1_macro"] == pytest.approx(f1_score(y, rf.predict(X), average="macro"))
    assert {"log_loss", "roc_auc", "precision_macro", "recall_macro"} <= set(sub.scores["all"])
    assert sub.info.onnx_metadata["tree_nodes"] > 0 and sub.info.onnx_metadata["opset"]

    sub2 = iris_pg.submit_model(
        model=lr,
        prediction_submission=lr.predict(X),
        submission_type="all",
        description="scaled logistic regression",
    ).wait()
    assert sub2.version == 2

    board = iris_pg.get_leaderboard()
    assert set(board["version"]) == {1, 2}
    best_first = board.sort_values("rank")
    assert best_first["accuracy"].is_monotonic_decreasing
    assert {
        "accuracy_ci_low",
        "accuracy_ci_high",
        "custom.team",
        "model_type",
        "verified",
        "duplicate_of",
        "param.RandomForestClassifier.max_depth",
        "onnx.tree_nodes",
    } <= set(board.columns)
    row = board.set_index("version").loc[1]
    assert row["accuracy_ci_low"] <= row["accuracy"] <= row["accuracy_ci_high"]
    assert row["custom.team"] == "a" and row["model_type"] == "RandomForestClassifier"
    assert board.attrs["metric"] == "accuracy"

    comp = iris_pg.get_leaderboard(submission_type="competition")
    # One row per participant: both versions are the owner's, the better public one stands.
    assert len(comp) == 1 and comp["entries"].tolist() == [2] and set(comp["version"]) <= {1, 2}
    assert comp.attrs["ranked_on"] == "public"

    styler = iris_pg.compare_models([1, 2])
    table = styler.data
    assert list(table.columns) == ["v1", "v2"]
    assert table.loc["model_type", "v1"] == "RandomForestClassifier"
    assert table.loc["model_type", "v2"] == "LogisticRegression"
    html = styler.to_html()
    assert "background-color: #fff3b0" in html  # differences are highlighted

    original = iris_pg.instantiate_model(1)
    assert type(original).__name__ == "RandomForestClassifier"
    assert list(original.predict(X)) == list(rf.predict(X))
    onnx_model = iris_pg.instantiate_model(2, prefer="onnx")
    assert isinstance(onnx_model, OnnxPredictor)
    assert list(onnx_model.predict(X)) == list(lr.predict(X))
    np.testing.assert_allclose(onnx_model.predict_proba(X), lr.predict_proba(X), atol=1e-6)


def test_ties_go_to_the_earlier_submission_and_duplicates_are_flagged(iris_pg, iris):
    clf = LogisticRegression(max_iter=1000, C=0.01).fit(iris["X_train"], iris["y_train"])
    first = iris_pg.submit_model(model=clf, submission_type="experiment").wait()
    again = iris_pg.submit_model(model=clf, submission_type="experiment").wait()
    assert again.info.duplicate_of == first.version
    board = iris_pg.get_leaderboard().set_index("version")
    assert board.loc[first.version, "rank"] < board.loc[again.version, "rank"]
    assert board.loc[first.version, "accuracy"] == board.loc[again.version, "accuracy"]


def test_uploaded_predictions_that_disagree_with_the_model_are_flagged(iris_pg, iris):
    X = iris["X_test"]
    clf = LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    fake = np.array(["setosa"] * len(X), dtype=object)
    sub = iris_pg.submit_model(model=clf, prediction_submission=fake).wait()
    assert sub.info.verified
    assert sub.info.mismatch_fraction == pytest.approx(np.mean(clf.predict(X) != "setosa"))
    # The verified score is the model's, not the uploaded predictions'.
    assert sub.scores["all"]["accuracy"] == pytest.approx(accuracy_score(iris["y_test"], clf.predict(X)))


def test_predictions_only_submission_is_scored_unverified(iris_pg, iris):
    sub = iris_pg.submit_model(prediction_submission=iris["y_test"].to_numpy()).wait()
    assert sub.info.verified is False and not sub.info.has_model
    assert sub.scores["all"]["accuracy"] == 1.0


def test_pipeline_with_categorical_strings(users, iris):
    owner = users("olivia")
    X_train, X_test = iris["X_train"].copy(), iris["X_test"].copy()
    for X in (X_train, X_test):
        X["size"] = np.where(X["petal length (cm)"] > 4.0, "large", "small")
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="iris-mixed", client=owner)
    pg.create(eval_data=iris["y_test"], eval_features=X_test, y_train=iris["y_train"])
    assert [c.dtype.value for c in pg.info.feature_schema][-1] == "string"
    numeric = [c for c in X_train.columns if c != "size"]
    pipe = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), numeric),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["size"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    ).fit(X_train, iris["y_train"])
    sub = pg.submit_model(model=pipe, prediction_submission=pipe.predict(X_test)).wait()
    assert sub.info.verified and sub.info.mismatch_fraction == 0.0
    assert sub.info.metadata["params"]["prep.cat"]["handle_unknown"] == "ignore"
    assert sub.scores["all"]["accuracy"] == pytest.approx(
        accuracy_score(iris["y_test"], pipe.predict(X_test))
    )
    assert list(pg.get_eval_features().columns) == list(X_test.columns)


def test_regression_flow(users, diabetes):
    owner = users("olivia")
    X, y = diabetes["X_test"], diabetes["y_test"]
    pg = ModelPlayground(input_type="tabular", task_type="regression", name="diabetes-flow", client=owner)
    info = pg.create(eval_data=y, eval_features=X, example_data=X.head(3), public_fraction=1.0)
    assert info.eval_metric.value == "rmse" and not info.higher_is_better and info.classes is None
    ridge = Ridge(alpha=1.0).fit(diabetes["X_train"], diabetes["y_train"])
    gbr = GradientBoostingRegressor(random_state=0, n_estimators=50).fit(
        diabetes["X_train"], diabetes["y_train"]
    )
    s1 = pg.submit_model(model=ridge, prediction_submission=ridge.predict(X), submission_type="all").wait()
    s2 = pg.submit_model(model=gbr, prediction_submission=gbr.predict(X), submission_type="all").wait()
    assert s1.scores["all"]["rmse"] == pytest.approx(
        np.sqrt(mean_squared_error(y, ridge.predict(X))), rel=1e-6
    )
    assert s2.scores["all"]["r2"] == pytest.approx(r2_score(y, gbr.predict(X)), rel=1e-5)
    assert s1.info.mismatch_fraction == 0.0 and s2.info.mismatch_fraction == 0.0
    board = pg.get_leaderboard()
    assert board["rmse"].is_monotonic_increasing  # lower is better
    assert board.attrs["scored_on"] == "all"  # no competition split: every row is public
    assert len(pg.get_example_data()) == 3
    model = pg.instantiate_model(s1.version)
    np.testing.assert_allclose(model.predict(X), ridge.predict(X))


def test_a_model_the_evaluator_refuses_fails_with_its_reason(users, iris):
    owner = users("olivia")
    pg = ModelPlayground(
        input_type="tabular", task_type="classification", name="renamed-classes", client=owner
    )
    # Integer classes on the hub, a model that answers with strings.
    pg.create(
        eval_data=iris["y_test"].map({"setosa": 0, "versicolor": 1, "virginica": 2}),
        eval_features=iris["X_test"],
    )
    clf = LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    import onnx

    from aims_spaces.client.conversion import convert

    # Converted for string classes, submitted to a playground whose classes are integers.
    converted = convert(
        clf, pg.info.signature.model_copy(update={"classes": sorted(set(iris["y_train"]))})
    ).onnx
    proto = onnx.load_model_from_string(converted)
    del proto.metadata_props[:]  # no class list: the upload check cannot tell, only running it can
    sub = pg.submit_model(model=proto)
    with pytest.raises(EvaluationFailed, match="classes"):
        sub.wait()
    assert sub.status is SubmissionStatus.FAILED
    assert pg.get_leaderboard().empty


def test_login_with_password_and_the_cli(hub, admin, iris_pg, tmp_path):
    out = admin.request("POST", "/api/users", json_body={"username": "carl", "password": "correct horse"})
    client = aims_spaces.login(hub.url, username="carl", password="correct horse")
    assert client.request("GET", "/api/whoami")["username"] == "carl"
    assert out["token"] != client.token  # each login issues its own token

    env = dict(os.environ, AIMS_CONFIG_DIR=str(tmp_path))
    cli = [sys.executable, "-m", "aims_spaces"]
    done = subprocess.run(
        [*cli, "login", hub.url, "--token", out["token"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "credentials.json").read_text())["token"] == out["token"]
    done = subprocess.run(
        [*cli, "leaderboard", "iris-flow"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "accuracy" in done.stdout and "rank" in done.stdout
    done = subprocess.run(
        [*cli, "leaderboard", "no-such-board"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1 and "does not exist" in done.stderr
