"""One-line deployment against the real hub and real Ray Serve."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge

from aims_spaces import (
    InvalidSpec,
    ModelPlayground,
    NotFound,
    PermissionDenied,
    PlaygroundNotFound,
    SubmissionNotFound,
)
from aims_spaces.client.conversion import convert
from aims_spaces.core.tabular import infer_schema
from aims_spaces.domain import TaskType
from tests.conftest import signature

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def served(users, iris):
    owner = users("sam")
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="iris-serve", client=owner)
    pg.create(
        eval_data=iris["y_test"],
        eval_features=iris["X_test"],
        example_data=iris["X_test"].head(3),
        y_train=iris["y_train"],
    )
    lr = LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    rf = RandomForestClassifier(n_estimators=20, random_state=0).fit(iris["X_train"], iris["y_train"])
    pg.submit_model(model=lr).wait()
    pg.submit_model(model=rf).wait()
    pg.submit_model(prediction_submission=iris["y_test"].to_numpy()).wait()  # v3: no model
    info = pg.deploy_model(1)
    assert info.version == 1 and info.ready
    return pg, lr, rf


def test_predict_through_the_client_and_plain_http(served, iris, hub):
    pg, lr, _ = served
    X = iris["X_test"]
    out = pg.predict(X)
    assert list(out["prediction"]) == list(lr.predict(X))
    proba = out[[f"proba_{c}" for c in lr.classes_]].to_numpy()
    np.testing.assert_allclose(proba, lr.predict_proba(X), atol=1e-5)
    assert out.attrs["model_version"] == 1

    rows = X.head(5).to_dict("records")
    r = httpx.post(f"{hub.serve_url}/iris-serve/predict", json={"rows": rows})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["predictions"] == list(lr.predict(X.head(5)))
    assert len(body["probabilities"]) == 5 and set(body["probabilities"][0]) == set(lr.classes_)
    assert body["model_version"] == 1


def test_regression_with_many_rows(users, diabetes, hub):
    owner = users("sam")
    pg = ModelPlayground(input_type="tabular", task_type="regression", name="diabetes-serve", client=owner)
    pg.create(eval_data=diabetes["y_test"], eval_features=diabetes["X_test"])
    ridge = Ridge().fit(diabetes["X_train"], diabetes["y_train"])
    sub = pg.submit_model(model=ridge).wait()
    pg.deploy_model(sub.version)
    X = diabetes["X_test"]
    r = httpx.post(f"{hub.serve_url}/diabetes-serve/predict", json={"rows": X.to_dict("records")})
    assert r.status_code == 200
    got = r.json()["predictions"]
    assert len(got) == len(X)
    np.testing.assert_allclose(got, ridge.predict(X), rtol=1e-6)
    np.testing.assert_allclose(pg.predict(X.head(7))["prediction"], ridge.predict(X.head(7)), rtol=1e-6)


def test_private_playground_needs_a_members_token(users, iris, hub):
    owner, member, outsider = users("sam"), users("mia"), users("otto")
    pg = ModelPlayground(
        input_type="tabular",
        task_type="classification",
        name="iris-private-serve",
        private=True,
        client=owner,
    )
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
    sub = pg.submit_model(
        model=LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    ).wait()
    pg.deploy_model(sub.version)
    url = f"{hub.serve_url}/iris-private-serve/predict"
    rows = {"rows": iris["X_test"].head(2).to_dict("records")}
    anonymous = httpx.post(url, json=rows)
    assert anonymous.status_code == 404
    # Someone else's token or a forged one: the very same answer, so nothing tells a prober
    # the playground exists.
    for token in (outsider.token, "aims_forged"):
        r = httpx.post(url, json=rows, headers={"Authorization": f"Bearer {token}"})
        assert (r.status_code, r.json()) == (404, anonymous.json())
    assert httpx.post(url, json=rows, headers={"Authorization": f"Bearer {owner.token}"}).status_code == 200
    pg.add_member("mia")  # membership reaches the model server without a redeploy
    r = httpx.post(url, json=rows, headers={"Authorization": f"Bearer {member.token}"})
    assert r.status_code == 200, r.text
    with pytest.raises(PlaygroundNotFound):
        ModelPlayground(name=pg.name, client=outsider).get_deployment()
    # On the hub's own port (one-port hosts): the very same answers, the model server decides.
    here = f"{hub.url}/api/playgrounds/iris-private-serve/predict"
    assert (httpx.post(here, json=rows).status_code, httpx.post(here, json=rows).json()) == (
        404,
        anonymous.json(),
    )
    for token in (outsider.token, "aims_forged"):
        r = httpx.post(here, json=rows, headers={"Authorization": f"Bearer {token}"})
        assert (r.status_code, r.json()) == (404, anonymous.json())
    direct = httpx.post(url, json=rows, headers={"Authorization": f"Bearer {member.token}"}).json()
    r = httpx.post(here, json=rows, headers={"Authorization": f"Bearer {member.token}"})
    assert r.status_code == 200 and r.json() == direct


def test_the_hubs_own_port_answers_predictions_as_the_model_server_does(served, hub, iris):
    rows = {"rows": iris["X_test"].head(3).to_dict("records")}
    here = f"{hub.url}/api/playgrounds/iris-serve/predict"
    direct = httpx.post(f"{hub.serve_url}/iris-serve/predict", json=rows)
    r = httpx.post(here, json=rows)
    assert r.status_code == 200 and r.json() == direct.json()
    for body in (b"{oops", b'{"rows": [{"sepal length (cm)": 5.1}]}'):
        a = httpx.post(here, content=body, headers={"Content-Type": "application/json"})
        b = httpx.post(
            f"{hub.serve_url}/iris-serve/predict", content=body, headers={"Content-Type": "application/json"}
        )
        assert (a.status_code, a.json()) == (b.status_code, b.json()) and a.status_code == 422
    assert httpx.post(f"{hub.url}/api/playgrounds/no-such-playground/predict", json=rows).status_code == 404
    r = httpx.post(here, content=b"x" * (hub_max_predict_bytes() + 1))
    assert r.status_code == 413 and "AIMS_MAX_PREDICT_MB" in r.json()["error"]["message"]


def hub_max_predict_bytes() -> int:
    from aims_spaces.hub.settings import Settings

    return Settings().max_predict_bytes  # the session hub keeps the default


@pytest.mark.parametrize(
    "payload, status, words",
    [
        ({"rows": [{"sepal length (cm)": 5.1}]}, 422, "missing column(s)"),
        (
            {
                "rows": [
                    {
                        "sepal length (cm)": 5.1,
                        "sepal width (cm)": 3.0,
                        "petal length (cm)": 1.0,
                        "petal width (cm)": 0.2,
                        "colour": "red",
                    }
                ]
            },
            422,
            "unknown column(s) ['colour']",
        ),
        (
            {
                "rows": [
                    {
                        "sepal length (cm)": "long",
                        "sepal width (cm)": 3.0,
                        "petal length (cm)": 1.0,
                        "petal width (cm)": 0.2,
                    }
                ]
            },
            422,
            "row 0, column 'sepal length (cm)': expected a number",
        ),
        ({"rows": []}, 422, "non-empty"),
        ({"columns": {}}, 422, '{"rows"'),
    ],
)
def test_bad_bodies_get_a_4xx_naming_the_problem(served, hub, payload, status, words):
    r = httpx.post(f"{hub.serve_url}/iris-serve/predict", json=payload)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"]
    assert "onnxruntime" not in r.text.lower()


def test_other_requests_are_refused_clearly(served, hub):
    assert httpx.post(f"{hub.serve_url}/iris-serve/predict", content=b"{oops").status_code == 422
    assert httpx.get(f"{hub.serve_url}/iris-serve/predict").status_code == 405
    assert httpx.post(f"{hub.serve_url}/no-such-playground/predict", json={"rows": [{}]}).status_code == 404
    assert httpx.post(f"{hub.serve_url}/iris-serve/other", json={}).status_code == 404


def test_deploy_refusals(served, users):
    pg, _, _ = served
    with pytest.raises(SubmissionNotFound):
        pg.deploy_model(99)
    with pytest.raises(InvalidSpec, match="no model"):
        pg.deploy_model(3)
    with pytest.raises(PermissionDenied):
        ModelPlayground(name=pg.name, client=users("otto")).deploy_model(2)
    never = ModelPlayground(
        input_type="tabular", task_type="classification", name="never-deployed", client=users("sam")
    )
    never.create(eval_data=["a", "b", "a"])
    with pytest.raises(NotFound, match="no deployed model"):
        never.get_deployment()


def test_swap_under_load_loses_no_request(served, iris, hub):
    pg, lr, rf = served
    url = f"{hub.serve_url}/iris-serve/predict"
    rows = {"rows": iris["X_test"].head(3).to_dict("records")}
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def fire() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                r = http.post(url, json=rows)
                seen.append(
                    (r.status_code, r.json().get("model_version", -1) if r.status_code == 200 else -1)
                )

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(seen) < 25:  # answers before the swap (counted, not timed: a loaded machine is slow)
        assert time.monotonic() < deadline, len(seen)
        time.sleep(0.1)
    info = pg.update_runtime_model(2)
    after_swap = len(seen)
    while len(seen) < after_swap + 25:  # and answers after it
        assert time.monotonic() < deadline, len(seen)
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()
    assert info.version == 2
    statuses = [s for s, _ in seen]
    assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    versions = [v for _, v in seen]
    assert versions[0] == 1 and versions[-1] == 2
    after = httpx.post(url, json={"rows": iris["X_test"].to_dict("records")}).json()
    assert after["model_version"] == 2 and after["predictions"] == list(rf.predict(iris["X_test"]))


def test_deployment_reports_traffic(served, hub):
    pg, _, _ = served
    url = f"{hub.serve_url}/iris-serve/predict"
    for _ in range(5):
        httpx.post(url, json={"rows": [{"bad": 1}]})
    deadline = time.monotonic() + 10
    while True:
        info = pg.get_deployment()
        if info.stats.errors >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert info.stats.requests >= info.stats.errors >= 5
    assert info.stats.p50_ms is not None and info.stats.p99_ms >= info.stats.p50_ms
    assert info.replicas >= 1 and info.predict_url.endswith("/iris-serve/predict")
    # Ray Serve's HAProxy exports Prometheus metrics.
    port = json.loads((hub.home / "run.json").read_text())["metrics"]  # the hub picked it
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert metrics.status_code == 200 and "haproxy_" in metrics.text


def test_more_models_than_the_cache_holds(users, iris, hub):
    """The session hub keeps 2 models in each of its 2 replicas; 5 deployed playgrounds still
    all answer, and no replica holds more than its cache. (One owner each: an account may
    serve only a few models.)"""
    owner = users("sam")
    clf = LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    names = [f"lru-{i}" for i in range(4)]
    for i, name in enumerate(names):
        pg = ModelPlayground(
            input_type="tabular", task_type="classification", name=name, client=users(f"lru-owner-{i}")
        )
        pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
        sub = pg.submit_model(
            model=LogisticRegression(max_iter=1000, C=0.1 + i).fit(iris["X_train"], iris["y_train"])
        ).wait()
        pg.deploy_model(sub.version)
    rows = {"rows": iris["X_test"].head(4).to_dict("records")}
    for _ in range(3):
        for name in names:
            r = httpx.post(f"{hub.serve_url}/{name}/predict", json=rows)
            assert r.status_code == 200, r.text
    time.sleep(0.6)  # replicas report what they hold every 0.25 s
    deadline = time.monotonic() + 30
    while True:  # a replica that missed a report on a loaded machine counts again at its next
        infos = [ModelPlayground(name=n, client=owner).get_deployment() for n in [*names, "iris-serve"]]
        if infos[0].replicas == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    held = [info.replicas_ready for info in infos]
    replicas = infos[0].replicas
    assert replicas == 2 and len(infos) > 2 * replicas
    assert sum(held) <= 2 * replicas and max(held) <= replicas, held
    del clf


def test_undeploy(users, iris, hub):
    pg = ModelPlayground(name="lru-0", client=users("lru-owner-0"))
    pg.undeploy()
    r = httpx.post(f"{hub.serve_url}/lru-0/predict", json={"rows": iris["X_test"].head(1).to_dict("records")})
    assert r.status_code == 404
    with pytest.raises(NotFound):
        pg.get_deployment()


def slow_model(onnx_bytes: bytes, seconds: float) -> bytes:
    """The same classifier with a loop of matrix products that adds nothing to its outputs but
    takes about ``seconds`` per run on this machine (measured here, so any machine qualifies)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    def build(reps: int) -> bytes:
        model = onnx.load_from_string(onnx_bytes)
        graph = model.graph
        proba = next(o for o in graph.output if len(o.type.tensor_type.shape.dim) == 2)
        dtype = proba.type.tensor_type.elem_type
        for node in graph.node:
            node.output[:] = ["raw" if name == proba.name else name for name in node.output]
        body = helper.make_graph(
            [
                helper.make_node("MatMul", ["big", "big"], ["product"]),
                helper.make_node("ReduceSum", ["product"], ["part"], keepdims=0),
                helper.make_node("Add", ["acc", "part"], ["acc_out"]),
                helper.make_node("Identity", ["cond"], ["cond_out"]),
            ],
            "burn",
            [
                helper.make_tensor_value_info("i", TensorProto.INT64, []),
                helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                helper.make_tensor_value_info("acc", dtype, []),
            ],
            [
                helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                helper.make_tensor_value_info("acc_out", dtype, []),
            ],
        )
        np_dtype = np.float64 if dtype == TensorProto.DOUBLE else np.float32
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.array(0, dtype=np_dtype), "zero"),
                numpy_helper.from_array(np.array(1e-9, dtype=np_dtype), "eps"),
                numpy_helper.from_array(np.array([500, 500], dtype=np.int64), "shape"),
                numpy_helper.from_array(np.array(reps, dtype=np.int64), "reps"),
                numpy_helper.from_array(np.array(True), "true"),
            ]
        )
        graph.node.extend(
            [  # the matrix depends on the input, so onnxruntime cannot fold the loop away
                helper.make_node("ReduceSum", [graph.input[0].name], ["total"], keepdims=0),
                helper.make_node("Mul", ["total", "zero"], ["nought"]),
                helper.make_node("Add", ["nought", "eps"], ["value"]),
                helper.make_node("Expand", ["value", "shape"], ["big"]),
                helper.make_node("Loop", ["reps", "true", "nought"], ["burnt"], body=body),
                helper.make_node("Mul", ["burnt", "zero"], ["nothing"]),
                helper.make_node("Add", ["raw", "nothing"], [proba.name]),
            ]
        )
        return model.SerializeToString()

    probe = build(20)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(probe, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.zeros((1, 4))}
    session.run(None, feed)
    timings = []
    for _ in range(5):  # the fastest run: a busy moment must not make the model too short
        start = time.perf_counter()
        session.run(None, feed)
        timings.append(time.perf_counter() - start)
    per_rep = min(timings) / 20
    return build(max(int(seconds / per_rep), 20))


def test_a_model_still_loading_gets_a_503_with_retry_after(users, iris, hub):
    """A model evicted from every replica's cache reloads on its next request; while it loads
    (here: slower than the 2 s a request waits) the endpoint says so instead of timing out, and
    the client waits for it."""
    owner = users("sly")  # three deployments of its own
    X, y = iris["X_train"], iris["y_train"]
    lr = LogisticRegression(max_iter=1000).fit(X, y)
    playgrounds = {}
    for name in ("slow", "evict-a", "evict-b"):
        pg = ModelPlayground(input_type="tabular", task_type="classification", name=name, client=owner)
        pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
        playgrounds[name] = pg
    onnx = convert(lr, signature(infer_schema(X), TaskType.CLASSIFICATION, sorted(set(y)))).onnx
    sub = playgrounds["slow"].submit_model(model=slow_model(onnx, seconds=3.5)).wait(timeout=120)
    playgrounds["slow"].deploy_model(sub.version)  # every replica loads and warms it first
    for name in ("evict-a", "evict-b"):
        playgrounds[name].deploy_model(playgrounds[name].submit_model(model=lr).wait().version)

    rows = {"rows": iris["X_test"].head(2).to_dict("records")}

    def fetch(name: str) -> httpx.Response:
        return httpx.post(f"{hub.serve_url}/{name}/predict", json=rows, timeout=60)

    deadline = time.monotonic() + 60
    while playgrounds["slow"].get_deployment().replicas_ready > 0:  # both replicas evict it
        assert time.monotonic() < deadline, "the slow model was never evicted"
        with ThreadPoolExecutor(8) as pool:
            assert {r.status_code for r in pool.map(fetch, ["evict-a", "evict-b"] * 8)} == {200}
        time.sleep(0.3)

    first = fetch("slow")
    assert first.status_code == 503, first.text
    assert first.headers["retry-after"] == "1"
    assert "is loading; retry in a moment" in first.json()["error"]["message"]
    # The client waits through the loading (both replicas may have to load it in turn).
    out = playgrounds["slow"].predict(iris["X_test"].head(2))
    assert list(out["prediction"]) == list(lr.predict(iris["X_test"].head(2)))
