"""Model loading, batching, statistics and the shared serving state, without Ray."""

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aims_spaces.client.conversion import convert
from aims_spaces.core.onnx_model import OnnxModel
from aims_spaces.core.tabular import infer_schema
from aims_spaces.domain import Route, TaskType
from aims_spaces.errors import InvalidPredictions
from aims_spaces.hub.storage import ArtifactStore
from serving.model_server import ModelServer
from serving.state import ServingState
from serving.stats import LatencyStats
from tests.conftest import signature


@pytest.fixture(scope="module")
def served(iris, tmp_path_factory):
    X = iris["X_test"]
    clf = LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    schema = infer_schema(X)
    classes = sorted(set(iris["y_train"]))
    onnx = convert(clf, signature(schema, TaskType.CLASSIFICATION, classes)).onnx
    store = ArtifactStore(tmp_path_factory.mktemp("store"))
    sha, _ = store.put(onnx)
    route = Route(
        playground="iris",
        version=1,
        model_sha256=sha,
        signature=signature(schema, TaskType.CLASSIFICATION, classes),
        private=False,
        example=X.head(2).to_dict("records"),
    )
    return clf, route, ModelServer(store.url)


def test_batched_requests_get_their_own_rows_back(served, iris):
    clf, route, server = served
    model = server.load(route)
    X = iris["X_test"]
    parts = [X.iloc[:1], X.iloc[1:4], X.iloc[4:20]]
    requests = [({c: part[c].to_numpy() for c in X.columns}, len(part)) for part in parts]
    outs = server.run_batch(model, requests)
    for part, out in zip(parts, outs, strict=True):
        assert model.index_.decode(out.indices) == list(clf.predict(part))
        np.testing.assert_allclose(out.probabilities, clf.predict_proba(part), atol=1e-6)


def test_latency_stats_percentiles_merge_across_replicas():
    a, b = LatencyStats(), LatencyStats()
    for ms in range(1, 101):
        (a if ms % 2 else b).record(float(ms), error=ms > 95)
    merged = LatencyStats.from_dict(a.to_dict())
    merged.merge(b)
    s = merged.summary()
    assert (s.requests, s.errors) == (100, 5)
    assert s.p50_ms == pytest.approx(50, rel=0.06)
    assert s.p99_ms == pytest.approx(99, rel=0.06)


def test_a_swap_activates_only_when_every_live_replica_holds_the_model(served):
    _, route, _ = served
    state = ServingState()
    new = route.model_copy(update={"version": 2, "model_sha256": "b" * 64})
    state.sync("r1", -1, [], {}, {})
    state.sync("r2", -1, [], {}, {})
    state.stage(new)
    assert state.readiness(new.model_key) == {"live": 2, "ready": 0, "error": None}
    gen, routes, staged = state.sync("r1", 0, [new.model_key], {}, {})
    assert staged == [new] and routes == []
    assert state.readiness(new.model_key)["ready"] == 1
    state.sync("r2", 0, [new.model_key], {}, {})
    assert state.readiness(new.model_key)["ready"] == 2
    generation = state.activate("iris")
    assert not state.caught_up(generation)
    state.sync(
        "r1", generation, [new.model_key], {}, {"iris": {"requests": 3, "errors": 1, "counts": {10: 3}}}
    )
    state.sync("r2", generation, [new.model_key], {}, {})
    assert state.caught_up(generation)
    assert state.summary("iris")["stats"]["requests"] == 3
    state.sync("r1", generation, [], {new.model_key: "boom"}, {})
    assert state.readiness(new.model_key)["error"] == "boom"


def test_a_matrix_of_numeric_columns_feeds_either_input_layout(served, iris):
    """The router hands numeric rows over as one matrix; a model taking that matrix and one
    taking a column per input both predict from it what they predict from a DataFrame."""
    clf, route, server = served
    X, y = iris["X_train"], iris["y_train"]
    per_column = make_pipeline(
        ColumnTransformer([("s", StandardScaler(), list(X.columns))]), LogisticRegression()
    )
    per_column.fit(X, y)
    onnx = convert(per_column, route.signature).onnx
    column_model = OnnxModel(onnx, route.signature).load()
    matrix_model = server.load(route)
    assert matrix_model.matrix_feed_ is not None and column_model.matrix_feed_ is None
    test = iris["X_test"]
    for model, original in ((matrix_model, clf), (column_model, per_column)):
        from_matrix = model.run(test.to_numpy(dtype=np.float64))
        from_frame = model.run(test)
        np.testing.assert_array_equal(from_matrix.indices, from_frame.indices)
        np.testing.assert_allclose(from_matrix.probabilities, original.predict_proba(test), atol=1e-6)
    parts = [test.iloc[:1], test.iloc[1:5]]
    outs = server.run_batch(matrix_model, [(p.to_numpy(dtype=np.float64), len(p)) for p in parts])
    assert [matrix_model.index_.decode(o.indices) for o in outs] == [list(clf.predict(p)) for p in parts]
    with pytest.raises(InvalidPredictions, match=r"expected \(rows, 4\)"):
        matrix_model.run(np.zeros((2, 3)))
