"""A hub on a Ray cluster of three nodes (a head and two workers, on this machine) loses a worker
node during a burst of submissions and under prediction load: every accepted submission is
scored exactly once, and predictions recover.

The worker nodes run the evaluators and the model-server replicas (custom resource ``worker``)
and see only the storage URLs: the hub's folder, ``AIMS_HOME`` included, is hidden from them
(an empty tmpfs over it in the nodes' own mount namespace, where this user may make one). The
registry is PostgreSQL, which the replicas query too.

The figures (failures, their statuses, time to recover) are printed (``pytest -s``) and
recorded in docs/benchmarks.md, "A worker node lost".
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from aims_spaces import ModelPlayground, SubmissionStatus
from aims_spaces.client.conversion import convert
from aims_spaces.client.http import HubClient
from aims_spaces.hub.testing import HubProcess, RayCluster

pytestmark = [pytest.mark.hub, pytest.mark.slow, pytest.mark.ray]

WORKERS = ("w1", "w2")
BURST = 8  # submissions sent at once; the kill comes while they are being scored
REPLICA_TITLE = "ray::ServeReplica:aims-predictions:predictions"
EVALUATOR_TITLE = "ray::evaluate_submission"


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    """A head with a CPU but not the custom resource ``worker``: evaluators and replicas that
    land on the workers went there for the resource the hub asked for."""
    c = RayCluster()
    try:
        c.start_head(num_cpus=1)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def cluster_hub(cluster, tmp_path_factory, postgres):
    root = tmp_path_factory.mktemp("cluster-hub")  # the hub's AIMS_HOME and log
    store = tmp_path_factory.mktemp("cluster-store")  # what every node may read
    hidden = [root] if RayCluster.can_hide_folders() else []
    for name in WORKERS:
        cluster.start_node(name, num_cpus=1, resources={"worker": 4, f"node_{name}": 1}, hide=hidden)
    proc = HubProcess(
        root / "home",
        env={
            "AIMS_RAY_ADDRESS": cluster.address,
            **cluster.environment(),
            "AIMS_DATABASE_URL": postgres.create_database("cluster_hub"),
            "AIMS_ARTIFACT_URL": f"file://{store}/artifacts",
            "AIMS_EVALDATA_URL": f"file://{store}/evaldata",
            "AIMS_EVALUATOR_RESOURCES": '{"worker": 1}',
            "AIMS_SERVE_REPLICA_RESOURCES": '{"worker": 1}',
            "AIMS_SERVE_REPLICAS": "2",
            # Evaluations of a second or two each: a window to kill a node in.
            "AIMS_BOOTSTRAP_SAMPLES": "4000",
        },
        command=[str(Path(sys.executable).parent / "aims"), "serve"],
    )
    # Both workers first: Serve spreads the replicas over the nodes there are when it places them.
    cluster.wait_started()
    proc.start()
    yield proc, bool(hidden)
    proc.stop()


@dataclass(frozen=True)
class Outcome:
    sent: float  # time.monotonic() when the request went out
    seconds: float
    result: str  # the HTTP status, or the exception's class name
    detail: str = ""  # what a failure said

    @property
    def ok(self) -> bool:
        return self.result == "200"

    @property
    def ended(self) -> float:
        return self.sent + self.seconds


class PredictionLoad:
    """Clients posting one prediction after another, each from a thread of its own, as the
    services calling the endpoint would (connections kept alive, no retries), recording how
    each request ended. Several at once, so that requests are in flight when a node goes."""

    def __init__(self, url: str, rows: list[dict[str, Any]], token: str, clients: int = 4) -> None:
        self.url, self.body = url, {"rows": rows}
        self.headers = {"Authorization": f"Bearer {token}"}
        self.outcomes: list[Outcome] = []  # appended to by every client (list.append is atomic)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"load-{i}", daemon=True) for i in range(clients)
        ]

    def start(self) -> PredictionLoad:
        for thread in self._threads:
            thread.start()
        return self

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    r = client.post(self.url, json=self.body, headers=self.headers)
                    result, detail = str(r.status_code), "" if r.status_code == 200 else r.text[:200]
                except httpx.HTTPError as e:
                    result, detail = type(e).__name__, str(e)[:200]
                self.outcomes.append(Outcome(sent, time.monotonic() - sent, result, detail))
                time.sleep(0.1)

    def wait_for_successes(self, n: int, timeout: float) -> bool:
        """Wait until the latest ``n`` requests all succeeded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tail = sorted(self.outcomes, key=lambda o: o.ended)[-n:]
            if len(tail) == n and all(o.ok for o in tail):
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        return sorted(self.outcomes, key=lambda o: o.ended)


def _wait_for(happened: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not happened():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.05)


def _scored(pg: ModelPlayground) -> int:
    return sum(s.status is SubmissionStatus.SCORED for s in pg.list_submissions())


def test_a_lost_worker_node_loses_no_submission_and_predictions_recover(cluster, cluster_hub):
    hub, hidden = cluster_hub
    X, y = make_classification(n_samples=14000, n_features=8, n_informative=5, random_state=0)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
    client = HubClient(hub.url, token=hub.admin_token)
    pg = ModelPlayground(
        input_type="tabular", task_type="classification", name="cluster", private=True, client=client
    )
    pg.create(eval_data=y[4000:], eval_features=X.iloc[4000:], y_train=y[:4000])
    onnx = convert(LogisticRegression(max_iter=500).fit(X.iloc[:4000], y[:4000]), pg.info.signature).onnx
    first = pg.submit_model(model=onnx).wait(timeout=300)
    pg.deploy_model(first.version)

    # One replica on each worker node: Serve spreads them, and the head has no "worker".
    replicas = cluster.find(REPLICA_TITLE)
    assert sorted(replicas.values()) == list(WORKERS), replicas
    victim, survivor = WORKERS

    rows = X.iloc[:3].to_dict("records")
    load = PredictionLoad(f"{hub.serve_url}/{pg.name}/predict", rows, hub.admin_token).start()
    burst = [pg.submit_model(model=onnx, custom_metadata={"i": i}) for i in range(BURST)]
    # The victim has scored some of the burst and is evaluating another when it goes.
    _wait_for(
        lambda: _scored(pg) >= 1 + 2 and victim in cluster.find(EVALUATOR_TITLE).values(),
        f"two of the burst scored and an evaluation under way on {victim}",
    )
    scored_before = _scored(pg) - 1
    killed_at = time.monotonic()
    cluster.kill(victim)

    # Until the burst is scored and two replicas (both on the survivor now) serve the model.
    done: dict[str, float] = {}
    deadline = killed_at + 300
    while len(done) < 2 and time.monotonic() < deadline:
        if "scored" not in done and _scored(pg) == 1 + BURST:
            done["scored"] = time.monotonic()
        if "replicas" not in done and list(cluster.find(REPLICA_TITLE).values()) == [survivor] * 2:
            deployment = pg.get_deployment()
            if deployment.ready and deployment.replicas_ready == 2:
                done["replicas"] = time.monotonic()
        time.sleep(0.25)
    recovered = load.wait_for_successes(20, timeout=60)
    outcomes = load.stop()

    # Every accepted submission scored exactly once: one row each in the list and on the board.
    for sub in burst:
        sub.wait(timeout=10)  # raises if one failed, or is still waiting
    versions = [first.version] + [s.version for s in burst]
    board = pg.get_leaderboard()
    assert sorted(s.version for s in pg.list_submissions()) == sorted(board["version"]) == sorted(versions)
    assert sorted(board["custom.i"].dropna()) == list(range(BURST))
    # Every evaluation ran on a worker node (Ray would have put some on the head, its driver's
    # node, but for the resource).
    ran_on = {s.version: cluster.ran_on(s.info.evaluated_by["pid"]) for s in [first, *burst]}
    assert set(ran_on.values()) <= set(WORKERS), ran_on
    # Nothing of the hub's went to its AIMS_HOME: the nodes had the store's URLs only.
    assert not (hub.home / "artifacts").exists() and not (hub.home / "evaldata").exists()
    assert not (hub.home / "registry.db").exists()
    assert set(done) == {"scored", "replicas"}, done

    # Predictions recovered: the last 20 requests all succeeded.
    assert recovered, [(o.result, o.detail) for o in outcomes[-20:]]
    before = [o for o in outcomes if o.ended < killed_at]
    after = [o for o in outcomes if o.ended >= killed_at]
    failed = [o for o in after if not o.ok]
    last_failure = max((o.ended for o in failed), default=killed_at)
    back = min(o.ended for o in after if o.ok and o.sent >= last_failure)
    figures = {
        "submissions": f"{BURST} in the burst, {scored_before} scored before the kill; all scored once",
        "evaluations per node": dict(Counter(ran_on.values())),
        "hidden from the worker nodes": "the hub's folder (AIMS_HOME)" if hidden else "nothing (no unshare)",
        "requests": f"{len(before)} before the kill ({sum(not o.ok for o in before)} failed), "
        f"{sum(o.sent < killed_at for o in after)} in flight at it, {len(after)} ended after it",
        "failed after the kill": f"{len(failed)} {dict(Counter(o.result for o in failed))}",
        "what the failures said": sorted({o.detail for o in failed}),
        "kill to the last failure": f"{last_failure - killed_at:.1f} s",
        "kill to the first success after it": f"{back - killed_at:.1f} s",
        "slowest success after the kill": f"{max(o.seconds for o in after if o.ok):.2f} s",
        "p50 before / after the kill": f"{statistics.median(o.seconds for o in before) * 1000:.0f} ms / "
        f"{statistics.median(o.seconds for o in after if o.ok) * 1000:.0f} ms",
        "kill to the burst scored": f"{done['scored'] - killed_at:.1f} s",
        "kill to two replicas ready on the survivor": f"{done['replicas'] - killed_at:.1f} s",
    }
    print("\nA worker node lost:")
    for name, value in figures.items():
        print(f"  {name}: {value}")
