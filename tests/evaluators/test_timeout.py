"""Time limits on a submitted model: the watchdog stops a run past its deadline, a job past its
limit fails with "timed out after N s" while others in the same process still score, and an
operator that cannot be stopped is given up on after a grace period."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from aims_spaces.client.conversion import convert
from aims_spaces.core.onnx_model import Deadline, OnnxModel
from aims_spaces.core.tabular import infer_schema
from aims_spaces.domain import EvaluationJob, Metric, TaskType
from aims_spaces.errors import InvalidModel
from aims_spaces.hub.evaldata import EvalDataRepo
from aims_spaces.hub.storage import ArtifactStore
from evaluators.jobs import run_job
from evaluators.ray_queue import run_bounded
from tests.conftest import signature
from tests.evaluators.runaway_models import loop_for_ever, one_long_operator

# One product of two n x n matrices takes n^3 multiply-adds: on one of this machine's cores, as
# a model runs here, about 42 s for n=10000 and 5 s for n=5000 (longer under load).
LONG_N, SHORT_N = 10_000, 5_000


@pytest.fixture(scope="module")
def iris_onnx(iris):
    X, y = iris["X_train"], iris["y_train"]
    clf = LogisticRegression(max_iter=500).fit(X, y)
    sig = signature(infer_schema(X), TaskType.CLASSIFICATION, sorted(set(y)))
    return clf, convert(clf, sig).onnx, sig


def test_a_deadline_stops_a_loop_that_would_run_for_ever(iris_onnx, iris):
    _, onnx, sig = iris_onnx
    model = OnnxModel(loop_for_ever(onnx), sig).load()
    start = time.monotonic()
    with pytest.raises(InvalidModel, match=r"the model ran longer than 0\.5 s"):
        model.run(iris["X_test"], deadline=Deadline.after(0.5))
    assert time.monotonic() - start < 1.5  # within about a second of its limit

    def custom() -> Exception:
        return TimeoutError("custom")

    with pytest.raises(TimeoutError, match="custom"):  # the deadline says what is raised
        model.run(iris["X_test"], deadline=Deadline(time.monotonic() + 0.2, custom))


def test_a_deadline_changes_nothing_for_a_model_within_it(iris_onnx, iris):
    clf, onnx, sig = iris_onnx
    model = OnnxModel(onnx, sig).load(deadline=Deadline.after(30))
    X = iris["X_test"]
    guarded = model.run(X, deadline=Deadline.after(30))
    plain = model.run(X)
    np.testing.assert_array_equal(guarded.indices, plain.indices)
    np.testing.assert_allclose(guarded.probabilities, clf.predict_proba(X), atol=1e-6)
    with pytest.raises(InvalidModel, match="ran longer than"):  # already past: not even started
        model.run(X, deadline=Deadline(time.monotonic() - 1, lambda: InvalidModel("ran longer than")))


def test_library_errors_reach_no_message():
    """onnxruntime's own message (source paths, node names) stays out of what a caller reads."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],  # 4 values will not make 7
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [7])],
        initializer=[numpy_helper.from_array(np.array([7], dtype=np.int64), "shape")],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    sig = signature(infer_schema(pd.DataFrame({c: [0.0] for c in "abcd"})), TaskType.REGRESSION)
    model = OnnxModel(data, sig).load()
    with pytest.raises(InvalidModel) as err:
        model.run(np.zeros((1, 4)))
    message = err.value.message
    assert message.startswith("the model failed to run:"), message
    assert "[ONNXRuntimeError]" not in message and ".cc" not in message and "/" not in message
    assert "ONNXRuntimeError" in str(err.value.__cause__)  # the library's words stay in the chain


@pytest.fixture()
def jobs(tmp_path, iris, iris_onnx):
    """Real jobs on disk: the iris eval data, a normal model and the runaways."""
    _, onnx, sig = iris_onnx
    y = iris["y_test"]
    eval_data_id = EvalDataRepo(tmp_path / "evaldata").save(
        labels=np.array(list(y), dtype=object),
        is_public=np.arange(len(y)) % 2 == 0,
        features=iris["X_test"].reset_index(drop=True),
        example=None,
    )
    store = ArtifactStore(tmp_path / "artifacts")

    def job(submission_id: int, model: bytes) -> EvaluationJob:
        sha, _ = store.put(model)
        return EvaluationJob(
            submission_id=submission_id,
            playground="iris",
            version=submission_id,
            signature=sig,
            eval_metric=Metric.ACCURACY,
            eval_data_id=eval_data_id,
            has_competition_split=True,
            model_sha256=sha,
            predictions_sha256=None,
            artifact_url=store.url,
            evaldata_url=str(tmp_path / "evaldata"),
            bootstrap_samples=50,
        )

    return {
        "normal": job(1, onnx),
        "loop": job(2, loop_for_ever(onnx)),
        # Well past the limits below wherever they start: the long one for a Ray worker, which
        # exits without waiting for it; the short one for this process, which waits for it.
        "operator": job(3, one_long_operator(onnx, n=LONG_N)),
        "short operator": job(4, one_long_operator(onnx, n=SHORT_N)),
    }


def test_a_runaway_job_times_out_and_the_next_one_still_scores(jobs):
    start = time.monotonic()
    runaway = run_job(jobs["loop"], timeout_s=1.0)
    assert time.monotonic() - start < 10
    assert not runaway.ok
    assert "timed out after 1 s" in runaway.error
    normal = run_job(jobs["normal"], timeout_s=30)
    assert normal.ok and normal.verified
    assert normal.scores["all"]["accuracy"] > 0.8


def test_an_operator_that_cannot_be_stopped_is_given_up_on(jobs):
    # The limit counts from before the eval data is read: 2 s leave a busy machine time to
    # reach the product (had it timed out while loading, it would have ended in time), and the
    # product outlasts the limit and grace wherever it starts within them.
    result, finished = run_bounded(jobs["short operator"], timeout_s=2.0, grace_s=0.5)
    assert not finished, result  # still multiplying; the Ray task would now end its worker
    assert not result.ok and "timed out after 2 s" in result.error
    result, finished = run_bounded(jobs["normal"], timeout_s=30, grace_s=1)
    assert finished and result.ok
    for thread in threading.enumerate():  # a worker process would have exited; this one waits
        if thread.name.startswith("aims-evaluation-"):
            thread.join()


_RAY_SCRIPT = """
import json, os, sys, time
import ray
from aims_spaces.domain import EvaluationJob
from evaluators.ray_queue import evaluate_submission

stuck_job, normal_job = (EvaluationJob.model_validate_json(arg) for arg in sys.argv[1:])
ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="ERROR")
task = evaluate_submission.options(num_cpus=1, max_retries=3)
# A worker that has scored once, as the hub's are (it warms them up): a fresh one spends the
# stuck job's first seconds importing and starting onnxruntime, and may time out before the product.
warm = ray.get(task.remote(normal_job, 120.0, 5.0))
stuck = task.remote(stuck_job, 3.0, 0.5)
normal = task.remote(normal_job, 120.0, 5.0)  # waits in Ray's queue behind the stuck one
first, second = ray.get(stuck), ray.get(normal)
pid = first.evaluated_by["pid"]
start = time.monotonic()
exited = None
while time.monotonic() < start + 60:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        exited = time.monotonic() - start
        break
    time.sleep(0.1)
report = {"warm": warm.model_dump(), "first": first.model_dump(), "second": second.model_dump()}
print(json.dumps({**report, "exited": exited}))
"""


@pytest.mark.ray
@pytest.mark.slow
def test_ray_ends_the_worker_of_a_stuck_evaluation_after_its_result(jobs, tmp_path):
    """The stuck task's failure arrives as its one result, its worker exits (taking the stuck
    thread along), and the submission queued behind it scores in a new worker."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "HOME": str(tmp_path)}  # Ray's token file goes there
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _RAY_SCRIPT,
            jobs["operator"].model_dump_json(),
            jobs["normal"].model_dump_json(),
        ],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    first, second = report["first"], report["second"]
    assert not first["ok"] and "timed out after 3 s" in first["error"]
    assert first["evaluated_by"]["pid"] == report["warm"]["evaluated_by"]["pid"]  # the warm worker
    # It timed out only after its grace: it was stuck in the product, not timed out on the way.
    assert first["seconds"] >= 3.5, report
    assert report["exited"] is not None, f"the stuck worker kept running: {report}"
    assert second["ok"] and second["evaluated_by"]["pid"] != first["evaluated_by"]["pid"]
