"""Every bad input gets a typed error naming the problem, an HTTP 4xx, and leaves nothing behind."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from aims_spaces import (
    AuthenticationRequired,
    InvalidEvalData,
    InvalidModel,
    InvalidPredictions,
    InvalidSpec,
    ModelPlayground,
    PayloadTooLarge,
    PlaygroundExists,
    PlaygroundNotFound,
    SubmissionNotFound,
)
from aims_spaces.client.conversion import convert
from aims_spaces.client.http import HubClient
from tests.conftest import artifact_files, evaldata_dirs

pytestmark = pytest.mark.hub


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


@pytest.fixture(scope="module")
def owner(users):
    return users("quinn")


@pytest.fixture(scope="module")
def target(owner, iris):
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="iris-bad", client=owner)
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"], y_train=iris["y_train"])
    return pg


@pytest.fixture
def unchanged(hub, admin):
    """Asserts the hub's stored state is the same after the test body as before it."""

    def snapshot():
        subs = {p["name"]: p["n_submissions"] for p in admin.request("GET", "/api/playgrounds")}
        return artifact_files(hub.home), evaldata_dirs(hub.home), subs

    before = snapshot()
    yield
    assert snapshot() == before


def _create_raw(hub, token, spec: dict, labels=None, features=None) -> httpx.Response:
    files = {
        "eval_labels": (
            "l.parquet",
            _parquet(labels if labels is not None else pd.DataFrame({"label": ["a", "b"]})),
        )
    }
    if features is not None:
        files["eval_features"] = ("f.parquet", _parquet(features))
    return httpx.post(
        f"{hub.url}/api/playgrounds",
        headers={"Authorization": f"Bearer {token}"},
        data={"spec": json.dumps(spec)},
        files=files,
    )


@pytest.mark.parametrize(
    "spec, code, words",
    [
        (
            {"name": "x1", "input_type": "spreadsheet", "task_type": "classification"},
            "InvalidSpec",
            "unknown input_type 'spreadsheet'",
        ),
        ({"name": "x1", "task_type": "clustering"}, "InvalidSpec", "unknown task_type 'clustering'"),
        (
            {"name": "x1", "task_type": "classification", "eval_metric": "rmse"},
            "InvalidSpec",
            "does not apply",
        ),
        (
            {"name": "x1", "task_type": "classification", "public_fraction": 0},
            "InvalidSpec",
            "public_fraction",
        ),
        ({"name": "../etc", "task_type": "classification"}, "InvalidName", "path characters"),
        ({"name": "a/b", "task_type": "classification"}, "InvalidName", "invalid playground name"),
        ({"name": "x1", "task_type": "classification", "surprise": 1}, "InvalidSpec", "surprise"),
    ],
)
def test_bad_specs_over_rest(hub, owner, unchanged, spec, code, words):
    r = _create_raw(hub, owner.token, spec)
    assert 400 <= r.status_code < 500
    assert r.json()["error"]["code"] == code
    assert words in r.json()["error"]["message"]


def test_unknown_types_from_the_client(owner, iris, unchanged):
    with pytest.raises(InvalidSpec, match="unknown input_type"):
        ModelPlayground(input_type="hologram", task_type="classification", name="x2", client=owner).create(
            eval_data=iris["y_test"]
        )
    with pytest.raises(InvalidSpec, match="unknown task_type"):
        ModelPlayground(input_type="tabular", task_type="ranking", name="x2", client=owner).create(
            eval_data=iris["y_test"]
        )


@pytest.mark.parametrize(
    "labels, features, error, words",
    [
        (pd.Series([], dtype=str), None, InvalidEvalData, "empty"),
        (
            pd.Series(["a", "b", "a"]),
            pd.DataFrame({"f": [1.0, 2.0]}),
            InvalidEvalData,
            "2 rows but the eval labels have 3",
        ),
        (pd.Series(["a", None, "b"]), None, InvalidEvalData, "missing value"),
        (pd.Series([1.0, np.nan, 0.0]), None, InvalidEvalData, "missing value"),
        (pd.Series(["a", "a"]), None, InvalidEvalData, "at least two classes"),
        (
            pd.Series(["a", "b"]),
            pd.DataFrame({"when": pd.to_datetime(["2020-01-01", "2021-01-01"])}),
            InvalidEvalData,
            "'when'",
        ),
    ],
)
def test_bad_eval_data(owner, unchanged, labels, features, error, words):
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="bad-data", client=owner)
    with pytest.raises(error, match=words):
        pg.create(eval_data=labels, eval_features=features)


def test_regression_labels_with_nan(owner, unchanged):
    pg = ModelPlayground(input_type="tabular", task_type="regression", name="bad-data", client=owner)
    with pytest.raises(InvalidEvalData, match="NaN"):
        pg.create(eval_data=[1.0, float("nan"), 2.0])


def test_duplicate_name(owner, target, iris, unchanged):
    with pytest.raises(PlaygroundExists, match="already exists"):
        ModelPlayground(
            input_type="tabular", task_type="classification", name=target.name, client=owner
        ).create(eval_data=iris["y_test"])


@pytest.mark.parametrize(
    "predictions, words",
    [
        (lambda y: y[:-1], "44 rows but the eval data has 45"),
        (lambda y: np.linspace(0, 1, len(y)), "float values"),
        (lambda y: np.where(np.arange(len(y)) == 3, "dandelion", y), "dandelion"),
        (lambda y: np.where(np.arange(len(y)) == 3, None, y), "missing value"),
    ],
)
def test_bad_predictions(target, iris, unchanged, predictions, words):
    y = iris["y_test"].to_numpy(dtype=object)
    with pytest.raises(InvalidPredictions, match=words):
        target.submit_model(prediction_submission=predictions(y))


def test_regression_predictions_of_the_wrong_kind(owner, diabetes, unchanged_regression):
    pg = unchanged_regression
    y = diabetes["y_test"].to_numpy()
    with pytest.raises(InvalidPredictions, match="must be numbers"):
        pg.submit_model(prediction_submission=np.array(["high"] * len(y), dtype=object))
    with pytest.raises(InvalidPredictions, match="NaN"):
        pg.submit_model(prediction_submission=np.where(np.arange(len(y)) == 5, np.nan, y))
    with pytest.raises(InvalidPredictions, match="rows but the eval data has"):
        pg.submit_model(prediction_submission=y[:10])


@pytest.fixture
def unchanged_regression(owner, diabetes, hub):
    pg = ModelPlayground(input_type="tabular", task_type="regression", name="diabetes-bad", client=owner)
    try:
        pg.get_info()
    except PlaygroundNotFound:
        pg.create(eval_data=diabetes["y_test"], eval_features=diabetes["X_test"])
    files = artifact_files(hub.home)
    yield pg
    assert artifact_files(hub.home) == files
    assert pg.get_info().n_submissions == 0


def test_not_onnx_and_unfitting_onnx(target, iris, unchanged):
    with pytest.raises(InvalidModel, match="not an ONNX model"):
        target.submit_model(model=b"\x00\x01 this is a pickle, honest")
    # A valid ONNX model trained on three of the four columns does not fit the playground.
    X3 = iris["X_train"].iloc[:, :3]
    clf = LogisticRegression(max_iter=500).fit(X3.to_numpy(), iris["y_train"])
    from aims_spaces.core.tabular import infer_schema

    onx = convert(clf, target.info.signature.model_copy(update={"feature_schema": infer_schema(X3)})).onnx
    with pytest.raises(InvalidModel, match="expects 3 features per row but this playground has 4"):
        target.submit_model(model=onx)
    # An ONNX graph with no outputs is not a model at all.
    empty = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))
    with pytest.raises(InvalidModel):
        target.submit_model(model=empty.SerializeToString())


def test_bad_submission_metadata_over_rest(hub, target, owner, unchanged):
    h = {"Authorization": f"Bearer {owner.token}"}
    url = f"{hub.url}/api/playgrounds/{target.name}/submissions"
    r = httpx.post(
        url,
        headers=h,
        data={"meta": json.dumps({"submission_type": "tournament"})},
        files={"model": ("m.onnx", b"xx")},
    )
    assert r.status_code == 422 and "unknown submission_type 'tournament'" in r.json()["error"]["message"]
    r = httpx.post(url, headers=h, data={"meta": "{not json"}, files={"model": ("m.onnx", b"xx")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "InvalidSpec"
    r = httpx.post(url, headers=h, data={"meta": "{}"})
    assert r.status_code == 422 and "needs a model, predictions, or both" in r.json()["error"]["message"]
    r = httpx.post(url, headers=h, files={"predictions": ("p.parquet", b"PAR1 broken")})
    assert r.status_code == 422 and "not a readable Parquet table" in r.json()["error"]["message"]


def test_unknown_version(target, hub, owner):
    with pytest.raises(SubmissionNotFound, match="no version 999"):
        target.get_submission(999)
    with pytest.raises(SubmissionNotFound):
        target.instantiate_model(999)
    r = httpx.get(
        f"{hub.url}/api/playgrounds/{target.name}/submissions/abc",
        headers={"Authorization": f"Bearer {owner.token}"},
    )
    assert r.status_code == 422 and "version" in r.json()["error"]["message"]


def test_missing_and_wrong_tokens(hub, target, iris, unchanged):
    for token in ("", "aims_not-a-real-token"):
        client = HubClient(hub.url, token=token)
        pg = ModelPlayground(name=target.name, client=client)
        with pytest.raises(AuthenticationRequired):
            pg.submit_model(prediction_submission=iris["y_test"].to_numpy())
        with pytest.raises(AuthenticationRequired):
            ModelPlayground(
                input_type="tabular", task_type="classification", name="nope", client=client
            ).create(eval_data=iris["y_test"])
    r = httpx.get(f"{hub.url}/api/whoami", headers={"Authorization": "Bearer aims_wrong"})
    assert r.status_code == 401 and "not valid" in r.json()["error"]["message"]


def test_non_member_cannot_submit_to_a_private_playground(users, iris, unchanged_after_setup):
    pg, outsider = unchanged_after_setup
    with pytest.raises(PlaygroundNotFound, match="not a member"):
        ModelPlayground(name=pg.name, client=outsider).submit_model(
            prediction_submission=iris["y_test"].to_numpy()
        )


@pytest.fixture
def unchanged_after_setup(users, iris, hub, admin):
    owner = users("quinn")
    pg = ModelPlayground(
        input_type="tabular", task_type="classification", name="quinn-private", private=True, client=owner
    )
    try:
        pg.get_info()
    except PlaygroundNotFound:
        pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
    files = artifact_files(hub.home)
    yield pg, users("oscar")
    assert artifact_files(hub.home) == files
    assert pg.get_info().n_submissions == 0


def test_upload_over_the_size_limit(hub, target, owner, unchanged):
    # A valid ONNX model of 9 MiB (one big weight); the test hub allows 8 MiB.
    weights = onnx.numpy_helper.from_array(np.random.default_rng(0).random(9 * 2**18, dtype=np.float32), "w")
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["w"], ["y"])],
        "big",
        [],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [9 * 2**18])],
        [weights],
    )
    big = onnx.helper.make_model(graph).SerializeToString()
    assert len(big) > 9 * 2**20
    with pytest.raises(PayloadTooLarge, match="8 MiB"):
        target.submit_model(model=big)
    r = httpx.post(
        f"{hub.url}/api/playgrounds/{target.name}/submissions",
        headers={"Authorization": f"Bearer {owner.token}"},
        files={"model": ("m.onnx", big)},
    )
    assert r.status_code == 413


def test_unknown_endpoint_is_a_typed_404(hub):
    r = httpx.get(f"{hub.url}/api/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
