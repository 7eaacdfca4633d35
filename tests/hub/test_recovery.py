"""Accepted work survives a dying evaluator worker and a hub crash (on PostgreSQL); versions
stay unique."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import psutil
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from aims_spaces import ModelPlayground, SubmissionStatus
from aims_spaces.client.conversion import convert
from aims_spaces.client.http import HubClient
from aims_spaces.hub.testing import HubProcess

pytestmark = [pytest.mark.hub, pytest.mark.slow]


@pytest.fixture(scope="module")
def slow_hub(tmp_path_factory, postgres):
    """A second hub, started with `aims serve` on a throwaway PostgreSQL (the session hub runs on
    SQLite), whose evaluations take a few seconds: many bootstrap resamples over a 20,000-row
    eval set give a window to kill things in."""
    home = tmp_path_factory.mktemp("slow-hub") / "home"
    proc = HubProcess(
        home,
        env={"AIMS_BOOTSTRAP_SAMPLES": "8000", "AIMS_DATABASE_URL": postgres.create_database("slow_hub")},
        command=[str(Path(sys.executable).parent / "aims"), "serve"],
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def slow_pg(slow_hub):
    X, y = make_classification(n_samples=24000, n_features=8, n_informative=5, random_state=0)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
    client = HubClient(slow_hub.url, token=slow_hub.admin_token)
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="big", client=client)
    pg.create(eval_data=y[4000:], eval_features=X.iloc[4000:], y_train=y[:4000])
    clf = LogisticRegression(max_iter=500).fit(X.iloc[:4000], y[:4000])
    onnx = convert(clf, pg.info.signature).onnx
    return pg, onnx


def _evaluator_process(hub: HubProcess, timeout: float = 60) -> psutil.Process:
    """The Ray worker running an evaluation right now (Ray titles it `ray::evaluate_submission`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in hub.descendants():
            try:
                if "ray::evaluate_submission" in " ".join(p.cmdline()):
                    return p
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        time.sleep(0.05)
    raise AssertionError("no evaluator process appeared")


def test_a_killed_evaluator_worker_is_retried_and_scores_once(slow_hub, slow_pg):
    pg, onnx = slow_pg
    sub = pg.submit_model(model=onnx)
    victim = _evaluator_process(slow_hub)
    killed_pid = victim.pid
    victim.kill()
    sub.wait(timeout=300)
    assert sub.status is SubmissionStatus.SCORED
    assert sub.info.evaluated_by["pid"] != killed_pid  # a new worker ran it
    assert [s.version for s in pg.list_submissions()].count(sub.version) == 1
    board = pg.get_leaderboard()
    assert list(board["version"]).count(sub.version) == 1


def test_a_hub_crash_loses_no_accepted_submission_and_keeps_deployments(slow_hub, slow_pg):
    pg, onnx = slow_pg
    before = {s.version for s in pg.list_submissions()}
    served = min(before)
    pg.deploy_model(served)
    rows = pg.get_eval_features().head(5)
    expected = pg.predict(rows)
    sub = pg.submit_model(model=onnx)
    _evaluator_process(slow_hub)  # evaluation under way
    slow_hub.crash()
    # A write cut short by the crash leaves only a temp file, which the next start removes.
    leftover = slow_hub.home / "artifacts" / "tmp" / "cut-short"
    leftover.write_bytes(b"half a model")
    slow_hub.start()
    sub.wait(timeout=300)
    assert sub.status is SubmissionStatus.SCORED
    assert {s.version for s in pg.list_submissions()} == before | {sub.version}
    assert not leftover.exists()
    assert not (slow_hub.home / "registry.db").exists()  # the registry is PostgreSQL's
    # The deployment came back with the hub, serving the same model.
    assert pg.get_deployment().version == served
    after = pg.predict(rows)
    assert (
        list(after["prediction"]) == list(expected["prediction"]) and after.attrs["model_version"] == served
    )
    # Versions keep counting from where they were, with no gap.
    assert pg.submit_model(model=onnx).version == sub.version + 1


def test_twenty_concurrent_submissions_get_distinct_versions(users, iris):
    owner = users("zoe")
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="iris-rush", client=owner)
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"], y_train=iris["y_train"])
    clf = LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    onnx = convert(clf, pg.info.signature).onnx
    preds = clf.predict(iris["X_test"])

    def submit(i: int):
        return pg.submit_model(model=onnx, prediction_submission=preds, custom_metadata={"i": i})

    with ThreadPoolExecutor(max_workers=20) as pool:
        subs = list(pool.map(submit, range(20)))
    assert sorted(s.version for s in subs) == list(range(1, 21))
    for s in subs:
        s.wait(timeout=300)
    board = pg.get_leaderboard()
    assert len(board) == 20 and sorted(board["custom.i"]) == list(range(20))
